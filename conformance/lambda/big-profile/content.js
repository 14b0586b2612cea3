// @ts-check
// The >1 MB profile's bytes. Lives next to the custom resource that stores it
// (its asset is this folder) and is required by lib/profiles.js, so the
// stack, run.js and the tests share one generator.
'use strict';

/** Deterministic JSON of exactly `bytes` bytes, the same on every run.
 * @param {number} bytes */
function bigJson(bytes) {
  const head = '{"conformance":"big","filler":"';
  const tail = '"}';
  const fillerLen = bytes - head.length - tail.length;
  if (fillerLen < 0) throw new Error(`bigJson: ${bytes} bytes is too small`);
  // 36 characters repeated: cheap to build, easy to eyeball in a capture.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return head + alphabet.repeat(Math.ceil(fillerLen / alphabet.length)).slice(0, fillerLen) + tail;
}

module.exports = { bigJson };
