// @ts-check
// run.js and the differ end to end on the HAND-WRITTEN sample recordings in
// samples/ (not captures from AWS), then the differ's pieces on small inputs.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { run, refetchLogs, parseArgs, loadKit, storeResponse } = require('../run');
const { SampleTransport, OUR_ACCEPT } = require('../lib/transport');
const differ = require('../differ');

const KIT = path.join(__dirname, '..');
const SELECT = '^(ping/get|path/(json/(names|ids)|text/names|yaml/names|big/names)|head/json|bad/method-post|' +
  'denied/names|missing/profile|flag/basic/(one|many|unknown)|ctx/op_gt/age=2[12]|ctx/op_exists/beta=|split/.*)$';

/** One sample run into a fresh directory. */
async function sampleRun() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
  const opts = parseArgs(['--transport', 'samples', '--samples', path.join(KIT, 'samples', 'recording'),
    '--kit', path.join(KIT, 'samples', 'kit.json'), '--out', path.join(tmp, 'run'), '--report', path.join(tmp, 'report.md'),
    '--run-id', 'sample-run', '--split-ids', '4', '--select', SELECT, '--capture', '--captures-dir', path.join(tmp, 'captures'),
    '--logs-wait-s', '0']);
  const transport = new SampleTransport({ dir: opts.samples });
  const result = await run(opts, transport, () => {});
  return { tmp, transport, ...result };
}

test('a sample run: files, phases, change wait, captures', async () => {
  const { tmp, transport, outDir, meta } = await sampleRun();
  assert.deepEqual(fs.readdirSync(outDir).sort(), ['meta.json', 'official-x86_64.json', 'ours-x86_64.json']);
  assert.equal(meta.sample, true);
  assert.deepEqual(meta.phases.map((/** @type {any} */ p) => [p.phase, p.requests]), [['before', 24], ['after1', 16], ['after2', 16]]);
  assert.deepEqual(meta.changes.map((/** @type {any} */ c) => c.profileKey), ['json', 'flags']);
  // Poll interval 15 s + 10 s margin before the second round.
  assert.equal(transport.slept, 25000);
  const ours = JSON.parse(fs.readFileSync(path.join(outDir, 'ours-x86_64.json'), 'utf8'));
  // One invoke per batch per phase; the >1 MB read alone in its batch.
  assert.equal(ours.invokes.length, 9);
  const big = ours.results.find((/** @type {any} */ r) => r.id === 'path/big/names' && r.phase === 'before');
  assert.equal(big.response.bodyBytes, 1572864);
  assert.equal(big.response.bodyBase64, undefined);
  assert.match(big.response.bodySha256, /^[0-9a-f]{64}$/);
  const capDir = path.join(tmp, 'captures', 'sample-run', 'variants');
  const capMeta = JSON.parse(fs.readFileSync(path.join(capDir, 'meta.json'), 'utf8'));
  assert.equal(capMeta.accept, OUR_ACCEPT);
  assert.equal(capMeta.requestHeaders.accept, OUR_ACCEPT);
  assert.deepEqual(fs.readFileSync(path.join(capDir, 'body.bin')),
    fs.readFileSync(path.join(KIT, '..', 'test', 'data', 'ion', 'profile.10n')));
  assert.equal(fs.readdirSync(path.join(tmp, 'captures', 'sample-run')).length, 7, 'every readable profile');
});

test('the report: verdicts, expected rules, splits, REPORT lines, no-answer rows', async () => {
  const { tmp, report } = await sampleRun();
  assert.deepEqual(report.summary, { requests: 56, same: 16, expected: 32, unexpected: 8, noAnswer: 3 });
  const p = report.pairs[0];
  assert.equal(p.splits.split_noseed.rate, 0.75);
  assert.equal(p.splits.split_seed.rate, 1);
  assert.deepEqual(p.splits.split_noseed.disagreements, [{ entity: 'user-0003', official: 'Default', ours: 'FiftyPercent' }]);
  assert.deepEqual(p.lambda.official.initDurationsMs, [512.77]);
  assert.deepEqual(p.lambda.ours.initDurationsMs, [188.31]);
  assert.equal(p.lambda.official.maxMemoryUsedMb, 85);
  assert.equal(p.lambda.ours.maxMemoryUsedMb, 72);
  const find = (/** @type {string} */ phase, /** @type {string} */ id) => p.requests.find((/** @type {any} */ r) => r.phase === phase && r.id === id);
  // Stale read after the change: a body difference no rule explains.
  const stale = find('after1', 'path/json/names');
  assert.equal(stale.verdict, 'unexpected');
  assert.ok(stale.differences.some((/** @type {any} */ d) => d.field === 'body' && d.expected === null));
  // Same status, different wording: expected, with the rule named.
  assert.equal(find('before', 'denied/names').verdict, 'expected');
  assert.deepEqual(find('before', 'denied/names').differences.map((/** @type {any} */ d) => d.expected), ['error-body-wording']);
  assert.equal(find('before', 'path/json/names').differences[0].expected, 'configuration-version-value');
  // 404 vs 405: the method rule covers status, Allow and body; the body is
  // official's 404 text, so the statusEqual-free rule must match on ours.
  assert.equal(find('before', 'bad/method-post').verdict, 'expected');
  assert.ok(find('before', 'flag/basic/many').differences.some((/** @type {any} */ d) => d.field === 'body-json-member-order' && !d.expected));
  assert.equal(find('before', 'path/yaml/names').ours.error, 'no sample answer for path/yaml/names');
  assert.equal(find('before', 'ctx/op_gt/age=21').verdict, 'same');
  // Split answers that agree are counted, not listed; disagreeing ones are.
  assert.equal(find('before', 'split/split_seed/user-0003'), undefined);
  assert.equal(find('before', 'split/split_noseed/user-0003').verdict, 'unexpected');
  const md = fs.readFileSync(path.join(tmp, 'report.md'), 'utf8');
  assert.match(md, /\*\*SAMPLE\.\*\*/);
  assert.match(md, /\| split_noseed \| 4 \| 3 \| 75\.00 % \|/);
  assert.match(md, /\| INIT durations \(ms\) \| 512\.77 \| 188\.31 \|/);
  assert.match(md, /\[error-body-wording\]\(\.\.\/docs\/conformance\.md#error-body-wording\)/);
  const json = JSON.parse(fs.readFileSync(path.join(tmp, 'report.json'), 'utf8'));
  assert.deepEqual(json.summary, report.summary);
});

test('differ pieces: REPORT lines, rules, HEAD and big bodies', () => {
  assert.deepEqual(differ.parseReportLine('REPORT RequestId: abc\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 99.10 ms\t'),
    { requestId: 'abc', durationMs: 1.5, billedMs: 2, memorySizeMb: 128, maxMemoryUsedMb: 60, initDurationMs: 99.1 });
  assert.equal(differ.parseReportLine('REPORT RequestId: abc\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB').initDurationMs, null);
  assert.equal(differ.parseReportLine('START RequestId: abc'), null);
  const rules = differ.loadExpected();
  const o = differ.view({ status: 404, headers: [['Content-Type', 'text/plain']], bodyBase64: Buffer.from('a').toString('base64') });
  const u = differ.view({ status: 404, headers: [['Content-Type', 'text/plain']], bodyBase64: Buffer.from('b').toString('base64') });
  const d = differ.differences(o, u);
  assert.deepEqual(d.map((x) => x.field), ['body']);
  assert.equal(differ.explain(rules, d[0], { id: 'missing/profile', phase: 'before' }, o, u), 'error-body-wording');
  // A status difference is never explained by the wording rule.
  const u2 = differ.view({ status: 400, headers: [['Content-Type', 'text/plain']], bodyBase64: Buffer.from('b').toString('base64') });
  const d2 = differ.differences(o, u2);
  assert.deepEqual(d2.map((x) => [x.field, differ.explain(rules, x, { id: 'missing/profile', phase: 'before' }, o, u2)]),
    [['status', null], ['body', null]]);
  // Big bodies compare by hash.
  const b1 = storeResponse({ status: 200, headers: [], bodyBase64: Buffer.alloc(70000, 1).toString('base64'), bodyBytes: 70000 });
  const b2 = storeResponse({ status: 200, headers: [], bodyBase64: Buffer.alloc(70000, 1).toString('base64'), bodyBytes: 70000 });
  assert.equal(b1.bodyBase64, undefined);
  assert.deepEqual(differ.differences(differ.view(b1), differ.view(b2)), []);
  assert.equal(differ.chosenVariant(differ.view({ status: 200, headers: [], bodyBase64: Buffer.from('{"_variant":"A"}').toString('base64') })), 'A');
  assert.equal(differ.chosenVariant(differ.view({ error: 'x' })), 'error: x');
});

test('arguments and kit files are checked', () => {
  assert.throws(() => parseArgs(['--transport', 'carrier-pigeon']), /not aws, local or samples/);
  assert.throws(() => parseArgs(['--transport', 'local', '--official', 'http://127.0.0.1:2772']), /needs --official URL and --ours URL/);
  assert.throws(() => parseArgs(['--transport', 'local', '--official', 'http://127.0.0.1:2772', '--ours', 'localhost:2773']), /expected http:\/\/<host>:<port>/);
  assert.deepEqual(parseArgs(['--transport', 'local', '--official', 'http://127.0.0.1:2772', '--ours', 'http://[::1]:2773/']).ours, { host: '::1', port: 2773 });
  assert.throws(() => parseArgs(['--transport', 'samples']), /needs --samples/);
  assert.throws(() => parseArgs(['--split-ids', 'many']), /not a whole number/);
  assert.throws(() => parseArgs(['--bogus', '1']), /unknown option --bogus/);
  assert.throws(() => loadKit('/nonexistent/cdk-outputs.json'), /cdk deploy --outputs-file/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-kit-'));
  const kit = JSON.parse(fs.readFileSync(path.join(KIT, 'samples', 'kit.json'), 'utf8'));
  fs.writeFileSync(path.join(tmp, 'out.json'), JSON.stringify({ AppConfigConformance: { Kit: JSON.stringify(kit) } }));
  assert.equal(loadKit(path.join(tmp, 'out.json')).applicationId, 'abc1234');
  fs.writeFileSync(path.join(tmp, 'other.json'), JSON.stringify({ SomeStack: { Url: 'x' } }));
  assert.throws(() => loadKit(path.join(tmp, 'other.json')), /no Kit output/);
});

test('report.md stays readable when a side fails every read; report.json keeps all', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-many-'));
  const results = (/** @type {number} */ status) => Array.from({ length: 450 }, (_, i) => ({
    phase: 'before', id: `split/split_seed/user-${i}`, group: 'split', flag: 'split_seed', entity: `user-${i}`,
    request: { method: 'GET', path: '/x', headers: [] },
    response: { status, headers: [], bodyBase64: Buffer.from(status === 200 ? '{"_variant":"Default"}' : 'broken').toString('base64') } }));
  fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify({ runId: 'many', archs: ['x86_64'], sample: true }));
  fs.writeFileSync(path.join(tmp, 'official-x86_64.json'), JSON.stringify({ functionName: 'o', results: results(502), invokes: [], logEvents: [] }));
  fs.writeFileSync(path.join(tmp, 'ours-x86_64.json'), JSON.stringify({ functionName: 'u', results: results(200), invokes: [], logEvents: [] }));
  const report = differ.diffRun(tmp, { expected: differ.loadExpected() });
  assert.equal(report.summary.unexpected, 450);
  assert.equal(report.pairs[0].splits.split_seed.rate, 0);
  assert.equal(report.pairs[0].splits.split_seed.official['status 502'], 450);
  differ.writeReport(report, path.join(tmp, 'report.md'));
  const md = fs.readFileSync(path.join(tmp, 'report.md'), 'utf8');
  assert.match(md, /\(500 more rows in report\.json\)/);  // 900 difference rows (status + body), 400 shown
  assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, 'report.json'), 'utf8')).pairs[0].requests.length, 450);
});

test('--refetch-logs reads the logs of a run again and redoes its report', async () => {
  const { tmp, outDir } = await sampleRun();
  const file = path.join(outDir, 'ours-x86_64.json');
  const side = JSON.parse(fs.readFileSync(file, 'utf8'));
  side.logEvents = [];
  fs.writeFileSync(file, JSON.stringify(side));
  const transport = new SampleTransport({ dir: path.join(KIT, 'samples', 'recording') });
  const { report } = await refetchLogs({ refetchLogs: outDir, report: path.join(tmp, 'again.md') }, transport);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).logEvents.length, 8);
  assert.deepEqual(report.pairs[0].lambda.ours.initDurationsMs, [188.31]);
  assert.ok(fs.existsSync(path.join(tmp, 'again.json')));
});

test('a failing invoke is retried, then recorded for its batch; the run goes on', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-retry-'));
  const transport = new SampleTransport({ dir: path.join(KIT, 'samples', 'recording') });
  const real = transport.invoke.bind(transport);
  let calls = 0;
  transport.invoke = async (/** @type {string} */ fn, /** @type {any[]} */ reqs) => {
    calls += 1;
    if (fn === 'sample-ours-x86_64') throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
    return real(fn, reqs);
  };
  const opts = parseArgs(['--transport', 'samples', '--samples', path.join(KIT, 'samples', 'recording'),
    '--kit', path.join(KIT, 'samples', 'kit.json'), '--out', path.join(tmp, 'run'), '--report', path.join(tmp, 'report.md'),
    '--select', '^ping/get$', '--no-change', '--logs-wait-s', '0']);
  const { report } = await run(opts, transport, () => {});
  assert.equal(calls, 1 + 4);
  assert.equal(transport.slept, 2000 + 4000 + 8000);
  const row = report.pairs[0].requests[0];
  assert.match(row.ours.error, /^invoke failed 4 times: TooManyRequestsException: Rate exceeded$/);
  assert.equal(row.official.status, 200);
});
