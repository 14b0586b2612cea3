#!/usr/bin/env node
// @ts-check
// Writes the kit's profiles as local development files (spec §7; the same
// naming AWS documents for its agent's LOCAL_DEVELOPMENT_DIRECTORY), so the
// request list can run against two agents on this machine without AWS:
//
//   node local-profiles.js /tmp/kit-profiles
//   LOCAL_DEVELOPMENT_DIRECTORY=/tmp/kit-profiles <agent on port 2772>   # e.g. AWS's agent image
//   LOCAL_DEVELOPMENT_DIRECTORY=/tmp/kit-profiles AWS_APPCONFIG_EXTENSION_HTTP_PORT=2773 build/release/x86_64/appconfig-extension
//   node run.js --transport local --kit local-kit.json --official http://127.0.0.1:2772 --ours http://127.0.0.1:2773
//
// Left out: the profile with '/' in its name (not a file name) and the
// unreadable one (no IAM locally). Flag profiles are written in the
// retrieval format the service answers with: plain JSON for basic flags, Ion
// text for multi-variant flags (rules and variant JSON in order, default last).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const profiles = require('./lib/profiles');

/** Ion text string: '''…''' long string with the few characters it cannot hold escaped. @param {string} s */
function ionLong(s) {
  return `'''${s.replace(/\\/g, '\\\\').replace(/'''/g, "\\'''")}'''`;
}

/** The multi-variant profile in retrieval form (Ion text).
 * @param {{flags: Record<string, any>, values: Record<string, any>}} doc */
function variantsIon(doc) {
  const lines = ['$ion_1_0'];
  for (const flag of Object.keys(doc.flags)) {
    const v = doc.values[flag];
    if (!v._variants) {
      lines.push(`'${flag}'::${ionLong(JSON.stringify(v))}`);
      continue;
    }
    const items = v._variants.map((/** @type {any} */ variant) => {
      const json = JSON.stringify({ _variant: variant.name, enabled: variant.enabled, ...(variant.attributeValues || {}) });
      return variant.rule ? `  [ ${variant.rule}, ${ionLong(json)} ]` : `  ${ionLong(json)}`;
    });
    lines.push(`'${flag}'::[\n${items.join(',\n')}\n]`);
  }
  return `${lines.join('\n')}\n`;
}

/** Basic flags in retrieval form: {"flag": {"enabled": …, attributes…}}. @param {{values: Record<string, any>}} doc */
function basicFlagsJson(doc) {
  return JSON.stringify(doc.values);
}

/** @param {string} dir @returns {string[]} the files written */
function writeLocalProfiles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const prefix = `${profiles.APPLICATION_NAME}:${profiles.ENVIRONMENT_NAME}:`;
  /** @type {[string, string][]} */
  const files = [];
  for (const p of profiles.PROFILES) {
    if (!p.readable || p.key === 'slash') continue;
    if (p.key === 'variants') {
      files.push([`${p.name}.application%ion%type=AWS.AppConfig.FeatureFlags`, variantsIon(profiles.variantsProfile())]);
    } else if (p.key === 'flags') {
      files.push([`${p.name}.json`, basicFlagsJson(profiles.basicFlagsProfile())]);
    } else if (p.key === 'big') {
      files.push([`${p.name}.json`, profiles.bigJson(profiles.BIG_PROFILE_BYTES)]);
    } else {
      files.push([`${p.name}.${p.contentType === 'application/json' ? 'json' : p.contentType.replace('/', '%')}`, /** @type {string} */ (p.content)]);
    }
  }
  for (const [name, content] of files) fs.writeFileSync(path.join(dir, prefix + name), content);
  return files.map(([name]) => prefix + name);
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node local-profiles.js DIR\n');
    process.exit(2);
  }
  for (const f of writeLocalProfiles(dir)) process.stdout.write(`${path.join(dir, f)}\n`);
}

module.exports = { writeLocalProfiles, variantsIon, ionLong };
