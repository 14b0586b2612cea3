#!/usr/bin/env node
// @ts-check
// Observes the headers an agent sends to AppConfig Data, above all the Accept
// header of GetLatestConfiguration, which TLS hides inside Lambda. It is a
// plain-HTTP stand-in for the AppConfig Data endpoint: point an agent at it
// with AWS_ENDPOINT_URL_APPCONFIGDATA (or AWS_ENDPOINT_URL) and any
// credentials, read one configuration through the agent, and the headers land
// in the output file. Then `node run.js --capture --accept-from observed.json`
// captures with that exact Accept header.
//
//   node observe-accept.js --port 8089 --out observed.json [--host 0.0.0.0]
//   docker run --rm -p 2772:2772 --add-host=host.docker.internal:host-gateway \
//     -e AWS_ENDPOINT_URL=http://host.docker.internal:8089 -e AWS_REGION=us-east-1 \
//     -e AWS_ACCESS_KEY_ID=AKIDEXAMPLE -e AWS_SECRET_ACCESS_KEY=example \
//     public.ecr.aws/aws-appconfig/aws-appconfig-agent:2.x &
//   curl http://127.0.0.1:2772/applications/a/environments/e/configurations/p
//
// The answers are the smallest the protocol allows (spec §4): a session token,
// then {"observed":true} as application/json. Signatures are not checked and
// credentials are not recorded (Authorization and X-Amz-Security-Token are
// dropped before anything is written).
'use strict';

const fs = require('node:fs');
const http = require('node:http');

const SECRET_HEADERS = /^(authorization|x-amz-security-token)$/i;
// Enough for an agent's session + first poll; more is noise.
const MAX_RECORDED = 20;

/** @param {{port: number, host?: string, out: string, onRecord?: (doc: any) => void}} opts @returns {Promise<http.Server>} */
function startObserver(opts) {
  const doc = { observedAt: null, accept: null, requests: /** @type {any[]} */ ([]) };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url || '/', 'http://x');
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !SECRET_HEADERS.test(k)));
      if (doc.requests.length < MAX_RECORDED) doc.requests.push({ method: req.method, path: url.pathname, headers });
      if (req.method === 'POST' && url.pathname === '/configurationsessions') {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ InitialConfigurationToken: 'observe-token-1' }));
      } else if (req.method === 'GET' && url.pathname === '/configuration') {
        if (doc.accept === null) {
          doc.accept = headers.accept === undefined ? '(no Accept header)' : String(headers.accept);
          doc.observedAt = new Date().toISOString();
        }
        const body = '{"observed":true}';
        res.writeHead(200, { 'Content-Type': 'application/json', 'Next-Poll-Configuration-Token': 'observe-token-2',
          'Next-Poll-Interval-In-Seconds': '60', 'Content-Length': String(body.length) });
        res.end(body);
      } else {
        res.writeHead(404, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'ResourceNotFoundException' });
        res.end('{"Message":"observe-accept.js answers only StartConfigurationSession and GetLatestConfiguration"}');
      }
      fs.writeFileSync(opts.out, `${JSON.stringify(doc, null, 2)}\n`);
      if (opts.onRecord) opts.onRecord(doc);
    });
  });
  return new Promise((resolve) => server.listen(opts.port, opts.host || '0.0.0.0', () => resolve(server)));
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (/** @type {string} */ n, /** @type {string} */ d) => {
    const i = args.indexOf(n);
    return i >= 0 && args[i + 1] ? args[i + 1] : d;
  };
  const port = Number(opt('--port', '8089'));
  const out = opt('--out', 'observed.json');
  // 0.0.0.0 by default so that an agent in a container can reach it.
  const host = opt('--host', '0.0.0.0');
  startObserver({ port, host, out, onRecord: (d) => {
    if (d.accept !== null) process.stderr.write(`observe-accept: Accept: ${d.accept} (written to ${out})\n`);
  } }).then((server) => {
    process.stderr.write(`observe-accept: listening on ${JSON.stringify(server.address())}; Ctrl-C to stop\n`);
  });
}

module.exports = { startObserver };
