// @ts-check
// The function handler against a local stand-in for the extension on a
// random port: requests arrive byte for byte as listed (repeated headers in
// order, raw requests untouched), answers come back whole (Content-Length,
// chunked, close-delimited, HEAD), and a silent server costs one bounded error.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

/** Stand-in extension: records each request's bytes, answers by path. */
function startServer() {
  /** @type {Buffer[]} */
  const seen = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.indexOf('\r\n\r\n') < 0 && !buf.toString('latin1').startsWith('HELLO')) return;
      seen.push(buf);
      const first = buf.toString('latin1').split('\r\n')[0];
      if (first.includes('/silent')) return;  // never answers
      if (first.includes('/chunked')) {
        sock.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
      } else if (first.includes('/close-delimited')) {
        sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close');
      } else if (first.startsWith('HELLO')) {
        sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nbad\n');
      } else {
        const body = '{"a":1}';
        sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConfiguration-Version: v1\r\nContent-Length: ${body.length}\r\n\r\n${first.startsWith('HEAD') ? '' : body}`);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: /** @type {any} */ (server.address()).port })));
}

test('handler forwards exactly and returns status, headers, body', async () => {
  const { server, seen, port } = /** @type {any} */ (await startServer());
  process.env.CONFORMANCE_TARGET_PORT = String(port);
  process.env.CONFORMANCE_REQUEST_TIMEOUT_MS = '300';
  delete require.cache[require.resolve('../handler/index.js')];
  const { handler } = require('../handler/index.js');
  try {
    const out = await handler({ requests: [
      { id: 'get', method: 'GET', path: '/applications/a/environments/e/configurations/p?flag=x&flag=y',
        headers: [['Context', 'country=US'], ['Context', 'age=21'], ['context', 'name=Jürgen']] },
      { id: 'head', method: 'HEAD', path: '/ping', headers: [] },
      { id: 'chunked', method: 'GET', path: '/chunked', headers: [] },
      { id: 'close', method: 'GET', path: '/close-delimited', headers: [] },
      { id: 'raw', path: '', raw: Buffer.from('HELLO THERE\r\n\r\n').toString('base64') },
      { id: 'silent', method: 'GET', path: '/silent', headers: [] },
    ] });
    const by = Object.fromEntries(out.responses.map((/** @type {any} */ r) => [r.id, r]));
    const firstReq = seen[0].toString('utf8');
    assert.equal(firstReq, 'GET /applications/a/environments/e/configurations/p?flag=x&flag=y HTTP/1.1\r\n' +
      `Host: localhost:${port}\r\nContext: country=US\r\nContext: age=21\r\ncontext: name=Jürgen\r\nConnection: close\r\n\r\n`);
    assert.equal(by.get.status, 200);
    assert.deepEqual(by.get.headers, [['Content-Type', 'application/json'], ['Configuration-Version', 'v1'], ['Content-Length', '7']]);
    assert.equal(Buffer.from(by.get.bodyBase64, 'base64').toString(), '{"a":1}');
    assert.equal(by.head.status, 200);
    assert.equal(by.head.bodyBytes, 0);
    assert.equal(Buffer.from(by.chunked.bodyBase64, 'base64').toString(), 'hello world');
    assert.equal(Buffer.from(by.close.bodyBase64, 'base64').toString(), 'until close');
    assert.equal(seen.find((b) => b.toString('latin1').startsWith('HELLO'))?.toString('latin1'), 'HELLO THERE\r\n\r\n');
    assert.equal(by.raw.status, 400);
    assert.match(by.silent.error, /no complete answer after 300 ms/);
    assert.ok(by.silent.elapsedMs >= 250 && by.silent.elapsedMs < 5000, String(by.silent.elapsedMs));
  } finally {
    server.close();
  }
});

test('nothing listening: a clear error per request, no throw', async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', () => r(null)));
  const port = /** @type {any} */ (probe.address()).port;
  await new Promise((r) => probe.close(() => r(null)));
  process.env.CONFORMANCE_TARGET_PORT = String(port);
  delete require.cache[require.resolve('../handler/index.js')];
  const { handler } = require('../handler/index.js');
  const out = await handler({ requests: [{ id: 'x', method: 'GET', path: '/ping', headers: [] }] });
  assert.match(out.responses[0].error, /^socket: .*ECONNREFUSED/);
});

test('parseResponse refuses what is not HTTP', () => {
  const { parseResponse } = require('../handler/index.js')._internal;
  assert.match(parseResponse(Buffer.from('garbage'), 'GET').error, /incomplete answer/);
  assert.match(parseResponse(Buffer.from('SMTP 220\r\n\r\n'), 'GET').error, /bad status line/);
});
