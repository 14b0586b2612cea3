// @ts-check
// The kit's one stack: an AppConfig application, environment, zero-bake
// AllAtOnce strategy and the profiles of lib/profiles.js, deployed; and per
// architecture two functions running handler/ — one with AWS's AppConfig
// extension layer, one with ours. Everything is deleted by `cdk destroy`
// (log groups included, retention one day).
'use strict';

const path = require('node:path');
const fs = require('node:fs');
const cdk = require('aws-cdk-lib');
const appconfig = require('aws-cdk-lib/aws-appconfig');
const iam = require('aws-cdk-lib/aws-iam');
const lambda = require('aws-cdk-lib/aws-lambda');
const logs = require('aws-cdk-lib/aws-logs');
const cr = require('aws-cdk-lib/custom-resources');
const { RegionInfo } = require('aws-cdk-lib/region-info');
const profiles = require('./profiles');

const KIT_DIR = path.join(__dirname, '..');
const REPO_DIR = path.join(KIT_DIR, '..');
const ARCHS = ['x86_64', 'arm64'];
// Both sides poll every 15 s so the change round needs only a short wait.
// 15 s is the service's minimum (RequiredMinimumPollIntervalInSeconds).
const POLL_INTERVAL_S = 15;

/** The official layer's ARN for one architecture: `-c officialLayerArn=…`
 * (or `officialLayerArnArm64`) wins; else, in a concrete region, the table
 * aws-cdk-lib ships (appconfig.Application.getLambdaLayerVersionArn, from
 * AWS's published list); else (environment-agnostic synth) a CfnMapping of
 * that table looked up by AWS::Region at deploy time.
 * @param {cdk.Stack} stack @param {string} arch */
function officialLayerArn(stack, arch) {
  const ctxKey = arch === 'arm64' ? 'officialLayerArnArm64' : 'officialLayerArn';
  const override = stack.node.tryGetContext(ctxKey);
  if (override) {
    if (!/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/.test(override)) {
      throw new Error(`-c ${ctxKey}=${override}: expected arn:aws:lambda:<region>:<account>:layer:<name>:<version>`);
    }
    return { arn: override, source: `context ${ctxKey}` };
  }
  const platform = arch === 'arm64' ? appconfig.Platform.ARM_64 : appconfig.Platform.X86_64;
  cdk.Annotations.of(stack).addWarningV2('conformance:official-layer',
    `official AppConfig layer (${arch}) taken from aws-cdk-lib's table, which may predate multi-variant flags ` +
    `(agent 2.0.678); pass -c ${ctxKey}=$(node lookup-official-layer.js --arch ${arch}) for the newest`);
  if (!cdk.Token.isUnresolved(stack.region)) {
    const arn = appconfig.Application.getLambdaLayerVersionArn(stack.region, platform);
    if (!arn) throw new Error(`no official AppConfig layer known for ${stack.region} (${arch}); pass -c ${ctxKey}=…`);
    return { arn, source: 'aws-cdk-lib table' };
  }
  /** @type {Record<string, Record<string, string>>} */
  const table = {};
  for (const r of RegionInfo.regions) {
    const arn = appconfig.Application.getLambdaLayerVersionArn(r.name, platform);
    if (arn) table[r.name] = { arn };
  }
  const mapping = new cdk.CfnMapping(stack, `OfficialLayer-${arch}`, { mapping: table });
  return { arn: mapping.findInMap(cdk.Aws.REGION, 'arn'), source: 'aws-cdk-lib table (mapping by region)' };
}

/** Our layer zip: `-c ourLayerZip=…` or build/layer/<name>-<arch>.zip from `make layer`.
 * @param {cdk.Stack} stack @param {string} arch */
function ourLayerZip(stack, arch) {
  const ctxKey = arch === 'arm64' ? 'ourLayerZipArm64' : 'ourLayerZip';
  const given = stack.node.tryGetContext(ctxKey);
  const zip = path.resolve(KIT_DIR, given || path.join(REPO_DIR, 'build', 'layer', `appconfig-extension-${arch}.zip`));
  if (!fs.existsSync(zip)) {
    throw new Error(`our layer ${zip} not found: run \`make layer\` in the repository root, or pass -c ${ctxKey}=<zip>`);
  }
  return zip;
}

class ConformanceStack extends cdk.Stack {
  /** @param {import('constructs').Construct} scope @param {string} id @param {cdk.StackProps} [props] */
  constructor(scope, id, props) {
    super(scope, id, props);
    const archs = String(this.node.tryGetContext('archs') || 'x86_64').split(',').map((s) => s.trim());
    for (const a of archs) if (!ARCHS.includes(a)) throw new Error(`-c archs: '${a}' is not one of ${ARCHS.join(', ')}`);
    const memoryMb = Number(this.node.tryGetContext('memoryMb') || 128);
    const logLevel = String(this.node.tryGetContext('logLevel') || 'info');

    const app = new appconfig.CfnApplication(this, 'Application', { name: profiles.APPLICATION_NAME });
    // BYPASS: AppConfig's deletion protection would refuse `cdk destroy` for an
    // hour after the last read (AppConfig user guide, deletion-protection-check);
    // these are test resources.
    const env = new appconfig.CfnEnvironment(this, 'Environment', {
      applicationId: app.ref, name: profiles.ENVIRONMENT_NAME, deletionProtectionCheck: 'BYPASS',
    });
    // Custom rather than the predefined AppConfig.AllAtOnce, whose 10-minute
    // bake would hold every deployment (and `cdk deploy`) for 10 minutes.
    const strategy = new appconfig.CfnDeploymentStrategy(this, 'AllAtOnce', {
      name: profiles.STRATEGY_NAME,
      deploymentDurationInMinutes: 0,
      finalBakeTimeInMinutes: 0,
      growthFactor: 100,
      growthType: 'LINEAR',
      replicateTo: 'NONE',
    });

    /** @type {Record<string, appconfig.CfnConfigurationProfile>} */
    const profileRes = {};
    /** @type {Record<string, string[]>} */
    const keepVersions = {};
    /** @type {cdk.CfnResource | undefined} */
    let previousDeployment;
    for (const p of profiles.PROFILES) {
      const prof = new appconfig.CfnConfigurationProfile(this, `Profile-${p.key}`, {
        applicationId: app.ref, name: p.name, locationUri: 'hosted', type: p.type, deletionProtectionCheck: 'BYPASS',
      });
      profileRes[p.key] = prof;
      if (p.big) {
        keepVersions[prof.ref] = [];
        continue;
      }
      const version = new appconfig.CfnHostedConfigurationVersion(this, `Version-${p.key}`, {
        applicationId: app.ref, configurationProfileId: prof.ref,
        content: /** @type {string} */ (p.content), contentType: p.contentType,
      });
      // As aws-cdk-lib's own HostedConfiguration does: a deployed version is
      // not deleted on its own; deleting the profile removes its versions.
      version.applyRemovalPolicy(cdk.RemovalPolicy.RETAIN);
      keepVersions[prof.ref] = [version.ref];
      const deployment = new appconfig.CfnDeployment(this, `Deployment-${p.key}`, {
        applicationId: app.ref, environmentId: env.ref, deploymentStrategyId: strategy.ref,
        configurationProfileId: prof.ref, configurationVersion: version.ref,
      });
      // One deployment at a time per environment (ConflictException otherwise).
      if (previousDeployment) deployment.addResourceDependency(previousDeployment);
      previousDeployment = deployment;
    }

    // The >1 MB profile and the clean-up of versions made outside the template.
    const helperFn = new lambda.Function(this, 'KitHelperFunction', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(path.join(KIT_DIR, 'lambda', 'big-profile')),
      timeout: cdk.Duration.minutes(14),
      memorySize: 256,
      logGroup: new logs.LogGroup(this, 'KitHelperLogs', {
        retention: logs.RetentionDays.ONE_DAY, removalPolicy: cdk.RemovalPolicy.DESTROY,
      }),
    });
    const appArn = `arn:${cdk.Aws.PARTITION}:appconfig:${cdk.Aws.REGION}:${cdk.Aws.ACCOUNT_ID}:application/${app.ref}`;
    helperFn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['appconfig:CreateHostedConfigurationVersion', 'appconfig:ListHostedConfigurationVersions',
        'appconfig:DeleteHostedConfigurationVersion', 'appconfig:StartDeployment', 'appconfig:GetDeployment'],
      resources: [appArn, `${appArn}/*`,
        `arn:${cdk.Aws.PARTITION}:appconfig:${cdk.Aws.REGION}:${cdk.Aws.ACCOUNT_ID}:deploymentstrategy/${strategy.ref}`],
    }));
    const provider = new cr.Provider(this, 'KitHelperProvider', {
      onEventHandler: helperFn,
      logGroup: new logs.LogGroup(this, 'KitHelperProviderLogs', {
        retention: logs.RetentionDays.ONE_DAY, removalPolicy: cdk.RemovalPolicy.DESTROY,
      }),
    });
    const helper = new cdk.CustomResource(this, 'KitHelper', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::ConformanceKitHelper',
      properties: {
        ApplicationId: app.ref,
        EnvironmentId: env.ref,
        StrategyId: strategy.ref,
        BigProfileId: profileRes.big.ref,
        BigBytes: String(profiles.BIG_PROFILE_BYTES),
        KeepVersions: cdk.Stack.of(this).toJsonString(keepVersions),
      },
    });
    // After the last template deployment (one at a time per environment);
    // and so deleted before any versions and profiles on `cdk destroy`.
    if (previousDeployment) helper.node.addDependency(previousDeployment);

    // The functions' role may read every profile except the denied one.
    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
    });
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration'],
      resources: profiles.PROFILES.filter((p) => p.readable).map((p) =>
        `${appArn}/environment/${env.ref}/configuration/${profileRes[p.key].ref}`),
    }));

    /** @type {Record<string, any>} */
    const functions = {};
    for (const arch of archs) {
      const architecture = arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
      const official = officialLayerArn(this, arch);
      const layers = {
        official: lambda.LayerVersion.fromLayerVersionArn(this, `OfficialLayer-${arch}-ref`, official.arn),
        ours: new lambda.LayerVersion(this, `OursLayer-${arch}`, {
          code: lambda.Code.fromAsset(ourLayerZip(this, arch)),
          compatibleArchitectures: [architecture],
          description: 'appconfig-extension (this repository), conformance kit',
        }),
      };
      for (const side of /** @type {const} */ (['official', 'ours'])) {
        const logGroup = new logs.LogGroup(this, `Logs-${side}-${arch}`, {
          retention: logs.RetentionDays.ONE_DAY, removalPolicy: cdk.RemovalPolicy.DESTROY,
        });
        const fn = new lambda.Function(this, `Fn-${side}-${arch}`, {
          runtime: lambda.Runtime.NODEJS_22_X,
          architecture,
          handler: 'index.handler',
          code: lambda.Code.fromAsset(path.join(KIT_DIR, 'handler')),
          layers: [layers[side]],
          role,
          memorySize: memoryMb,
          // A batch of requests, each bounded by the handler's own 10 s.
          timeout: cdk.Duration.seconds(120),
          logGroup,
          environment: {
            AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_S),
            AWS_APPCONFIG_EXTENSION_LOG_LEVEL: logLevel,
            CONFORMANCE_SIDE: side,
          },
          description: `conformance kit: ${side} AppConfig extension (${arch})`,
        });
        functions[`${side}-${arch}`] = {
          side, arch, functionName: fn.functionName, logGroupName: logGroup.logGroupName,
          layer: side === 'official' ? official.arn : layers.ours.layerVersionArn,
          layerSource: side === 'official' ? official.source : 'build/layer',
        };
      }
    }

    // One output holds everything run.js needs (`cdk deploy --outputs-file`).
    new cdk.CfnOutput(this, 'Kit', {
      value: cdk.Stack.of(this).toJsonString({
        region: cdk.Aws.REGION,
        applicationId: app.ref, applicationName: profiles.APPLICATION_NAME,
        environmentId: env.ref, environmentName: profiles.ENVIRONMENT_NAME,
        strategyId: strategy.ref,
        pollIntervalSeconds: POLL_INTERVAL_S,
        profiles: Object.fromEntries(profiles.PROFILES.map((p) => [p.key, { id: profileRes[p.key].ref, name: p.name }])),
        functions,
      }),
    });
  }
}

module.exports = { ConformanceStack, officialLayerArn, POLL_INTERVAL_S };
