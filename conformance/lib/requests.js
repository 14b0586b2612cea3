// @ts-check
// The request list: every request run.js sends to both functions, each with a
// stable id ("group/what/variant") that the report, the expected-difference
// rules (expected.json) and the sample recordings key on.
'use strict';

const { OPERATOR_FLAGS, SPLIT_FLAGS } = require('./profiles');

/**
 * @typedef {{id: string, group: string, method: string, path: string,
 *   headers: [string, string][], raw?: string, profile?: string, flag?: string, entity?: string}} Request
 * @typedef {{applicationId: string, applicationName: string, environmentId: string, environmentName: string,
 *   profiles: Record<string, {id: string, name: string}>}} Kit
 */

/** Context values at and around each rule's edge, and with the key missing. */
const OPERATOR_CONTEXTS = {
  op_eq: ['country=US', 'country=us', 'country=USA', 'other=1'],
  op_gt: ['age=20', 'age=21', 'age=22', 'age=21.0', 'age=21.5', 'age=abc', 'other=1'],
  op_gte: ['age=20', 'age=21', 'age=22', 'age=20.999', 'age=+21', 'other=1'],
  op_lt: ['age=20', 'age=21', 'age=22', 'age=-5', 'age=2e1', 'other=1'],
  op_lte: ['age=20', 'age=21', 'age=22', 'age=021', 'other=1'],
  op_and: ['country=US,age=21', 'country=US,age=20', 'country=CA,age=30', 'country=US'],
  op_or: ['tier=gold', 'tier=platinum', 'tier=silver', 'tier=Gold', 'other=1'],
  op_not: ['country=US', 'country=CA', 'other=1'],
  op_begins_with: ['email=admin@x.org', 'email=xadmin@x.org', 'email=ADMIN@x.org', 'email=admin', 'other=1'],
  op_ends_with: ['email=a@example.com', 'email=a@example.com.evil', 'email=a@EXAMPLE.com', 'other=1'],
  op_contains: ['email=myexample@x.org', 'email=none@x.org', 'email=example', 'other=1'],
  op_in: ['country=US', 'country=CA', 'country=MX', 'country=U', 'other=1'],
  op_matches: ['email=abc@example.com', 'email=abc@exampleXcom', 'email=ABC@example.com', 'email=abc@example.com.au', 'other=1'],
  op_exists: ['beta=1', 'beta=', 'other=1'],
  op_float: ['score=2.5', 'score=2.49', 'score=3', 'score=2.5e0', 'score=two', 'other=1'],
  op_timestamp: ['signup=2023-12-31T23:59:59Z', 'signup=2024-01-01T00:00:00Z', 'signup=2023-06',
    'signup=2024-01-01T00:30:00+01:00', 'signup=2024', 'signup=yesterday', 'other=1'],
};

/** @param {number} i */
const entityId = (i) => `user-${String(i).padStart(4, '0')}`;

/** @param {string} s */
const enc = (s) => encodeURIComponent(s);

/**
 * @param {Kit} kit
 * @param {{splitIds?: number}} [opts] splitIds: entity IDs sent through each split (default 2000)
 * @returns {Request[]}
 */
function buildRequests(kit, opts = {}) {
  const splitIds = opts.splitIds ?? 2000;
  const A = kit.applicationName;
  const E = kit.environmentName;
  const P = kit.profiles;
  /** @type {Request[]} */
  const out = [];
  /** @param {Partial<Request> & {id: string, path: string}} r */
  const add = (r) => out.push({ method: 'GET', headers: [], group: r.id.split('/')[0], ...r });
  const byNames = (/** @type {string} */ profileName) => `/applications/${enc(A)}/environments/${enc(E)}/configurations/${enc(profileName)}`;
  const byIds = (/** @type {string} */ profileId) => `/applications/${kit.applicationId}/environments/${kit.environmentId}/configurations/${profileId}`;

  // Health check first, before any configuration is cached.
  add({ id: 'ping/get', path: '/ping' });

  // Every profile by names and by IDs: the first read of each is a first fetch.
  for (const key of ['json', 'text', 'yaml', 'slash', 'flags', 'variants', 'big']) {
    add({ id: `path/${key}/names`, path: byNames(P[key].name), profile: key });
    add({ id: `path/${key}/ids`, path: byIds(P[key].id), profile: key });
  }
  // Mixed forms and spellings, on the JSON profile.
  const json = P.json;
  add({ id: 'path/json/app-id', path: `/applications/${kit.applicationId}/environments/${enc(E)}/configurations/${enc(json.name)}`, profile: 'json' });
  add({ id: 'path/json/env-id', path: `/applications/${enc(A)}/environments/${kit.environmentId}/configurations/${enc(json.name)}`, profile: 'json' });
  add({ id: 'path/json/profile-id', path: `/applications/${enc(A)}/environments/${enc(E)}/configurations/${json.id}`, profile: 'json' });
  add({ id: 'path/json/percent-encoded-letter', path: byNames(json.name).replace(/json-profile$/, '%6Ason-profile'), profile: 'json' });
  add({ id: 'path/json/query-unknown', path: `${byNames(json.name)}?foo=bar`, profile: 'json' });
  add({ id: 'path/json/trailing-slash', path: `${byNames(json.name)}/`, profile: 'json' });
  add({ id: 'path/slash/lowercase-escape', path: byNames(P.slash.name).replace('%2F', '%2f'), profile: 'slash' });
  add({ id: 'path/slash/unescaped', path: `/applications/${enc(A)}/environments/${enc(E)}/configurations/${P.slash.name}`, profile: 'slash' });

  // HEAD: as GET without a body.
  add({ id: 'head/ping', method: 'HEAD', path: '/ping' });
  add({ id: 'head/json', method: 'HEAD', path: byNames(json.name), profile: 'json' });
  add({ id: 'head/big', method: 'HEAD', path: byNames(P.big.name), profile: 'big' });
  add({ id: 'head/missing', method: 'HEAD', path: byNames('does-not-exist') });

  // Bad requests.
  add({ id: 'bad/root', path: '/' });
  add({ id: 'bad/unknown-path', path: '/nothing-here' });
  add({ id: 'bad/short', path: `/applications/${enc(A)}/environments/${enc(E)}` });
  add({ id: 'bad/configurations-empty', path: `/applications/${enc(A)}/environments/${enc(E)}/configurations/` });
  add({ id: 'bad/extra-segment', path: `${byNames(json.name)}/extra` });
  add({ id: 'bad/double-slash', path: `/applications//environments/${enc(E)}/configurations/${enc(json.name)}` });
  add({ id: 'bad/percent', path: `/applications/${enc(A)}/environments/${enc(E)}/configurations/json%ZZprofile` });
  add({ id: 'bad/name-129-chars', path: byNames('n'.repeat(129)) });
  add({ id: 'bad/method-post', method: 'POST', path: byNames(json.name), headers: [['Content-Length', '0']] });
  add({ id: 'bad/method-delete', method: 'DELETE', path: byNames(json.name) });
  add({ id: 'bad/x-forwarded-for', path: byNames(json.name), headers: [['X-Forwarded-For', '203.0.113.7']] });
  add({ id: 'bad/raw-http10', path: '/ping', raw: Buffer.from('GET /ping HTTP/1.0\r\n\r\n').toString('base64') });
  add({ id: 'bad/raw-garbage', path: '', raw: Buffer.from('HELLO THERE\r\n\r\n').toString('base64') });
  add({ id: 'bad/raw-lf-only', path: '/ping', raw: Buffer.from('GET /ping HTTP/1.1\nHost: localhost\nConnection: close\n\n').toString('base64') });

  // The profile the functions' role may not read, twice (is the error cached?).
  add({ id: 'denied/names', path: byNames(P.denied.name), profile: 'denied' });
  add({ id: 'denied/ids', path: byIds(P.denied.id), profile: 'denied' });
  add({ id: 'denied/again', path: byNames(P.denied.name), profile: 'denied' });
  // Things that do not exist.
  add({ id: 'missing/profile', path: byNames('does-not-exist') });
  add({ id: 'missing/profile-again', path: byNames('does-not-exist') });
  add({ id: 'missing/application', path: `/applications/no-such-app/environments/${enc(E)}/configurations/${enc(json.name)}` });
  add({ id: 'missing/environment', path: `/applications/${enc(A)}/environments/no-such-env/configurations/${enc(json.name)}` });

  // ?flag= on the basic flag profile, and on a profile that is not flags.
  const flags = byNames(P.flags.name);
  const flagCases = /** @type {[string, string][]} */ ([
    ['all', ''], ['one', '?flag=alpha'], ['disabled', '?flag=beta'], ['many', '?flag=alpha&flag=gamma'],
    ['many-reversed', '?flag=gamma&flag=alpha'], ['repeat', '?flag=alpha&flag=alpha'], ['unknown', '?flag=nope'],
    ['mixed-unknown', '?flag=alpha&flag=nope'], ['empty', '?flag='], ['encoded', '?flag=%61lpha'],
    ['other-param', '?flag=alpha&x=1'],
  ]);
  for (const [what, q] of flagCases) add({ id: `flag/basic/${what}`, path: flags + q, profile: 'flags' });
  add({ id: 'flag/json/non-flag-profile', path: `${byNames(json.name)}?flag=retries`, profile: 'json' });
  add({ id: 'flag/text/non-flag-profile', path: `${byNames(P.text.name)}?flag=x`, profile: 'text' });

  // The multi-variant profile: whole, then one operator at a time across its edges.
  const variants = byNames(P.variants.name);
  add({ id: 'flag/variants/all-no-context', path: variants, profile: 'variants' });
  add({ id: 'flag/variants/all-with-context', path: variants, profile: 'variants',
    headers: [['Context', 'country=US,age=30,tier=gold,email=admin@example.com,beta=1,score=3,signup=2023-01-01T00:00:00Z,userId=user-0001']] });
  add({ id: 'flag/variants/plain', path: `${variants}?flag=plain`, profile: 'variants', headers: [['Context', 'country=US']] });
  add({ id: 'flag/variants/unknown', path: `${variants}?flag=nope`, profile: 'variants', headers: [['Context', 'country=US']] });
  add({ id: 'flag/variants/many', path: `${variants}?flag=op_eq&flag=op_in`, profile: 'variants', headers: [['Context', 'country=CA']] });
  for (const { flag } of OPERATOR_FLAGS) {
    add({ id: `ctx/${flag}/no-context`, path: `${variants}?flag=${flag}`, profile: 'variants', flag });
    for (const c of /** @type {Record<string, string[]>} */ (OPERATOR_CONTEXTS)[flag]) {
      add({ id: `ctx/${flag}/${c}`, path: `${variants}?flag=${flag}`, profile: 'variants', flag, headers: [['Context', c]] });
    }
  }
  // Context header forms, on op_and (two keys).
  const and = `${variants}?flag=op_and`;
  add({ id: 'ctx-form/comma', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', 'country=US,age=21']] });
  add({ id: 'ctx-form/repeated-header', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', 'country=US'], ['Context', 'age=21']] });
  add({ id: 'ctx-form/spaces', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', ' country = US , age = 21 ']] });
  add({ id: 'ctx-form/percent', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', 'country=U%53,age=2%31']] });
  add({ id: 'ctx-form/repeated-key-last-wins', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', 'country=CA,country=US,age=21']] });
  add({ id: 'ctx-form/lowercase-header', path: and, profile: 'variants', flag: 'op_and', headers: [['context', 'country=US,age=21']] });
  add({ id: 'ctx-form/malformed-no-equals', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', 'country']] });
  add({ id: 'ctx-form/malformed-empty-key', path: and, profile: 'variants', flag: 'op_and', headers: [['Context', '=US']] });
  add({ id: 'ctx-form/on-json-profile', path: byNames(json.name), profile: 'json', headers: [['Context', 'country=US']] });
  // Entity-Id instead of Context (spec §1: accepted and ignored by us).
  for (let i = 0; i < 5; ++i) {
    add({ id: `entity/split_noseed/${entityId(i)}`, path: `${variants}?flag=split_noseed`, profile: 'variants',
      flag: 'split_noseed', entity: entityId(i), headers: [['Entity-Id', entityId(i)]] });
  }

  // Splits: the same entity IDs through each split flag.
  for (const { flag } of SPLIT_FLAGS) {
    for (let i = 0; i < splitIds; ++i) {
      add({ id: `split/${flag}/${entityId(i)}`, path: `${variants}?flag=${flag}`, profile: 'variants',
        flag, entity: entityId(i), headers: [['Context', `userId=${entityId(i)}`]] });
    }
  }
  const ids = new Set();
  for (const r of out) {
    if (ids.has(r.id)) throw new Error(`request id ${r.id} is used twice`);
    ids.add(r.id);
  }
  return out;
}

/** Batches for one Lambda invoke each: at most `size` requests, and a
 * request for the >1 MB profile alone (Lambda answers are limited to 6 MB).
 * @param {Request[]} requests @param {number} size */
function batches(requests, size) {
  /** @type {Request[][]} */
  const out = [];
  /** @type {Request[]} */
  let cur = [];
  for (const r of requests) {
    if (r.profile === 'big' && r.method !== 'HEAD') {
      if (cur.length) out.push(cur);
      out.push([r]);
      cur = [];
      continue;
    }
    cur.push(r);
    if (cur.length >= size) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

module.exports = { buildRequests, batches, entityId, OPERATOR_CONTEXTS };
