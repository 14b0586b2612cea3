// @ts-check
// Custom resource (CDK Provider framework, onEvent) for what a CloudFormation
// template cannot hold or does not clean up:
//  - Create/Update: stores the >1 MB profile (templates are limited to 1 MB,
//    so AWS::AppConfig::HostedConfigurationVersion cannot carry it) and
//    deploys it with the kit's zero-bake strategy, waiting until COMPLETE so
//    that the stack is ready to read when `cdk deploy` returns.
//  - Delete (it is deleted first: it depends on every other AppConfig
//    resource): removes, best effort, the hosted versions made outside
//    CloudFormation (this one, and the changes run.js deploys). Deleting a
//    profile removes its versions anyway, so a version that cannot be deleted
//    (e.g. still deployed) is logged and skipped: teardown must not stop here.
// Runs on nodejs22.x, whose runtime includes the AWS SDK v3.
'use strict';

const { bigJson } = require('./content');

// Deployment with zero duration and zero bake finishes in seconds; this only
// bounds a stuck deployment well inside the 15-minute Lambda limit.
const DEPLOY_WAIT_MS = 10 * 60 * 1000;
const POLL_MS = 3000;

/** @param {any} event */
exports.handler = async (event) => {
  const sdk = require('@aws-sdk/client-appconfig');
  const client = new sdk.AppConfigClient({});
  const p = event.ResourceProperties;
  if (event.RequestType === 'Delete') {
    for (const [profileId, keep] of Object.entries(JSON.parse(p.KeepVersions))) {
      await deleteVersionsOutsideStack(client, sdk, p.ApplicationId, profileId, /** @type {string[]} */ (keep));
    }
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const bytes = Number(p.BigBytes);
  const created = await client.send(new sdk.CreateHostedConfigurationVersionCommand({
    ApplicationId: p.ApplicationId,
    ConfigurationProfileId: p.BigProfileId,
    ContentType: 'application/json',
    Content: Buffer.from(bigJson(bytes)),
    Description: `conformance kit: ${bytes} bytes`,
  }));
  const started = await client.send(new sdk.StartDeploymentCommand({
    ApplicationId: p.ApplicationId,
    EnvironmentId: p.EnvironmentId,
    DeploymentStrategyId: p.StrategyId,
    ConfigurationProfileId: p.BigProfileId,
    ConfigurationVersion: String(created.VersionNumber),
  }));
  const deadline = Date.now() + DEPLOY_WAIT_MS;
  for (;;) {
    const d = await client.send(new sdk.GetDeploymentCommand({
      ApplicationId: p.ApplicationId, EnvironmentId: p.EnvironmentId, DeploymentNumber: started.DeploymentNumber,
    }));
    if (d.State === 'COMPLETE') break;
    if (d.State === 'ROLLED_BACK' || d.State === 'REVERTED') throw new Error(`big profile deployment ${d.State}`);
    if (Date.now() > deadline) throw new Error(`big profile deployment still ${d.State} after ${DEPLOY_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return {
    PhysicalResourceId: `big-${p.BigProfileId}-${created.VersionNumber}`,
    Data: { VersionNumber: String(created.VersionNumber), Bytes: String(bytes) },
  };
};

/** @param {any} client @param {any} sdk @param {string} app @param {string} profile @param {string[]} keep */
async function deleteVersionsOutsideStack(client, sdk, app, profile, keep) {
  let NextToken;
  const doomed = [];
  try {
    do {
      const page = await client.send(new sdk.ListHostedConfigurationVersionsCommand({
        ApplicationId: app, ConfigurationProfileId: profile, NextToken,
      }));
      for (const v of page.Items || []) if (!keep.includes(String(v.VersionNumber))) doomed.push(v.VersionNumber);
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (e) {
    console.log(`cannot list versions of profile ${profile}: ${/** @type {any} */ (e).name}: ${/** @type {any} */ (e).message}`);
  }
  for (const VersionNumber of doomed) {
    try {
      await client.send(new sdk.DeleteHostedConfigurationVersionCommand({
        ApplicationId: app, ConfigurationProfileId: profile, VersionNumber,
      }));
    } catch (e) {
      console.log(`kept version ${VersionNumber} of profile ${profile}: ${/** @type {any} */ (e).name}: ${/** @type {any} */ (e).message}`);
    }
  }
}
