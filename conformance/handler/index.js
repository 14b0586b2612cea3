// @ts-check
// The tiny function both sides run. It forwards each request it is given to
// the extension on localhost:2772 over a plain socket, exactly as written
// (method, path with query, headers in order, repeated headers kept), and
// returns what came back: status, headers in order, body bytes (base64) and
// the time it took. A raw socket rather than node:http so that malformed
// requests reach the extension unchanged and nothing normalises the answer.
//
// Event: {requests: [{id, method, path, headers: [[name, value], ...], raw?: base64}]}
// Answer: {responses: [{id, status, reason, headers, bodyBase64, bodyBytes, elapsedMs, error?}]}
'use strict';

const net = require('node:net');

const TARGET_HOST = process.env.CONFORMANCE_TARGET_HOST || '127.0.0.1';
const TARGET_PORT = Number(process.env.CONFORMANCE_TARGET_PORT || 2772);
// Each request has its own budget so one stall does not eat the invoke; the
// extension's own first-fetch bound is AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS (3 s).
const REQUEST_TIMEOUT_MS = Number(process.env.CONFORMANCE_REQUEST_TIMEOUT_MS || 10000);
// Lambda's synchronous answer is limited to 6 MB; base64 adds a third.
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** @param {{method?: string, path?: string, headers?: [string, string][], raw?: string}} req
 * @param {number} [port] for the Host header */
function requestBytes(req, port = TARGET_PORT) {
  if (req.raw) return Buffer.from(req.raw, 'base64');
  const lines = [`${req.method || 'GET'} ${req.path} HTTP/1.1`, `Host: localhost:${port}`];
  for (const [k, v] of req.headers || []) lines.push(`${k}: ${v}`);
  // One request per connection: the answer ends when the server closes.
  lines.push('Connection: close', '', '');
  // UTF-8, as a client library would send a non-ASCII Context value.
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** Splits an HTTP/1.1 answer. HEAD answers have no body whatever
 * Content-Length says. @param {Buffer} buf @param {string} method */
function parseResponse(buf, method) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { error: `incomplete answer (${buf.length} bytes, no end of headers)` };
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(head[0] || '');
  if (!m) return { error: `bad status line: ${JSON.stringify(head[0])}` };
  /** @type {[string, string][]} */
  const headers = [];
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  const get = (/** @type {string} */ n) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  let body = buf.subarray(end + 4);
  if (method === 'HEAD') body = Buffer.alloc(0);
  else if ((get('transfer-encoding') || '').toLowerCase().includes('chunked')) body = dechunk(body);
  else if (get('content-length') !== undefined) body = body.subarray(0, Number(get('content-length')));
  return { status: Number(m[1]), reason: m[2] || '', headers, body };
}

/** @param {Buffer} b */
function dechunk(b) {
  const parts = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** One request to the extension (or, for run.js's local transport, to any
 * agent at `target`). @param {any} req @param {{host: string, port: number}} [target] @returns {Promise<any>} */
function forward(req, target = { host: TARGET_HOST, port: TARGET_PORT }) {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let done = false;
    const finish = (/** @type {any} */ r) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ id: req.id, elapsedMs: Math.round(elapsed() * 1000) / 1000, ...r });
    };
    const sock = net.connect({ host: target.host, port: target.port }, () => sock.write(requestBytes(req, target.port)));
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => finish({ error: `no complete answer after ${REQUEST_TIMEOUT_MS} ms` }));
    sock.on('data', (d) => {
      chunks.push(d);
      size += d.length;
      if (size > MAX_BODY_BYTES + 65536) finish({ error: `answer over ${MAX_BODY_BYTES} bytes` });
    });
    sock.on('error', (e) => finish({ error: `socket: ${e.message}` }));
    sock.on('close', () => {
      const p = parseResponse(Buffer.concat(chunks), req.method || 'GET');
      if (p.error) return finish({ error: p.error });
      finish({
        status: p.status, reason: p.reason, headers: p.headers,
        bodyBase64: p.body.toString('base64'), bodyBytes: p.body.length,
      });
    });
  });
}

/** Requests run one after another: the extension sees them in list order. */
exports.handler = async (/** @type {any} */ event) => {
  const responses = [];
  for (const req of event.requests || []) responses.push(await forward(req));
  return { responses };
};

exports.forward = forward;
exports._internal = { requestBytes, parseResponse, dechunk };
