// @ts-check
// AwsTransport against a local fake of the AWS APIs it calls (Lambda,
// CloudWatch Logs, AppConfig, AppConfig Data), through the real AWS SDK v3
// clients: the requests on the wire and what run.js gets back. The fake
// answers in the shapes of the SDK service models; it is not AWS.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { AwsTransport, OUR_ACCEPT } = require('../lib/transport');

const REPORT = 'REPORT RequestId: r-1\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\tInit Duration: 100.00 ms\n';

function startFake() {
  /** @type {any[]} */
  const seen = [];
  let deploymentPolls = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url || '/', 'http://x');
      seen.push({ method: req.method, path: url.pathname, query: url.search, headers: req.headers, body: body.toString('utf8') });
      const json = (/** @type {number} */ status, /** @type {any} */ doc, /** @type {Record<string, string>} */ extra = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...extra });
        res.end(JSON.stringify(doc));
      };
      let m;
      if ((m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname))) {
        if (m[1] === 'boom') {
          return json(200, { errorMessage: 'handler threw' }, { 'X-Amz-Function-Error': 'Unhandled', 'X-Amzn-RequestId': 'r-2' });
        }
        const event = JSON.parse(body.toString('utf8'));
        return json(200, { responses: event.requests.map((/** @type {any} */ r) => ({ id: r.id, status: 200, headers: [['Content-Type', 'text/plain']], bodyBase64: 'aGk=', bodyBytes: 2 })) },
          { 'X-Amz-Log-Result': Buffer.from(`START RequestId: r-1\n${REPORT}`).toString('base64'), 'X-Amzn-RequestId': 'r-1' });
      }
      if ((m = /^\/2015-03-31\/functions\/([^/]+)\/configuration$/.exec(url.pathname))) {
        return json(200, { FunctionName: m[1], State: 'Active', LastUpdateStatus: 'Successful', Environment: { Variables: { KEEP: 'me' } } });
      }
      if (/^\/2015-03-31\/functions\/[^/]+$/.test(url.pathname)) {
        return json(200, { Configuration: { State: 'Active', LastUpdateStatus: 'Successful' } });
      }
      if (req.headers['x-amz-target'] === 'Logs_20140328.FilterLogEvents') {
        const q = JSON.parse(body.toString('utf8'));
        if (!q.nextToken) return json(200, { events: [{ timestamp: 1, logStreamName: 's', message: 'INIT_START x\n' }], nextToken: 'page2' });
        return json(200, { events: [{ timestamp: 2, logStreamName: 's', message: REPORT }] });
      }
      if ((m = /^\/applications\/[^/]+\/configurationprofiles\/[^/]+\/hostedconfigurationversions$/.exec(url.pathname)) && req.method === 'GET') {
        return json(200, { Items: [{ VersionNumber: 1 }, { VersionNumber: 2 }, { VersionNumber: 3 }] });
      }
      if ((m = /^\/applications\/[^/]+\/configurationprofiles\/[^/]+\/hostedconfigurationversions\/(\d+)$/.exec(url.pathname)) && req.method === 'DELETE') {
        if (m[1] === '3') return json(400, { Message: 'version 3 is deployed' }, { 'x-amzn-ErrorType': 'BadRequestException' });
        res.writeHead(204);
        return res.end();
      }
      if ((m = /^\/applications\/([^/]+)\/configurationprofiles\/([^/]+)\/hostedconfigurationversions$/.exec(url.pathname))) {
        res.writeHead(201, { 'Content-Type': String(req.headers['content-type']), 'Application-Id': m[1], 'Configuration-Profile-Id': m[2], 'Version-Number': '5' });
        return res.end(body);
      }
      if (/^\/applications\/[^/]+\/environments\/[^/]+\/deployments$/.test(url.pathname) && req.method === 'POST') {
        return json(201, { DeploymentNumber: 7, State: 'DEPLOYING' });
      }
      if (/^\/applications\/[^/]+\/environments\/[^/]+\/deployments\/7$/.test(url.pathname)) {
        deploymentPolls += 1;
        return json(200, { DeploymentNumber: 7, State: deploymentPolls < 2 ? 'DEPLOYING' : 'COMPLETE', CompletedAt: '2026-01-01T00:00:00Z' });
      }
      if (url.pathname === '/configurationsessions') return json(201, { InitialConfigurationToken: 'tok-1' });
      if (url.pathname === '/configuration') {
        res.writeHead(200, { 'Content-Type': 'application/ion;type=AWS.AppConfig.FeatureFlags', 'Next-Poll-Configuration-Token': 'tok-2',
          'Next-Poll-Interval-In-Seconds': '60', 'Version-Label': 'v1' });
        return res.end(Buffer.from([0xe0, 0x01, 0x00, 0xea, 0x0f]));
      }
      json(404, { message: `fake has no ${req.method} ${url.pathname}` }, { 'x-amzn-ErrorType': 'ResourceNotFoundException' });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: /** @type {any} */ (server.address()).port })));
}

const kit = { applicationId: 'app1', environmentId: 'env1', strategyId: 'str1', profiles: { json: { id: 'pj' }, variants: { id: 'pv' } } };

test('AwsTransport: invoke, cold start, change, logs, capture', async () => {
  const { server, seen, port } = /** @type {any} */ (await startFake());
  try {
    const t = new AwsTransport({ region: 'us-east-1', clientConfig: {
      endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } } });
    t.sleep = async () => {};

    const inv = await t.invoke('fn-ours', [{ id: 'a', method: 'GET', path: '/ping', headers: [] }]);
    assert.equal(inv.responses[0].id, 'a');
    assert.match(inv.logTail, /^START RequestId: r-1\nREPORT RequestId: r-1/);
    const invReq = seen.find((s) => s.path === '/2015-03-31/functions/fn-ours/invocations');
    assert.equal(invReq.headers['x-amz-log-type'], 'Tail');
    assert.deepEqual(JSON.parse(invReq.body).requests[0].path, '/ping');
    const boom = await t.invoke('boom', []);
    assert.match(boom.functionError, /^Unhandled: .*handler threw/);

    await t.forceColdStart('fn-ours', 'run-42');
    const put = seen.find((s) => s.method === 'PUT' && s.path.endsWith('/fn-ours/configuration'));
    assert.deepEqual(JSON.parse(put.body).Environment.Variables, { KEEP: 'me', CONFORMANCE_RUN_ID: 'run-42' });

    const done = await t.deployChange(kit, [{ profileKey: 'json', content: '{"x":1}', contentType: 'application/json' }]);
    assert.equal(done[0].versionNumber, 5);
    assert.equal(done[0].deploymentNumber, 7);
    const start = JSON.parse(seen.find((s) => s.method === 'POST' && s.path.endsWith('/deployments')).body);
    assert.deepEqual(start, { ConfigurationProfileId: 'pj', ConfigurationVersion: '5', DeploymentStrategyId: 'str1' });
    assert.equal(seen.find((s) => s.path.endsWith('/hostedconfigurationversions')).body, '{"x":1}');

    const events = await t.logs('/aws/lambda/fn-ours', 1000, 2000);
    assert.deepEqual(events.map((e) => e.timestamp), [1, 2]);
    const filter = JSON.parse(seen.find((s) => s.headers['x-amz-target'] === 'Logs_20140328.FilterLogEvents').body);
    assert.deepEqual([filter.logGroupName, filter.startTime, filter.endTime], ['/aws/lambda/fn-ours', 1000, 2000]);

    const cap = await t.capture(kit, 'variants', OUR_ACCEPT);
    const get = seen.find((s) => s.path === '/configuration');
    assert.equal(get.headers.accept, OUR_ACCEPT, 'the Accept header reaches the wire');
    assert.equal(get.query, '?configuration_token=tok-1');
    assert.equal(cap.status, 200);
    assert.equal(cap.headers['version-label'], 'v1');
    assert.deepEqual([...cap.body], [0xe0, 0x01, 0x00, 0xea, 0x0f]);
    assert.equal(cap.requestHeaders.accept, OUR_ACCEPT);
    for (const k of Object.keys(cap.requestHeaders)) assert.doesNotMatch(k, /authorization|security-token/i);
  } finally {
    server.close();
  }
});

test('custom resource: the 1.5 MB version stored and deployed; clean-up skips what cannot go', async () => {
  const { server, seen, port } = /** @type {any} */ (await startFake());
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ENDPOINT_URL_APPCONFIG: `http://127.0.0.1:${port}`, AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' });
  const logged = [];
  const log = console.log;
  console.log = (/** @type {any} */ m) => logged.push(String(m));
  try {
    const { handler } = require('../lambda/big-profile/index.js');
    const props = { ApplicationId: 'app1', EnvironmentId: 'env1', StrategyId: 'str1', BigProfileId: 'pbig', BigBytes: '1572864',
      KeepVersions: JSON.stringify({ pbig: [], pjson: ['1'] }) };
    const created = await handler({ RequestType: 'Create', ResourceProperties: props });
    assert.deepEqual(created.Data, { VersionNumber: '5', Bytes: '1572864' });
    const put = seen.find((s) => s.method === 'POST' && s.path === '/applications/app1/configurationprofiles/pbig/hostedconfigurationversions');
    assert.equal(put.body.length, 1572864);
    assert.equal(put.body, require('../lib/profiles').bigJson(1572864));
    assert.ok(seen.some((s) => s.path === '/applications/app1/environments/env1/deployments/7'), 'waited for the deployment');

    const deleted = await handler({ RequestType: 'Delete', PhysicalResourceId: 'big-pbig-5', ResourceProperties: props });
    assert.equal(deleted.PhysicalResourceId, 'big-pbig-5');
    const dels = seen.filter((s) => s.method === 'DELETE').map((s) => s.path.replace('/applications/app1/configurationprofiles/', ''));
    assert.deepEqual(dels, ['pbig/hostedconfigurationversions/1', 'pbig/hostedconfigurationversions/2', 'pbig/hostedconfigurationversions/3',
      'pjson/hostedconfigurationversions/2', 'pjson/hostedconfigurationversions/3']);
    assert.ok(logged.some((l) => /kept version 3 of profile pbig: BadRequestException/.test(l)), logged.join('\n'));
  } finally {
    console.log = log;
    process.env = saved;
    server.close();
  }
});
