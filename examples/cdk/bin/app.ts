#!/usr/bin/env node
// cdk synth / cdk deploy: one stack with the appconfig-extension layer (x86_64 and arm64) and a
// function that reads one AppConfig profile through it. Context (cdk.json or -c): layerDir (the
// `make layer` output), architecture (x86_64 | arm64), applicationId, environmentId, profileId.
import * as cdk from "aws-cdk-lib";
import { AppConfigExtensionStack } from "../lib/appconfig-extension-stack";

const app = new cdk.App();
const ctx = (name: string): string => {
  const v = app.node.tryGetContext(name);
  if (typeof v !== "string" || v === "") throw new Error(`context "${name}" is required (cdk.json or -c ${name}=...)`);
  return v;
};
const architecture = ctx("architecture");
if (architecture !== "x86_64" && architecture !== "arm64") {
  throw new Error(`context "architecture" must be x86_64 or arm64, not "${architecture}"`);
}
new AppConfigExtensionStack(app, "AppConfigExtensionExample", {
  layerDir: ctx("layerDir"),
  architecture,
  applicationId: ctx("applicationId"),
  environmentId: ctx("environmentId"),
  profileId: ctx("profileId"),
});
