// @ts-check
// capture-to-fixture.js on the repository's existing binary Ion fixtures
// (test/data/ion): the fixture keeps the bytes exactly, the kind is detected,
// expectations come from a run, and the generated C++ says where it came from.
// Compiling and running the generated test: test/integration/test_conformance.py.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { convert, cxxString, flagKeys, fixtureKind } = require('../capture-to-fixture');
const { pickNewest } = require('../lookup-official-layer');

const REPO = path.join(__dirname, '..', '..');
const ION = path.join(REPO, 'test', 'data', 'ion');

/** The bytes of a .hex fixture (hex pairs, '#' comments), as ion_test.cpp reads them. @param {string} file */
function readHex(file) {
  const bytes = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    for (const w of line.split('#')[0].split(/\s+/).filter(Boolean)) bytes.push(parseInt(w, 16));
  }
  return Buffer.from(bytes);
}

/** A capture directory as run.js writes it. @param {string} dir @param {string} key @param {Buffer} body */
function makeCapture(dir, key, body) {
  const d = path.join(dir, 'captures', 'r1', key);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'body.bin'), body);
  fs.writeFileSync(path.join(d, 'meta.json'), JSON.stringify({ runId: 'r1', profileKey: key, profileName: 'flags-variants',
    sample: true, accept: 'application/ion;type=AWS.AppConfig.FeatureFlags;q=1.0,*/*;q=0.1', status: 200,
    headers: { 'content-type': 'application/ion;type=AWS.AppConfig.FeatureFlags' }, bytes: body.length }));
  return d;
}

test('every binary Ion fixture becomes a byte-identical fixture and a test', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-fx-'));
  const sources = {
    profile: fs.readFileSync(path.join(ION, 'profile.10n')),
    symbols: readHex(path.join(ION, 'symbols.hex')),
    imports: readHex(path.join(ION, 'imports.hex')),
    all_types: readHex(path.join(ION, 'all_types.hex')),
  };
  for (const [name, body] of Object.entries(sources)) {
    const cap = makeCapture(tmp, 'variants', body);
    const out = convert({ capture: cap, name: `ion_${name}`, repo: tmp });
    assert.equal(out.kind, 'ion-binary', name);
    assert.ok(out.fixture.endsWith(`ion_${name}.10n`));
    assert.deepEqual(fs.readFileSync(out.fixture), body, name);
    const meta = JSON.parse(fs.readFileSync(out.meta, 'utf8'));
    assert.equal(meta.bytes, body.length);
    assert.equal(meta.sample, true);
    const src = fs.readFileSync(out.test, 'utf8');
    assert.match(src, new RegExp(`TEST\\(Capture_ion_${name}, Compiles\\)`));
    assert.match(src, new RegExp(`kFixtureBytes = ${body.length};`));
    assert.match(src, /SAMPLE: made from hand-written sample data/);
    assert.doesNotMatch(src, /AnswersAsTheOfficialExtension/, 'no run given, no expectations');
  }
});

test('expectations from a run: the official answers, Context and ?flag= kept', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-fx-'));
  const cap = makeCapture(tmp, 'variants', fs.readFileSync(path.join(ION, 'profile.10n')));
  const out = convert({ capture: cap, name: 'profile', repo: tmp, run: path.join(__dirname, '..', 'samples', 'fixture-run') });
  assert.equal(out.cases, 9);
  const src = fs.readFileSync(out.test, 'utf8');
  assert.match(src, /TEST\(Capture_profile, AnswersAsTheOfficialExtension\)/);
  assert.match(src, /\{"ctx\/ui_refresh\/us20", \{"country=US", "age=20"\}, \{"ui_refresh"\}, "Default",/);
  assert.match(src, /\{"flag\/basic", \{\}, \{"basic"\}, nullptr,/);
});

test('a changed body is refused; JSON and text captures get skeletons', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-fx-'));
  const cap = makeCapture(tmp, 'variants', Buffer.from('abc'));
  const meta = JSON.parse(fs.readFileSync(path.join(cap, 'meta.json'), 'utf8'));
  fs.writeFileSync(path.join(cap, 'meta.json'), JSON.stringify({ ...meta, sha256: '0'.repeat(64) }));
  assert.throws(() => convert({ capture: cap, repo: tmp }), /does not match the sha256/);
  assert.deepEqual(fixtureKind(Buffer.from('{}'), 'application/json'), { ext: 'json', kind: 'json' });
  assert.deepEqual(fixtureKind(Buffer.from('a: 1'), 'application/x-yaml'), { ext: 'txt', kind: 'text' });
  assert.deepEqual(fixtureKind(Buffer.from([0, 1]), 'application/octet-stream'), { ext: 'bin', kind: 'bytes' });
});

test('C++ literals and ?flag= parsing', () => {
  assert.equal(cxxString('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(cxxString('J\u00fcr'), '"J\\xc3""\\xbc""r"');
  assert.equal(cxxString('??='), '"\\x3f""\\x3f""="');
  assert.deepEqual(flagKeys('/a?flag=x&flag=%61b&y=1'), ['x', 'ab']);
  assert.deepEqual(flagKeys('/a'), []);
});

test('lookup-official-layer keeps the newest ARN of the right region and architecture', () => {
  const values = [
    'arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:128',
    'arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:296',
    'arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension-Arm64:300',
    'arn:aws:lambda:us-west-2:359756378197:layer:AWS-AppConfig-Extension:999',
    'not an arn',
  ];
  assert.equal(pickNewest(values, 'us-east-1', 'x86_64'), 'arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:296');
  assert.equal(pickNewest(values, 'us-east-1', 'arm64'), 'arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension-Arm64:300');
  assert.equal(pickNewest(values, 'eu-west-1', 'x86_64'), null);
});
