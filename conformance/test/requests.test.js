// @ts-check
// The request list: unique ids, every profile and path form, every operator
// across its edges, the splits, and batches that respect Lambda's limits.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { buildRequests, batches, OPERATOR_CONTEXTS } = require('../lib/requests');
const { OPERATOR_FLAGS, SPLIT_FLAGS, PROFILES } = require('../lib/profiles');
const { loadKit } = require('../run');

const kit = loadKit(path.join(__dirname, '..', 'samples', 'kit.json'));

test('ids are unique and every group is known', () => {
  const reqs = buildRequests(kit, { splitIds: 50 });
  assert.equal(new Set(reqs.map((r) => r.id)).size, reqs.length);
  const groups = new Set(reqs.map((r) => r.group));
  for (const g of ['ping', 'path', 'head', 'bad', 'denied', 'missing', 'flag', 'ctx', 'ctx-form', 'entity', 'split']) {
    assert.ok(groups.has(g), `group ${g}`);
  }
});

test('every profile is read by names and by IDs; the unreadable and a missing one too', () => {
  const reqs = buildRequests(kit, { splitIds: 0 });
  const ids = new Set(reqs.map((r) => r.id));
  for (const p of PROFILES.filter((x) => x.readable)) {
    assert.ok(ids.has(`path/${p.key}/names`), p.key);
    assert.ok(ids.has(`path/${p.key}/ids`), p.key);
  }
  assert.ok(ids.has('denied/names') && ids.has('denied/ids') && ids.has('missing/profile'));
  const slash = reqs.find((r) => r.id === 'path/slash/names');
  assert.match(slash?.path || '', /configurations\/team%2Fslash-profile$/);
  const byIds = reqs.find((r) => r.id === 'path/json/ids');
  assert.equal(byIds?.path, '/applications/abc1234/environments/env5678/configurations/pjson01');
  assert.ok(reqs.some((r) => r.method === 'HEAD') && reqs.some((r) => r.raw));
});

test('?flag= one, many, unknown; Context across every operator edge', () => {
  const reqs = buildRequests(kit, { splitIds: 0 });
  const get = (/** @type {string} */ id) => reqs.find((r) => r.id === id);
  assert.match(get('flag/basic/one')?.path || '', /\?flag=alpha$/);
  assert.match(get('flag/basic/many')?.path || '', /\?flag=alpha&flag=gamma$/);
  assert.match(get('flag/basic/unknown')?.path || '', /\?flag=nope$/);
  for (const { flag } of OPERATOR_FLAGS) {
    const contexts = /** @type {Record<string, string[]>} */ (OPERATOR_CONTEXTS)[flag];
    assert.ok(contexts && contexts.length >= 3, flag);
    for (const c of contexts) assert.deepEqual(get(`ctx/${flag}/${c}`)?.headers, [['Context', c]]);
    assert.deepEqual(get(`ctx/${flag}/no-context`)?.headers, []);
  }
  assert.deepEqual(get('ctx-form/repeated-header')?.headers, [['Context', 'country=US'], ['Context', 'age=21']]);
});

test('2,000 entity IDs through each split by default', () => {
  const reqs = buildRequests(kit);
  for (const { flag } of SPLIT_FLAGS) {
    const s = reqs.filter((r) => r.group === 'split' && r.flag === flag);
    assert.equal(s.length, 2000, flag);
    assert.equal(new Set(s.map((r) => r.entity)).size, 2000);
    assert.deepEqual(s[7].headers, [['Context', 'userId=user-0007']]);
  }
});

test('batches: bounded size, the >1 MB profile alone, order kept', () => {
  const reqs = buildRequests(kit, { splitIds: 300 });
  const list = batches(reqs, 100);
  assert.deepEqual(list.flat().map((r) => r.id), reqs.map((r) => r.id));
  for (const b of list) {
    assert.ok(b.length >= 1 && b.length <= 100);
    if (b.some((r) => r.profile === 'big' && r.method !== 'HEAD')) assert.equal(b.length, 1);
  }
});
