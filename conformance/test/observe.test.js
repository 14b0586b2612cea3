// @ts-check
// observe-accept.js answers the two AppConfig Data calls through the real SDK
// client, records the Accept header and never the credentials; run.js takes
// the recorded header with --accept-from.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startObserver } = require('../observe-accept');
const { AwsTransport } = require('../lib/transport');
const { parseArgs } = require('../run');

test('the Accept header of GetLatestConfiguration is recorded, credentials are not', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-observe-'));
  const out = path.join(tmp, 'observed.json');
  const server = await startObserver({ port: 0, host: '127.0.0.1', out });
  try {
    const port = /** @type {any} */ (server.address()).port;
    const t = new AwsTransport({ region: 'us-east-1', clientConfig: { endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session-token-value' } } });
    const kit = { applicationId: 'a', environmentId: 'e', profiles: { json: { id: 'p' } } };
    const cap = await t.capture(kit, 'json', 'application/x-test;q=1.0');
    assert.equal(cap.body.toString(), '{"observed":true}');
    const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(doc.accept, 'application/x-test;q=1.0');
    assert.deepEqual(doc.requests.map((/** @type {any} */ r) => `${r.method} ${r.path}`), ['POST /configurationsessions', 'GET /configuration']);
    const text = fs.readFileSync(out, 'utf8');
    assert.doesNotMatch(text, /session-token-value|Signature=|authorization/i);
    assert.equal(parseArgs(['--accept-from', out]).accept, 'application/x-test;q=1.0');
    fs.writeFileSync(path.join(tmp, 'none.json'), JSON.stringify({ accept: null }));
    assert.throws(() => parseArgs(['--accept-from', path.join(tmp, 'none.json')]), /no Accept header was observed/);
  } finally {
    server.close();
  }
});
