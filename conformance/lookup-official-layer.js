#!/usr/bin/env node
// @ts-check
// Prints the ARN of AWS's AppConfig Lambda extension layer for a region and
// architecture, for `cdk deploy -c officialLayerArn=$(node lookup-official-layer.js)`.
//
// 1. AWS publishes the layer ARNs as public Systems Manager parameters
//    (AppConfig user guide, "Retrieving the latest extension ARN from a
//    public parameter"). We read every parameter under --path (default
//    /aws/service/appconfig) and keep the values that are this layer's ARN
//    for the region and architecture, newest layer version first.
// 2. If none is found, the table in aws-cdk-lib (AWS's published list at the
//    time of that release; it may predate multi-variant flags, agent 2.0.678)
//    is used and a warning says so.
// Always check the printed ARN against AWS's page
// https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-integration-lambda-extensions-versions.html
'use strict';

const LAYER_RE = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:AWS-AppConfig-Extension(-Arm64)?:(\d+)$/;

/** Newest matching layer ARN among parameter values, or null.
 * @param {string[]} values @param {string} region @param {string} arch */
function pickNewest(values, region, arch) {
  let best = null;
  for (const v of values) {
    const m = LAYER_RE.exec(String(v).trim());
    if (!m || m[1] !== region || Boolean(m[3]) !== (arch === 'arm64')) continue;
    if (!best || Number(m[4]) > best.version) best = { arn: m[0], version: Number(m[4]) };
  }
  return best ? best.arn : null;
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (/** @type {string} */ name, /** @type {string} */ dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
  };
  const region = opt('--region', process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '');
  const arch = opt('--arch', 'x86_64');
  const paramPath = opt('--path', '/aws/service/appconfig');
  if (!region) throw new Error('no region: pass --region or set AWS_REGION');
  if (!['x86_64', 'arm64'].includes(arch)) throw new Error(`--arch ${arch}: expected x86_64 or arm64`);
  const values = [];
  try {
    const { SSMClient, GetParametersByPathCommand } = require('@aws-sdk/client-ssm');
    const ssm = new SSMClient({ region });
    let NextToken;
    do {
      const page = await ssm.send(new GetParametersByPathCommand({ Path: paramPath, Recursive: true, NextToken }));
      for (const p of page.Parameters || []) values.push(String(p.Value));
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (e) {
    process.stderr.write(`lookup-official-layer: reading ${paramPath} failed: ${/** @type {Error} */ (e).message}\n`);
  }
  let arn = pickNewest(values, region, arch);
  if (arn) {
    process.stderr.write(`lookup-official-layer: ${arn} (newest of ${values.length} public parameters under ${paramPath})\n`);
  } else {
    const appconfig = require('aws-cdk-lib/aws-appconfig');
    arn = appconfig.Application.getLambdaLayerVersionArn(region, arch === 'arm64' ? appconfig.Platform.ARM_64 : appconfig.Platform.X86_64);
    if (!arn) throw new Error(`no AppConfig extension layer known for ${region} (${arch})`);
    process.stderr.write(`lookup-official-layer: WARNING no public parameter found under ${paramPath}; using aws-cdk-lib's table: ${arn}.\n` +
      '  It may predate multi-variant flags (agent 2.0.678). Check AWS\'s list and pass the newest ARN yourself.\n');
  }
  process.stdout.write(`${arn}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`lookup-official-layer: ${e.message}\n`);
    process.exit(1);
  });
}

module.exports = { pickNewest, LAYER_RE };
