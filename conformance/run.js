#!/usr/bin/env node
// @ts-check
// Drives one conformance run: the request list (lib/requests.js) to both
// functions of each architecture, a change deployed, the same reads again
// after the poll interval, optional raw captures, then both functions' logs
// for the run's window; then the differ writes the report.
//
//   node run.js [--kit cdk-outputs.json] [--capture] [--no-change] [--split-ids 2000]
//   node run.js --transport samples --samples samples/recording --out /tmp/run   (offline)
//
// Output: runs/<run id>/{meta.json, <side>-<arch>.json}, report.md + report.json,
// captures/<run id>/<profile>/{meta.json, body.bin} with --capture.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { buildRequests, batches } = require('./lib/requests');
const { AwsTransport, LocalTransport, SampleTransport, OUR_ACCEPT } = require('./lib/transport');
const profiles = require('./lib/profiles');
const differ = require('./differ');

const KIT_DIR = __dirname;
// Bodies up to this size are kept whole in the run files; larger ones (the
// >1 MB profile) as SHA-256 + length + the first bytes, which is what the
// differ compares anyway.
const KEEP_BODY_BYTES = 64 * 1024;
const BODY_HEAD_BYTES = 256;
// A refresh happens on the first invoke after the interval (the sandbox is
// frozen between invokes), so wait the interval plus a margin for the
// deployment to be visible to GetLatestConfiguration.
const CHANGE_MARGIN_MS = 10000;
// CloudWatch Logs delivery lags the invoke by seconds; poll this long at most.
const LOGS_MAX_WAIT_MS = 180000;
const LOGS_POLL_MS = 15000;

const USAGE = `usage: node run.js [options]
  --kit FILE          cdk deploy --outputs-file output (default cdk-outputs.json)
  --transport T       aws (default), local or samples
  --official URL      with --transport local: the official agent, e.g. http://127.0.0.1:2772
  --ours URL          with --transport local: ours, e.g. http://127.0.0.1:2773
  --samples DIR       recording for --transport samples
  --region R          default: AWS_REGION, else the kit's region
  --out DIR           run directory (default runs/<run id>)
  --report FILE       report path (default report.md, and report.json next to it)
  --run-id ID         default: UTC timestamp
  --arch A            x86_64 (default) or arm64, or "all" for every deployed one
  --split-ids N       entity IDs sent through each split (default 2000)
  --batch N           requests per invoke (default 100)
  --select REGEX      only requests whose id matches
  --no-change         skip the change round
  --capture           save raw GetLatestConfiguration answers under captures/
  --captures-dir DIR  default captures/
  --accept VALUE      Accept header for captures (default: ours, see spec §4)
  --accept-from FILE  the Accept header observe-accept.js recorded from an agent
  --logs-wait-s N     first wait before reading logs (default 30)
  --refetch-logs DIR  only read the logs of an earlier run again (CloudWatch Logs can lag) and redo its report`;

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, any>} */
  const o = { transport: 'aws', kit: path.join(KIT_DIR, 'cdk-outputs.json'), splitIds: 2000, batch: 100,
    change: true, capture: false, arch: 'x86_64', accept: OUR_ACCEPT, logsWaitS: 30 };
  const flags = new Set(['--no-change', '--capture', '--help']);
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (flags.has(a)) {
      if (a === '--no-change') o.change = false;
      if (a === '--capture') o.capture = true;
      if (a === '--help') o.help = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
    switch (a) {
      case '--kit': o.kit = v; break;
      case '--transport': o.transport = v; break;
      case '--samples': o.samples = v; break;
      case '--official': o.official = v; break;
      case '--ours': o.ours = v; break;
      case '--region': o.region = v; break;
      case '--out': o.out = v; break;
      case '--report': o.report = v; break;
      case '--run-id': o.runId = v; break;
      case '--arch': o.arch = v; break;
      case '--split-ids': o.splitIds = Number(v); break;
      case '--batch': o.batch = Number(v); break;
      case '--select': o.select = v; break;
      case '--captures-dir': o.capturesDir = v; break;
      case '--accept': o.accept = v; break;
      case '--accept-from': o.acceptFrom = v; break;
      case '--logs-wait-s': o.logsWaitS = Number(v); break;
      case '--refetch-logs': o.refetchLogs = v; break;
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.acceptFrom) {
    const observed = JSON.parse(fs.readFileSync(o.acceptFrom, 'utf8'));
    if (typeof observed.accept !== 'string' || observed.accept.startsWith('(')) {
      throw new Error(`--accept-from ${o.acceptFrom}: no Accept header was observed (${observed.accept})`);
    }
    o.accept = observed.accept;
  }
  if (!['aws', 'local', 'samples'].includes(o.transport)) throw new Error(`--transport: '${o.transport}' is not aws, local or samples`);
  if (o.transport === 'samples' && !o.samples) throw new Error('--transport samples needs --samples DIR');
  if (o.transport === 'local') {
    if (!o.official || !o.ours) throw new Error('--transport local needs --official URL and --ours URL');
    for (const k of ['official', 'ours']) {
      const m = /^http:\/\/([^/:]+|\[[0-9a-fA-F:]+\]):(\d+)\/?$/.exec(o[k]);
      if (!m) throw new Error(`--${k} ${o[k]}: expected http://<host>:<port>`);
      o[k] = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
    }
    // Nothing to deploy and nothing to wait for outside AWS.
    o.change = false;
    o.logsWaitS = 0;
  }
  for (const k of ['splitIds', 'batch', 'logsWaitS']) {
    if (!Number.isInteger(o[k]) || o[k] < 0 || (k === 'batch' && o[k] < 1)) throw new Error(`--${k}: not a whole number`);
  }
  return o;
}

/** Reads the kit description: a `cdk deploy --outputs-file` file
 * ({"<stack>": {"Kit": "<json>"}}) or the kit JSON itself. @param {string} file */
function loadKit(file) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the kit description ${file} (${/** @type {Error} */ (e).message}); ` +
      'deploy with `npx cdk deploy --outputs-file cdk-outputs.json` first');
  }
  if (doc.functions && doc.profiles) return doc;
  for (const stack of Object.values(doc)) {
    if (stack && typeof stack === 'object' && typeof stack.Kit === 'string') return JSON.parse(stack.Kit);
  }
  throw new Error(`${file} has no Kit output: is it the --outputs-file of this kit's stack?`);
}

/** @param {Buffer} b */
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

/** Keeps a response small in the run file (see KEEP_BODY_BYTES). @param {any} res */
function storeResponse(res) {
  if (!res || res.bodyBase64 === undefined) return res;
  const body = Buffer.from(res.bodyBase64, 'base64');
  const out = { ...res, bodySha256: sha256(body) };
  if (body.length > KEEP_BODY_BYTES) {
    delete out.bodyBase64;
    out.bodyHeadBase64 = body.subarray(0, BODY_HEAD_BYTES).toString('base64');
  }
  return out;
}

// Throttling or a network error on one invoke must not lose the run: retry
// with backoff, then record the batch as failed and go on.
const INVOKE_ATTEMPTS = 4;
const INVOKE_BACKOFF_MS = 2000;

/** @param {any} transport @param {string} functionName @param {any[]} batch */
async function invokeWithRetry(transport, functionName, batch) {
  let last;
  for (let attempt = 1; attempt <= INVOKE_ATTEMPTS; ++attempt) {
    try {
      return await transport.invoke(functionName, batch);
    } catch (e) {
      last = e;
      if (attempt < INVOKE_ATTEMPTS) await transport.sleep(INVOKE_BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
  const err = /** @type {any} */ (last);
  return { requestId: '', logTail: '', functionError: `invoke failed ${INVOKE_ATTEMPTS} times: ${err && err.name}: ${err && err.message}` };
}

/** @param {any} opts @param {any} transport @param {(s: string) => void} [log] */
async function run(opts, transport, log = (s) => process.stderr.write(`${s}\n`)) {
  const kit = loadKit(opts.kit);
  const runId = opts.runId || new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = opts.out || path.join(KIT_DIR, 'runs', runId);
  fs.mkdirSync(outDir, { recursive: true });
  const archs = opts.arch === 'all'
    ? [...new Set(Object.values(kit.functions).map((/** @type {any} */ f) => f.arch))]
    : [opts.arch];
  /** @type {any[]} */
  const sides = [];
  for (const arch of archs) {
    for (const side of ['official', 'ours']) {
      const f = kit.functions[`${side}-${arch}`];
      if (!f) throw new Error(`the kit has no ${side} function for ${arch}; deploy with -c archs=${arch}`);
      sides.push({ key: `${side}-${arch}`, side, arch, ...f, invokes: [], results: [], logEvents: [] });
    }
  }
  let requests = buildRequests(kit, { splitIds: opts.splitIds });
  if (opts.select) {
    const re = new RegExp(opts.select);
    requests = requests.filter((r) => re.test(r.id));
  }
  const startedMs = Date.now();
  /** @type {any} */
  const meta = { runId, startedAt: new Date(startedMs).toISOString(), transport: opts.transport,
    sample: opts.transport === 'samples', kit, archs, splitIds: opts.splitIds, requestCount: requests.length,
    phases: [], changes: [], captures: [] };

  log(`run ${runId}: ${requests.length} requests x ${sides.length} functions`);
  await Promise.all(sides.map((s) => transport.forceColdStart(s.functionName, runId)));

  /** Sends `reqs` to every function, batch by batch, alternating sides so both
   * see the same pace. @param {string} phase @param {any[]} reqs */
  const sendAll = async (phase, reqs) => {
    meta.phases.push({ phase, startedAt: new Date().toISOString(), requests: reqs.length });
    const list = batches(reqs, opts.batch);
    for (let b = 0; b < list.length; ++b) {
      const batch = list[b].map((r) => ({ ...r, phase }));
      for (const s of sides) {
        const ans = await invokeWithRetry(transport, s.functionName, batch);
        s.invokes.push({ phase, batch: b, requestId: ans.requestId, logTail: ans.logTail, functionError: ans.functionError });
        const byId = new Map((ans.responses || []).map((/** @type {any} */ r) => [r.id, r]));
        for (const r of batch) {
          const response = byId.get(r.id) || { id: r.id, error: ans.functionError || 'no answer in the invoke payload' };
          s.results.push({ phase, id: r.id, group: r.group, flag: r.flag, entity: r.entity, profile: r.profile,
            request: { method: r.method, path: r.path, headers: r.headers, raw: r.raw }, response: storeResponse(response) });
        }
      }
    }
  };

  await sendAll('before', requests);
  if (opts.change) {
    const changes = [
      { profileKey: 'json', content: profiles.CHANGED.json(runId), contentType: 'application/json' },
      { profileKey: 'flags', content: profiles.CHANGED.flags(runId), contentType: 'application/json' },
    ];
    log('deploying the change');
    meta.changes = await transport.deployChange(kit, changes);
    const waitMs = (kit.pollIntervalSeconds || 45) * 1000 + CHANGE_MARGIN_MS;
    log(`waiting ${waitMs} ms (poll interval + margin)`);
    await transport.sleep(waitMs);
    const again = requests.filter((r) => r.group !== 'split' && r.group !== 'entity');
    // Twice: the first read after the interval may still be served stale
    // while the refresh runs; the second shows where each side settles.
    await sendAll('after1', again);
    await sendAll('after2', again);
  }

  if (opts.capture) {
    const capturesDir = opts.capturesDir || path.join(KIT_DIR, 'captures');
    for (const p of profiles.PROFILES.filter((x) => x.readable)) {
      const c = await transport.capture(kit, p.key, opts.accept);
      const dir = path.join(capturesDir, runId, p.key);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'body.bin'), c.body);
      const m = { runId, profileKey: p.key, profileName: p.name, profileType: p.type,
        applicationId: kit.applicationId, environmentId: kit.environmentId, profileId: kit.profiles[p.key].id,
        capturedAt: new Date().toISOString(), sample: meta.sample, accept: opts.accept,
        status: c.status, headers: c.headers, requestHeaders: c.requestHeaders,
        bytes: c.body.length, sha256: sha256(c.body) };
      fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify(m, null, 2)}\n`);
      meta.captures.push(path.relative(outDir, dir));
    }
  }

  // Logs for the window, polled until every invoke's REPORT line is in.
  if (opts.logsWaitS) await transport.sleep(opts.logsWaitS * 1000);
  const deadline = Date.now() + LOGS_MAX_WAIT_MS;
  for (const s of sides) {
    for (;;) {
      s.logEvents = await transport.logs(s.logGroupName, startedMs - 5000, Date.now() + 1000);
      const reports = s.logEvents.filter((/** @type {any} */ e) => /^REPORT /.test(e.message)).length;
      // Only CloudWatch Logs arrive late; recordings and local agents have what they have.
      if (reports >= s.invokes.length || Date.now() > deadline || !transport.logsArriveLate) break;
      await transport.sleep(LOGS_POLL_MS);
    }
  }

  meta.finishedAt = new Date().toISOString();
  fs.writeFileSync(path.join(outDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  for (const s of sides) {
    const { key, ...rest } = s;
    fs.writeFileSync(path.join(outDir, `${key}.json`), `${JSON.stringify(rest, null, 1)}\n`);
  }
  log(`run files in ${outDir}`);
  const reportPath = opts.report || path.join(KIT_DIR, 'report.md');
  const report = differ.diffRun(outDir, { expected: differ.loadExpected() });
  differ.writeReport(report, reportPath);
  log(`report: ${reportPath} (${report.summary.unexpected} unexpected differences)`);
  return { outDir, reportPath, report, meta };
}

/** Reads the logs of an earlier run again, for its window, and rewrites the report.
 * @param {any} opts @param {any} transport */
async function refetchLogs(opts, transport) {
  const dir = opts.refetchLogs;
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const start = Date.parse(meta.startedAt) - 5000;
  const end = Date.parse(meta.finishedAt) + 60000;
  for (const f of fs.readdirSync(dir).filter((x) => /^(official|ours)-.*\.json$/.test(x))) {
    const side = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    side.logEvents = await transport.logs(side.logGroupName, start, end);
    fs.writeFileSync(path.join(dir, f), `${JSON.stringify(side, null, 1)}\n`);
  }
  const reportPath = opts.report || path.join(KIT_DIR, 'report.md');
  const report = differ.diffRun(dir, { expected: differ.loadExpected() });
  differ.writeReport(report, reportPath);
  return { reportPath, report };
}

/** @param {any} opts @param {any} kit */
function localTransport(opts, kit) {
  const arch = opts.arch === 'all' ? 'x86_64' : opts.arch;
  const fn = (/** @type {string} */ side) => {
    const f = kit.functions[`${side}-${arch}`];
    if (!f) throw new Error(`the kit description has no ${side}-${arch} function entry`);
    return f.functionName;
  };
  return new LocalTransport({ targets: { [fn('official')]: opts.official, [fn('ours')]: opts.ours } });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let transport;
  if (opts.transport === 'samples') {
    transport = new SampleTransport({ dir: opts.samples });
  } else if (opts.transport === 'local') {
    transport = localTransport(opts, loadKit(opts.kit));
  } else {
    const region = opts.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION ||
      (opts.refetchLogs ? JSON.parse(fs.readFileSync(path.join(opts.refetchLogs, 'meta.json'), 'utf8')).kit.region : loadKit(opts.kit).region);
    transport = new AwsTransport({ region });
  }
  if (opts.refetchLogs) await refetchLogs(opts, transport);
  else await run(opts, transport);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`run.js: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

module.exports = { run, refetchLogs, parseArgs, loadKit, storeResponse, localTransport };
