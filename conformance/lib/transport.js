// @ts-check
// Where run.js's calls go. Two transports with the same methods:
//   AwsTransport     the real thing: Lambda Invoke, UpdateFunctionConfiguration
//                    (forces a cold start), AppConfig (the change), AppConfig
//                    Data (captures), CloudWatch Logs. AWS SDK v3, credentials
//                    and region from the usual AWS CLI configuration.
//   LocalTransport   each "function" is an agent listening on this machine
//                    (e.g. AWS's AppConfig Agent and ours side by side, in
//                    local development mode or with real credentials); the
//                    requests go through the same code as in the Lambda handler.
//                    No cold starts, change round, logs or captures.
//   SampleTransport  answers from a recording on disk, for offline tests. The
//                    recordings in samples/ are HAND-WRITTEN SAMPLES, not
//                    captures from AWS.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { bigJson } = require('../lambda/big-profile/content');

// What our extension sends (spec §4, third-party evidence): the service
// answers multi-variant flag profiles in binary Ion with the rules included.
const OUR_ACCEPT = 'application/ion;type=AWS.AppConfig.FeatureFlags;q=1.0,*/*;q=0.1';

class AwsTransport {
  /** @param {{region: string, clientConfig?: any}} opts clientConfig: extra SDK client settings
   * (the tests point every client at a local fake with it) */
  constructor(opts) {
    this.region = opts.region;
    // CloudWatch Logs delivery lags the invoke: run.js polls until it catches up.
    this.logsArriveLate = true;
    const cfg = { region: this.region, ...(opts.clientConfig || {}) };
    const { LambdaClient } = require('@aws-sdk/client-lambda');
    const { CloudWatchLogsClient } = require('@aws-sdk/client-cloudwatch-logs');
    const { AppConfigClient } = require('@aws-sdk/client-appconfig');
    const { AppConfigDataClient } = require('@aws-sdk/client-appconfigdata');
    this.lambda = new LambdaClient(cfg);
    this.logsClient = new CloudWatchLogsClient(cfg);
    this.appconfig = new AppConfigClient(cfg);
    this.data = new AppConfigDataClient(cfg);
  }

  /** One invoke carrying a batch of requests; LogType Tail returns the last
   * 4 KB of the invoke's log, which holds its REPORT line.
   * @param {string} functionName @param {any[]} requests */
  async invoke(functionName, requests) {
    const { InvokeCommand } = require('@aws-sdk/client-lambda');
    const out = await this.lambda.send(new InvokeCommand({
      FunctionName: functionName,
      Payload: Buffer.from(JSON.stringify({ requests })),
      LogType: 'Tail',
    }));
    const payload = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    const logTail = out.LogResult ? Buffer.from(out.LogResult, 'base64').toString('utf8') : '';
    const requestId = out.$metadata.requestId || '';
    if (out.FunctionError) return { requestId, logTail, functionError: `${out.FunctionError}: ${payload.slice(0, 2000)}` };
    try {
      return { requestId, logTail, responses: JSON.parse(payload).responses };
    } catch {
      return { requestId, logTail, functionError: `answer is not the handler's JSON: ${payload.slice(0, 200)}` };
    }
  }

  /** A new environment variable makes Lambda start new sandboxes, so the next
   * invoke is a cold start whose REPORT line carries Init Duration.
   * @param {string} functionName @param {string} runId */
  async forceColdStart(functionName, runId) {
    const l = require('@aws-sdk/client-lambda');
    const cfg = await this.lambda.send(new l.GetFunctionConfigurationCommand({ FunctionName: functionName }));
    const Variables = { ...(cfg.Environment?.Variables || {}), CONFORMANCE_RUN_ID: runId };
    await this.lambda.send(new l.UpdateFunctionConfigurationCommand({ FunctionName: functionName, Environment: { Variables } }));
    await l.waitUntilFunctionUpdatedV2({ client: this.lambda, maxWaitTime: 300 }, { FunctionName: functionName });
  }

  /** Stores new versions and deploys them one at a time (one deployment per
   * environment at a time), waiting for each to complete.
   * @param {any} kit @param {{profileKey: string, content: string, contentType: string}[]} changes */
  async deployChange(kit, changes) {
    const a = require('@aws-sdk/client-appconfig');
    const done = [];
    for (const c of changes) {
      const profileId = kit.profiles[c.profileKey].id;
      const v = await this.appconfig.send(new a.CreateHostedConfigurationVersionCommand({
        ApplicationId: kit.applicationId, ConfigurationProfileId: profileId,
        Content: Buffer.from(c.content), ContentType: c.contentType, Description: 'conformance kit change',
      }));
      const d = await this.appconfig.send(new a.StartDeploymentCommand({
        ApplicationId: kit.applicationId, EnvironmentId: kit.environmentId, DeploymentStrategyId: kit.strategyId,
        ConfigurationProfileId: profileId, ConfigurationVersion: String(v.VersionNumber),
      }));
      const deadline = Date.now() + 10 * 60 * 1000;
      for (;;) {
        const s = await this.appconfig.send(new a.GetDeploymentCommand({
          ApplicationId: kit.applicationId, EnvironmentId: kit.environmentId, DeploymentNumber: d.DeploymentNumber,
        }));
        if (s.State === 'COMPLETE') {
          done.push({ profileKey: c.profileKey, versionNumber: v.VersionNumber, deploymentNumber: d.DeploymentNumber,
            completedAt: s.CompletedAt ? new Date(s.CompletedAt).toISOString() : new Date().toISOString() });
          break;
        }
        if (s.State === 'ROLLED_BACK' || s.State === 'REVERTED') throw new Error(`deployment of ${c.profileKey}: ${s.State}`);
        if (Date.now() > deadline) throw new Error(`deployment of ${c.profileKey} still ${s.State} after 10 minutes`);
        await this.sleep(3000);
      }
    }
    return done;
  }

  /** @param {number} ms */
  sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
  }

  /** Every event of a log group in [startMs, endMs].
   * @param {string} logGroupName @param {number} startMs @param {number} endMs */
  async logs(logGroupName, startMs, endMs) {
    const { FilterLogEventsCommand } = require('@aws-sdk/client-cloudwatch-logs');
    const events = [];
    let nextToken;
    do {
      const page = await this.logsClient.send(new FilterLogEventsCommand({
        logGroupName, startTime: startMs, endTime: endMs, nextToken,
      }));
      for (const e of page.events || []) events.push({ timestamp: e.timestamp, logStream: e.logStreamName, message: e.message });
      nextToken = page.nextToken;
    } while (nextToken);
    return events;
  }

  /** Raw GetLatestConfiguration answer (status, headers, body bytes) for one
   * profile, with the given Accept header, using the caller's credentials.
   * @param {any} kit @param {string} profileKey @param {string} accept */
  async capture(kit, profileKey, accept) {
    const d = require('@aws-sdk/client-appconfigdata');
    const session = await this.data.send(new d.StartConfigurationSessionCommand({
      ApplicationIdentifier: kit.applicationId, EnvironmentIdentifier: kit.environmentId,
      ConfigurationProfileIdentifier: kit.profiles[profileKey].id,
    }));
    /** @type {any} */
    const seen = {};
    const cmd = new d.GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken });
    cmd.middlewareStack.add((next) => async (args) => {
      /** @type {any} */ (args.request).headers.accept = accept;
      seen.requestHeaders = { ...(/** @type {any} */ (args.request).headers) };
      return next(args);
    }, { step: 'build', name: 'conformanceAccept' });
    cmd.middlewareStack.add((next) => async (args) => {
      const r = await next(args);
      const res = /** @type {any} */ (r.response);
      seen.status = res.statusCode;
      seen.headers = res.headers;
      return r;
    }, { step: 'deserialize', name: 'conformanceRawHeaders' });
    const out = await this.data.send(cmd);
    const body = Buffer.from(out.Configuration || new Uint8Array());
    // Never keep credentials or signatures in a capture.
    const requestHeaders = Object.fromEntries(Object.entries(seen.requestHeaders || {})
      .filter(([k]) => !/^(authorization|x-amz-security-token|x-amz-date|amz-sdk-invocation-id)$/i.test(k)));
    return { status: seen.status, headers: seen.headers || {}, requestHeaders, body };
  }
}

class LocalTransport {
  /** @param {{targets: Record<string, {host: string, port: number}>}} opts by function name (the kit's functionName) */
  constructor(opts) {
    this.targets = opts.targets;
    this.invokes = 0;
  }

  /** @param {string} functionName @param {any[]} requests */
  async invoke(functionName, requests) {
    const target = this.targets[functionName];
    if (!target) throw new Error(`no local target for ${functionName}`);
    const { forward } = require('../handler/index.js');
    this.invokes += 1;
    const responses = [];
    for (const r of requests) responses.push(await forward(r, target));
    return { requestId: `local-${this.invokes}`, logTail: '', responses };
  }

  async forceColdStart() {}

  async deployChange() {
    throw new Error('the local transport cannot deploy a change: use --no-change');
  }

  /** @param {number} ms */
  sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
  }

  async logs() {
    return [];
  }

  async capture() {
    throw new Error('the local transport cannot capture: captures need --transport aws');
  }
}

class SampleTransport {
  /** @param {{dir: string}} opts dir holds <side>-<arch>.json recordings and captures.json */
  constructor(opts) {
    this.dir = opts.dir;
    /** @type {Record<string, any>} */
    this.recordings = {};
    this.invokes = 0;
    this.slept = 0;
  }

  /** @param {string} functionName */
  recording(functionName) {
    if (!this.recordings[functionName]) {
      const file = path.join(this.dir, `${functionName}.json`);
      this.recordings[functionName] = JSON.parse(fs.readFileSync(file, 'utf8'));
    }
    return this.recordings[functionName];
  }

  /** Answer for a request: a phase-specific one ("after1:<id>") wins.
   * @param {string} functionName @param {any[]} requests */
  async invoke(functionName, requests) {
    const rec = this.recording(functionName);
    this.invokes += 1;
    const responses = requests.map((r) => {
      const a = rec.answers[`${r.phase}:${r.id}`] || rec.answers[r.id];
      if (!a) return { id: r.id, error: `no sample answer for ${r.id}` };
      /** @type {any} */
      const res = { id: r.id, status: a.status, reason: a.reason || '', headers: a.headers || [], elapsedMs: a.elapsedMs ?? 1 };
      // bodyBigJson: the kit's >1 MB profile, generated rather than stored.
      const body = a.bodyBigJson !== undefined ? Buffer.from(bigJson(a.bodyBigJson))
        : a.bodyBase64 !== undefined ? Buffer.from(a.bodyBase64, 'base64') : Buffer.from(a.body || '', 'utf8');
      res.bodyBase64 = r.method === 'HEAD' ? '' : body.toString('base64');
      res.bodyBytes = r.method === 'HEAD' ? 0 : body.length;
      return res;
    });
    return { requestId: `sample-${functionName}-${this.invokes}`, logTail: '', responses };
  }

  async forceColdStart() {}

  /** @param {any} _kit @param {{profileKey: string}[]} changes */
  async deployChange(_kit, changes) {
    return changes.map((c, i) => ({ profileKey: c.profileKey, versionNumber: 100 + i, deploymentNumber: 100 + i,
      completedAt: '2026-01-01T00:00:00.000Z' }));
  }

  /** Time does not pass in a recording. @param {number} ms */
  async sleep(ms) {
    this.slept += ms;
  }

  /** @param {string} logGroupName */
  async logs(logGroupName) {
    for (const rec of Object.values(this.recordings)) {
      if (rec.logGroupName === logGroupName) return rec.logEvents || [];
    }
    const file = fs.readdirSync(this.dir).filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')))
      .find((r) => r.logGroupName === logGroupName);
    return file ? file.logEvents || [] : [];
  }

  /** @param {any} _kit @param {string} profileKey @param {string} accept */
  async capture(_kit, profileKey, accept) {
    const all = JSON.parse(fs.readFileSync(path.join(this.dir, 'captures.json'), 'utf8'));
    const c = all.captures[profileKey];
    if (!c) throw new Error(`no sample capture for ${profileKey}`);
    // bodyFile (relative to the recording) lets a sample reuse a fixture's bytes.
    const body = c.bodyFile ? fs.readFileSync(path.resolve(this.dir, c.bodyFile)) : Buffer.from(c.bodyBase64, 'base64');
    return { status: c.status, headers: c.headers, requestHeaders: { accept }, body };
  }
}

module.exports = { AwsTransport, LocalTransport, SampleTransport, OUR_ACCEPT };
