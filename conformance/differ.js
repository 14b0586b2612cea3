#!/usr/bin/env node
// @ts-check
// Compares a run's two sides request by request and writes report.md +
// report.json: status, relevant headers and body side by side; each
// difference marked expected (a rule in expected.json, each documented in
// docs/conformance.md with its reason) or unexpected; the split agreement
// rate; cold-start INIT durations and max memory from the REPORT lines.
//
//   node differ.js runs/<run id> [--report report.md]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const KIT_DIR = __dirname;
// Headers whose presence and value the report compares. Date, Server and
// connection management are left out: they differ by design and say nothing
// about configuration.
const RELEVANT_HEADERS = ['content-type', 'content-length', 'configuration-version', 'version-label', 'allow'];
// Bodies shown in the report are cut here; the comparison uses all bytes.
const SHOW_BODY_CHARS = 300;
// Extension log lines listed per side in report.md.
const SHOW_LOG_LINES = 60;
// Rows per table in report.md (report.json has them all): a side that fails
// every split read must not bury the rest under 4,000 rows.
const SHOW_ROWS = 400;

/** @param {string} [file] */
function loadExpected(file = path.join(KIT_DIR, 'expected.json')) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const r of doc.rules) {
    if (!r.id || !r.field || !r.reason) throw new Error(`${file}: every rule needs id, field and reason (${JSON.stringify(r)})`);
  }
  return doc.rules;
}

/** A REPORT line's numbers. @param {string} line */
function parseReportLine(line) {
  const m = /^REPORT RequestId: (\S+)\s+Duration: ([\d.]+) ms\s+Billed Duration: (\d+) ms\s+Memory Size: (\d+) MB\s+Max Memory Used: (\d+) MB(?:\s+Init Duration: ([\d.]+) ms)?/.exec(line.trim());
  if (!m) return null;
  return { requestId: m[1], durationMs: Number(m[2]), billedMs: Number(m[3]), memorySizeMb: Number(m[4]),
    maxMemoryUsedMb: Number(m[5]), initDurationMs: m[6] === undefined ? null : Number(m[6]) };
}

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** The comparable view of one response. @param {any} res */
function view(res) {
  if (!res || res.error) return { error: res ? res.error : 'missing', status: null, headers: {}, body: null };
  /** @type {Record<string, string>} */
  const headers = {};
  for (const [k, v] of res.headers || []) {
    const n = k.toLowerCase();
    if (RELEVANT_HEADERS.includes(n)) headers[n] = headers[n] === undefined ? v : `${headers[n]}, ${v}`;
  }
  const body = res.bodyBase64 !== undefined ? Buffer.from(res.bodyBase64, 'base64') : null;
  const sha = res.bodySha256 || (body ? crypto.createHash('sha256').update(body).digest('hex') : null);
  const shown = body ? body.toString('utf8') : `(${res.bodyBytes} bytes, sha256 ${sha}; first bytes: ` +
    `${Buffer.from(res.bodyHeadBase64 || '', 'base64').toString('utf8').slice(0, 80)}…)`;
  return { error: null, status: res.status, headers, body: shown, bodyBytes: res.bodyBytes, sha256: sha,
    elapsedMs: res.elapsedMs };
}

/** @param {any} a @param {any} b */
function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

/** @param {string|null} s */
function tryJson(s) {
  try {
    return { ok: true, value: JSON.parse(s || '') };
  } catch {
    return { ok: false, value: undefined };
  }
}

/** Differences between two views: [{field, official, ours}]. @param {any} o @param {any} u */
function differences(o, u) {
  const out = [];
  if (o.error || u.error) {
    if (o.error !== u.error) out.push({ field: 'error', official: o.error, ours: u.error });
    return out;
  }
  if (o.status !== u.status) out.push({ field: 'status', official: o.status, ours: u.status });
  for (const h of RELEVANT_HEADERS) {
    if (o.headers[h] !== u.headers[h]) out.push({ field: `header:${h}`, official: o.headers[h] ?? null, ours: u.headers[h] ?? null });
  }
  if (o.sha256 !== u.sha256) {
    const jo = tryJson(o.body);
    const ju = tryJson(u.body);
    const field = jo.ok && ju.ok && deepEqual(jo.value, ju.value) ? 'body-json-member-order' : 'body';
    out.push({ field, official: o.body, ours: u.body });
  }
  return out;
}

/** The rule that explains a difference, if any.
 * @param {any[]} rules @param {any} d @param {any} item {id, phase} @param {any} o @param {any} u */
function explain(rules, d, item, o, u) {
  for (const r of rules) {
    if (!new RegExp(`^(?:${r.field})$`).test(d.field)) continue;
    if (r.ids && !new RegExp(r.ids).test(item.id)) continue;
    if (r.phases && !r.phases.includes(item.phase)) continue;
    if (r.statusEqual && o.status !== u.status) continue;
    if (r.bothErrors && !(o.status >= 400 && u.status >= 400)) continue;
    if (r.official !== undefined && !new RegExp(r.official, 's').test(String(d.official))) continue;
    if (r.ours !== undefined && !new RegExp(r.ours, 's').test(String(d.ours))) continue;
    return r.id;
  }
  return null;
}

/** `_variant` chosen in a split answer, or what went wrong. @param {any} v */
function chosenVariant(v) {
  if (v.error) return `error: ${v.error}`;
  if (v.status !== 200) return `status ${v.status}`;
  const j = tryJson(v.body);
  if (!j.ok || typeof j.value !== 'object' || j.value === null) return 'not JSON';
  return typeof j.value._variant === 'string' ? j.value._variant : '(no _variant)';
}

/** REPORT lines of one side: from CloudWatch Logs and the invoke log tails,
 * one per request id. @param {any} side */
function lambdaStats(side) {
  /** @type {Map<string, any>} */
  const byId = new Map();
  const lines = [...(side.logEvents || []).map((/** @type {any} */ e) => e.message),
    ...(side.invokes || []).flatMap((/** @type {any} */ i) => (i.logTail || '').split('\n'))];
  for (const l of lines) {
    const r = parseReportLine(String(l));
    if (r) byId.set(r.requestId, r);
  }
  const reports = [...byId.values()];
  const durations = reports.map((r) => r.durationMs);
  const elapsed = (side.results || []).map((/** @type {any} */ r) => r.response && r.response.elapsedMs).filter((/** @type {any} */ x) => typeof x === 'number');
  return {
    invokes: (side.invokes || []).length,
    reports: reports.length,
    initDurationsMs: reports.filter((r) => r.initDurationMs !== null).map((r) => r.initDurationMs),
    maxMemoryUsedMb: reports.length ? Math.max(...reports.map((r) => r.maxMemoryUsedMb)) : null,
    memorySizeMb: reports.length ? reports[0].memorySizeMb : null,
    invokeDurationMs: { p50: quantile(durations, 0.5), p99: quantile(durations, 0.99), max: quantile(durations, 1) },
    billedMsTotal: reports.reduce((a, r) => a + r.billedMs, 0),
    requestElapsedMs: { p50: quantile(elapsed, 0.5), p99: quantile(elapsed, 0.99), max: quantile(elapsed, 1) },
  };
}

/** Log lines other than the platform's START/END/REPORT. @param {any} side */
function extensionLog(side) {
  return (side.logEvents || []).map((/** @type {any} */ e) => String(e.message).replace(/\s+$/, ''))
    .filter((/** @type {string} */ m) => m && !/^(START|END|REPORT) RequestId:/.test(m));
}

/** @param {string} runDir @param {{expected: any[]}} opts */
function diffRun(runDir, opts) {
  const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'meta.json'), 'utf8'));
  const rules = opts.expected;
  const pairs = [];
  const summary = { requests: 0, same: 0, expected: 0, unexpected: 0, noAnswer: 0 };
  for (const arch of meta.archs) {
    const sides = /** @type {Record<string, any>} */ ({});
    for (const s of ['official', 'ours']) sides[s] = JSON.parse(fs.readFileSync(path.join(runDir, `${s}-${arch}.json`), 'utf8'));
    /** @type {Map<string, any>} */
    const ours = new Map(sides.ours.results.map((/** @type {any} */ r) => [`${r.phase}:${r.id}`, r]));
    const requests = [];
    /** @type {Record<string, any>} */
    const splits = {};
    for (const ro of sides.official.results) {
      const ru = ours.get(`${ro.phase}:${ro.id}`);
      const o = view(ro.response);
      const u = view(ru && ru.response);
      const item = { phase: ro.phase, id: ro.id, group: ro.group, request: ro.request };
      const diffs = differences(o, u).map((d) => ({ ...d, expected: explain(rules, d, item, o, u) }));
      const noAnswer = Boolean(o.error || u.error);
      const verdict = !diffs.length ? 'same' : diffs.every((d) => d.expected) ? 'expected' : 'unexpected';
      summary.requests += 1;
      summary[/** @type {'same'|'expected'|'unexpected'} */ (verdict)] += 1;
      if (noAnswer) summary.noAnswer += 1;
      if (ro.group === 'split') {
        const s = (splits[ro.flag] ||= { ids: 0, agree: 0, official: {}, ours: {}, disagreements: [] });
        const vo = chosenVariant(o);
        const vu = chosenVariant(u);
        s.ids += 1;
        s.official[vo] = (s.official[vo] || 0) + 1;
        s.ours[vu] = (s.ours[vu] || 0) + 1;
        if (vo === vu) s.agree += 1;
        else if (s.disagreements.length < 20) s.disagreements.push({ entity: ro.entity, official: vo, ours: vu });
        // Splits are summarised by agreement; listing 4,000 rows helps nobody.
        if (verdict === 'same') continue;
      }
      requests.push({ ...item, official: o, ours: u, differences: diffs, verdict });
    }
    for (const s of Object.values(splits)) s.rate = s.ids ? s.agree / s.ids : null;
    pairs.push({
      arch, official: sides.official.functionName, ours: sides.ours.functionName,
      officialLayer: sides.official.layer, oursLayer: sides.ours.layer,
      requests, splits,
      lambda: { official: lambdaStats(sides.official), ours: lambdaStats(sides.ours) },
      logs: { official: extensionLog(sides.official), ours: extensionLog(sides.ours) },
    });
  }
  return { runId: meta.runId, sample: meta.sample, generatedAt: new Date().toISOString(), startedAt: meta.startedAt,
    finishedAt: meta.finishedAt, changes: meta.changes, captures: meta.captures, summary, pairs };
}

/** Markdown-safe table cell. @param {any} v */
function cell(v) {
  if (v === null || v === undefined) return '—';
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s.length > SHOW_BODY_CHARS) s = `${s.slice(0, SHOW_BODY_CHARS)}…`;
  return `\`${s.replace(/\|/g, '\\|').replace(/`/g, "'").replace(/\r?\n/g, '⏎')}\``;
}

/** @param {any} report */
function toMarkdown(report) {
  const L = [];
  L.push(`# Conformance report: run ${report.runId}`, '');
  if (report.sample) {
    L.push('> **SAMPLE.** This report was made from hand-written sample recordings (`samples/`), not from AWS.', '');
  }
  const s = report.summary;
  L.push(`Run ${report.startedAt} → ${report.finishedAt}. Rules for expected differences: \`expected.json\`, ` +
    'reasons in `docs/conformance.md`.', '');
  L.push('| requests compared | same | expected differences | unexpected differences | without an answer |',
    '|---|---|---|---|---|', `| ${s.requests} | ${s.same} | ${s.expected} | ${s.unexpected} | ${s.noAnswer} |`, '');
  for (const p of report.pairs) {
    L.push(`## ${p.arch}: \`${p.official}\` (official) vs \`${p.ours}\` (ours)`, '');
    L.push(`Official layer: \`${p.officialLayer}\`; ours: \`${p.oursLayer}\`.`, '');
    L.push('### Cold start and memory (REPORT lines)', '', '| | official | ours |', '|---|---|---|');
    const lo = p.lambda.official;
    const lu = p.lambda.ours;
    const row = (/** @type {string} */ name, /** @type {any} */ a, /** @type {any} */ b) => L.push(`| ${name} | ${a ?? '—'} | ${b ?? '—'} |`);
    row('invokes / REPORT lines', `${lo.invokes} / ${lo.reports}`, `${lu.invokes} / ${lu.reports}`);
    row('INIT durations (ms)', lo.initDurationsMs.join(', ') || '—', lu.initDurationsMs.join(', ') || '—');
    row('max memory used (MB)', lo.maxMemoryUsedMb !== null ? `${lo.maxMemoryUsedMb} of ${lo.memorySizeMb}` : null,
      lu.maxMemoryUsedMb !== null ? `${lu.maxMemoryUsedMb} of ${lu.memorySizeMb}` : null);
    const pq = (/** @type {{p50: number|null, p99: number|null}} */ q) => (q.p50 === null ? '—' : `${q.p50} / ${q.p99}`);
    row('invoke duration p50 / p99 (ms)', pq(lo.invokeDurationMs), pq(lu.invokeDurationMs));
    row('billed ms, total', lo.reports ? lo.billedMsTotal : null, lu.reports ? lu.billedMsTotal : null);
    row('one request through the handler p50 / p99 (ms)', pq(lo.requestElapsedMs), pq(lu.requestElapsedMs));
    L.push('');
    L.push('### Split agreement', '', '| flag | entity IDs | same variant | rate | official | ours |', '|---|---|---|---|---|---|');
    for (const [flag, sp] of Object.entries(p.splits)) {
      L.push(`| ${flag} | ${sp.ids} | ${sp.agree} | ${sp.rate === null ? '—' : `${(100 * sp.rate).toFixed(2)} %`} | ${cell(sp.official)} | ${cell(sp.ours)} |`);
    }
    if (!Object.keys(p.splits).length) L.push('| (no split requests in this run) | | | | | |');
    L.push('');
    const unexpected = p.requests.filter((/** @type {any} */ r) => r.verdict === 'unexpected');
    const expected = p.requests.filter((/** @type {any} */ r) => r.verdict === 'expected');
    /** Table rows, at most SHOW_ROWS of them. @param {string[]} rows */
    const table = (rows) => {
      L.push(...rows.slice(0, SHOW_ROWS));
      if (rows.length > SHOW_ROWS) L.push('', `(${rows.length - SHOW_ROWS} more rows in report.json)`);
    };
    L.push(`### Unexpected differences (${unexpected.length})`, '', '| phase | request | field | official | ours |', '|---|---|---|---|---|');
    table(unexpected.flatMap((/** @type {any} */ r) => r.differences.filter((/** @type {any} */ x) => !x.expected)
      .map((/** @type {any} */ d) => `| ${r.phase} | \`${r.id}\` | ${d.field} | ${cell(d.official)} | ${cell(d.ours)} |`)));
    L.push('', `### Expected differences (${expected.length})`, '', '| phase | request | field | rule | official | ours |', '|---|---|---|---|---|---|');
    table(expected.flatMap((/** @type {any} */ r) => r.differences.map((/** @type {any} */ d) =>
      `| ${r.phase} | \`${r.id}\` | ${d.field} | [${d.expected}](../docs/conformance.md#${d.expected}) | ${cell(d.official)} | ${cell(d.ours)} |`)));
    L.push('', '### Every request', '', '| phase | request | verdict | official status | ours status | official body | ours body |',
      '|---|---|---|---|---|---|---|');
    table(p.requests.map((/** @type {any} */ r) => `| ${r.phase} | \`${r.id}\` | ${r.verdict} | ` +
      `${r.official.error ? cell(r.official.error) : r.official.status} | ` +
      `${r.ours.error ? cell(r.ours.error) : r.ours.status} | ${cell(r.official.body)} | ${cell(r.ours.body)} |`));
    L.push('', '(Split requests whose answers agree are counted above, not listed.)', '');
    for (const side of ['official', 'ours']) {
      const lines = p.logs[side];
      L.push(`### Log lines: ${side} (${lines.length}, first ${Math.min(lines.length, SHOW_LOG_LINES)})`, '', '```');
      for (const l of lines.slice(0, SHOW_LOG_LINES)) L.push(l);
      L.push('```', '');
    }
  }
  return `${L.join('\n')}\n`;
}

/** @param {any} report @param {string} mdPath */
function writeReport(report, mdPath) {
  fs.mkdirSync(path.dirname(path.resolve(mdPath)), { recursive: true });
  fs.writeFileSync(mdPath, toMarkdown(report));
  fs.writeFileSync(mdPath.replace(/\.md$/, '') + '.json', `${JSON.stringify(report, null, 1)}\n`);
}

function main() {
  const args = process.argv.slice(2);
  const runDir = args.find((a) => !a.startsWith('--'));
  const i = args.indexOf('--report');
  const reportPath = i >= 0 ? args[i + 1] : path.join(KIT_DIR, 'report.md');
  if (!runDir || (i >= 0 && !reportPath)) {
    process.stderr.write('usage: node differ.js runs/<run id> [--report report.md]\n');
    process.exit(2);
  }
  const report = diffRun(runDir, { expected: loadExpected() });
  writeReport(report, reportPath);
  process.stderr.write(`report: ${reportPath} (${report.summary.unexpected} unexpected differences)\n`);
}

if (require.main === module) main();

module.exports = { diffRun, writeReport, toMarkdown, loadExpected, parseReportLine, differences, explain, view,
  chosenVariant, lambdaStats, RELEVANT_HEADERS };
