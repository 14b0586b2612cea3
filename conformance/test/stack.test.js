// @ts-check
// The stack in-process (aws-cdk-lib assertions): where the official layer
// ARN comes from, both architectures, and clear errors. The full template is
// checked after a real `cdk synth` by test/integration/test_conformance.py.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const cdk = require('aws-cdk-lib');
const { Template } = require('aws-cdk-lib/assertions');
const { ConformanceStack } = require('../lib/stack');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-stack-'));
// Synth only hashes the layer asset; a stand-in file is enough here.
const zip = path.join(tmp, 'layer.zip');
fs.writeFileSync(zip, 'stand-in layer asset for synth');

/** @param {Record<string, any>} context @param {cdk.Environment} [env] */
function synth(context, env) {
  // The built-in CloudFormation validation costs ~10 s per synth; the real
  // `cdk synth` in test_conformance.py runs it.
  const app = new cdk.App({ context: { ourLayerZip: zip, ourLayerZipArm64: zip, ...context },
    outdir: fs.mkdtempSync(path.join(tmp, 'out-')), builtinCloudFormationValidation: false });
  const stack = new ConformanceStack(app, 'S', { env });
  return Template.fromStack(stack).toJSON();
}

/** @param {any} t */
const functions = (t) => Object.values(t.Resources).filter((/** @type {any} */ r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.CONFORMANCE_SIDE);

test('official ARN: by region at deploy time when the region is unknown, or as given; both architectures', () => {
  const arn = 'arn:aws:lambda:eu-west-1:434848589818:layer:AWS-AppConfig-Extension-Arm64:296';
  // One synth (each costs seconds): x86_64 from the table, arm64 as given.
  const t = synth({ archs: 'x86_64,arm64', officialLayerArnArm64: arn });
  const mapping = /** @type {any} */ (Object.values(t.Mappings || {})[0]);
  assert.match(mapping['us-east-1'].arn, /^arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:\d+$/);
  assert.ok(Object.keys(mapping).length > 10, 'every region of the table');
  const fns = functions(t);
  assert.equal(fns.length, 4);
  const pick = (/** @type {string} */ side, /** @type {string} */ arch) =>
    fns.find((f) => f.Properties.Environment.Variables.CONFORMANCE_SIDE === side && f.Properties.Architectures[0] === arch);
  assert.ok(pick('official', 'x86_64').Properties.Layers[0]['Fn::FindInMap']);
  assert.deepEqual(pick('official', 'arm64').Properties.Layers, [arn]);
  assert.ok(pick('ours', 'arm64').Properties.Layers[0].Ref);
});

test('bad context values and a missing layer zip are refused with what to do', () => {
  assert.throws(() => synth({ officialLayerArn: 'latest please' }), /expected arn:aws:lambda:<region>:<account>:layer:<name>:<version>/);
  assert.throws(() => synth({ archs: 'sparc' }), /'sparc' is not one of x86_64, arm64/);
  assert.throws(() => synth({ ourLayerZip: path.join(tmp, 'nope.zip') }), /run `make layer` in the repository root/);
});
