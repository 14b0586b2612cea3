#!/usr/bin/env node
// @ts-check
// CDK entry point (cdk.json: "app": "node bin/app.js"). Region and account
// come from the AWS CLI configuration, as for any CDK app; with neither (the
// offline tests) the stack is environment-agnostic.
'use strict';

const cdk = require('aws-cdk-lib');
const { ConformanceStack } = require('../lib/stack');

const app = new cdk.App();
const stackName = app.node.tryGetContext('stackName') || 'AppConfigConformance';
new ConformanceStack(app, stackName, {
  env: process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined,
  description: 'appconfig-extension conformance kit: official AppConfig extension vs ours, side by side',
});
app.synth();
