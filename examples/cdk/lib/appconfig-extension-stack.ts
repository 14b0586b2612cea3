import * as path from "path";
import * as cdk from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

export interface AppConfigExtensionStackProps extends cdk.StackProps {
  layerDir: string;                      // holds appconfig-extension-x86_64.zip and -arm64.zip (make layer)
  architecture: "x86_64" | "arm64";      // the function's architecture; both layers are published
  applicationId: string;                 // AppConfig IDs: the IAM resource names them by ID
  environmentId: string;
  profileId: string;
}

export class AppConfigExtensionStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: AppConfigExtensionStackProps) {
    super(scope, id, props);

    // One layer per architecture: the binary is static, so each runs on AL2 and AL2023 runtimes.
    const layers: Record<string, lambda.LayerVersion> = {};
    for (const arch of ["x86_64", "arm64"] as const) {
      layers[arch] = new lambda.LayerVersion(this, `AppConfigExtension-${arch}`, {
        layerVersionName: `appconfig-extension-${arch}`,
        code: lambda.Code.fromAsset(path.resolve(props.layerDir, `appconfig-extension-${arch}.zip`)),
        compatibleArchitectures: [arch === "arm64" ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64],
        description: "appconfig-extension: the AWS AppConfig Agent Lambda extension (drop-in)",
      });
      new cdk.CfnOutput(this, `LayerArn-${arch}`, { value: layers[arch].layerVersionArn });
    }

    const fn = new lambda.Function(this, "ReadsConfiguration", {
      runtime: lambda.Runtime.PYTHON_3_12,
      architecture: props.architecture === "arm64" ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      handler: "index.handler",
      timeout: cdk.Duration.seconds(10),
      layers: [layers[props.architecture]],
      environment: {
        APPCONFIG_PATH: `/applications/${props.applicationId}/environments/${props.environmentId}/configurations/${props.profileId}`,
        AWS_APPCONFIG_EXTENSION_PREFETCH_LIST: `${props.applicationId}:${props.environmentId}:${props.profileId}`,
      },
      code: lambda.Code.fromInline(
        [
          "import json, os, urllib.request",
          "PORT = os.environ.get('AWS_APPCONFIG_EXTENSION_HTTP_PORT', '2772')",
          "def handler(event, context):",
          "    url = 'http://localhost:' + PORT + os.environ['APPCONFIG_PATH']",
          "    with urllib.request.urlopen(url, timeout=3) as r:",
          "        return {'version': r.headers.get('Configuration-Version'), 'config': json.loads(r.read())}",
        ].join("\n"),
      ),
    });

    // What the extension calls: a session, then the latest configuration (AppConfig Data API).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
        resources: [
          this.formatArn({
            service: "appconfig",
            resource: "application",
            resourceName: `${props.applicationId}/environment/${props.environmentId}/configuration/${props.profileId}`,
          }),
        ],
      }),
    );
  }
}
