// @ts-check
// The configuration profiles the kit deploys, in one place: the CDK stack
// creates them, run.js builds its request list from them and deploys the
// change, and the tests check both against this list.
//
// Names are fixed (not generated) so that a report from one account can be
// compared with a report from another.
'use strict';

const APPLICATION_NAME = 'appconfig-conformance';
const ENVIRONMENT_NAME = 'conformance';
const STRATEGY_NAME = 'conformance-AllAtOnce-NoBake';

// The hosted configuration store takes 2 MB by default (AppConfig quotas;
// the spec's §4 says 4 MB at most on request). 1.5 MB is "larger than
// 1 MB" without needing a quota increase.
const BIG_PROFILE_BYTES = 1536 * 1024;

const { bigJson } = require('../lambda/big-profile/content');

/** One multi-variant flag per rule operator, each with a single rule so a
 * wrong answer names the operator. Rules use the forms AWS documents
 * (appconfig-creating-multi-variant-feature-flags-rules). */
const OPERATOR_FLAGS = [
  { flag: 'op_eq', rule: '(eq $country "US")' },
  { flag: 'op_gt', rule: '(gt $age 21)' },
  { flag: 'op_gte', rule: '(gte $age 21)' },
  { flag: 'op_lt', rule: '(lt $age 21)' },
  { flag: 'op_lte', rule: '(lte $age 21)' },
  { flag: 'op_and', rule: '(and (eq $country "US") (gte $age 21))' },
  { flag: 'op_or', rule: '(or (eq $tier "gold") (eq $tier "platinum"))' },
  { flag: 'op_not', rule: '(not (eq $country "US"))' },
  { flag: 'op_begins_with', rule: '(begins_with $email "admin")' },
  { flag: 'op_ends_with', rule: '(ends_with $email "@example.com")' },
  { flag: 'op_contains', rule: '(contains $email "example")' },
  { flag: 'op_in', rule: '(in $country ["US", "CA"])' },
  { flag: 'op_matches', rule: '(matches in::$email pattern::"^[a-z]+@example\\\\.com$")' },
  { flag: 'op_exists', rule: '(exists key::"beta")' },
  { flag: 'op_float', rule: '(gte $score 2.5)' },
  { flag: 'op_timestamp', rule: '(lt $signup 2024-01-01T00:00:00Z)' },
];

/** Splits: cumulative thresholds over one hash, with and without a seed. */
const SPLIT_FLAGS = [
  {
    flag: 'split_noseed',
    variants: [
      { name: 'TenPercent', rule: '(split by::$userId pct::10)' },
      { name: 'FiftyPercent', rule: '(split by::$userId pct::50)' },
    ],
  },
  {
    flag: 'split_seed',
    variants: [{ name: 'ThirtyPercent', rule: '(split by::$userId pct::30 seed::"conformance")' }],
  },
];

/** The multi-variant profile in the hosted-store format
 * (AWS.AppConfig.FeatureFlags type reference: flags, values, _variants with
 * name, enabled, rule, attributeValues; the default variant last, no rule). */
function variantsProfile() {
  /** @type {Record<string, any>} */
  const flags = {};
  /** @type {Record<string, any>} */
  const values = {};
  for (const { flag, rule } of OPERATOR_FLAGS) {
    flags[flag] = { name: flag, attributes: { op: { constraints: { type: 'string' } } } };
    values[flag] = {
      enabled: false,
      _variants: [
        { name: 'Match', enabled: true, rule, attributeValues: { op: flag } },
        { name: 'Default', enabled: false, attributeValues: { op: 'default' } },
      ],
    };
  }
  for (const { flag, variants } of SPLIT_FLAGS) {
    flags[flag] = { name: flag };
    values[flag] = {
      enabled: false,
      _variants: [
        ...variants.map((v) => ({ name: v.name, enabled: true, rule: v.rule })),
        { name: 'Default', enabled: false },
      ],
    };
  }
  // A flag without variants in the same profile: answered as a basic flag.
  flags.plain = { name: 'plain' };
  values.plain = { enabled: true };
  return { version: '1', flags, values };
}

function basicFlagsProfile() {
  return {
    version: '1',
    flags: {
      alpha: { name: 'alpha', attributes: { limit: { constraints: { type: 'number' } } } },
      beta: { name: 'beta' },
      gamma: { name: 'gamma', attributes: { colour: { constraints: { type: 'string' } } } },
    },
    values: {
      alpha: { enabled: true, limit: 10 },
      beta: { enabled: false },
      gamma: { enabled: true, colour: 'blue' },
    },
  };
}

/**
 * key: stable handle used by run.js and the report; name: the AppConfig name
 * (what the paths use); readable: in the functions' IAM policy.
 * `content` is what the stack stores; `big` ones are created by the custom
 * resource instead (CloudFormation templates are limited to 1 MB).
 * @typedef {{key: string, name: string, type: 'AWS.Freeform'|'AWS.AppConfig.FeatureFlags',
 *   contentType: string, content?: string, big?: boolean, readable: boolean,
 *   flags?: string[]}} Profile
 * @type {Profile[]}
 */
const PROFILES = [
  {
    key: 'json', name: 'json-profile', type: 'AWS.Freeform', contentType: 'application/json',
    content: JSON.stringify({ service: 'conformance', retries: 3, nested: { list: [1, 2, 3], unicode: 'Jürgen ✓' } }),
    readable: true,
  },
  {
    key: 'text', name: 'text-profile', type: 'AWS.Freeform', contentType: 'text/plain',
    content: 'plain text line 1\nline 2 with trailing spaces   \n', readable: true,
  },
  {
    key: 'yaml', name: 'yaml-profile', type: 'AWS.Freeform', contentType: 'application/x-yaml',
    content: 'service: conformance\nretries: 3\nlist:\n  - a\n  - b\n', readable: true,
  },
  {
    // A name with '/': paths carry it percent-encoded (spec §1).
    key: 'slash', name: 'team/slash-profile', type: 'AWS.Freeform', contentType: 'text/plain',
    content: 'slash profile\n', readable: true,
  },
  {
    key: 'flags', name: 'flags-basic', type: 'AWS.AppConfig.FeatureFlags', contentType: 'application/json',
    content: JSON.stringify(basicFlagsProfile()), readable: true, flags: ['alpha', 'beta', 'gamma'],
  },
  {
    key: 'variants', name: 'flags-variants', type: 'AWS.AppConfig.FeatureFlags', contentType: 'application/json',
    content: JSON.stringify(variantsProfile()), readable: true,
    flags: [...OPERATOR_FLAGS.map((f) => f.flag), ...SPLIT_FLAGS.map((f) => f.flag), 'plain'],
  },
  {
    key: 'big', name: 'big-profile', type: 'AWS.Freeform', contentType: 'application/json', big: true, readable: true,
  },
  {
    // Left out of the functions' IAM policy on purpose.
    key: 'denied', name: 'denied-profile', type: 'AWS.Freeform', contentType: 'application/json',
    content: JSON.stringify({ secret: 'the functions may not read this' }), readable: false,
  },
];

/** The change run.js deploys between the two rounds of reads. */
const CHANGED = {
  json: (/** @type {string} */ runId) => JSON.stringify({ service: 'conformance', retries: 4, changedBy: runId }),
  flags: (/** @type {string} */ runId) => {
    const p = basicFlagsProfile();
    p.values.beta = { enabled: true };
    p.values.alpha.limit = 11;
    // @ts-ignore: a run marker in an attribute-less flag would be rejected; keep it in the description.
    p.flags.beta.description = `changed by ${runId}`;
    return JSON.stringify(p);
  },
};

module.exports = {
  APPLICATION_NAME, ENVIRONMENT_NAME, STRATEGY_NAME, BIG_PROFILE_BYTES, OPERATOR_FLAGS, SPLIT_FLAGS,
  PROFILES, CHANGED, bigJson, variantsProfile, basicFlagsProfile,
};
