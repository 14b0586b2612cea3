#!/usr/bin/env bash
# build.sh NAME OUT_DIR BINARY... — one Lambda layer zip per architecture: extensions/<name> with its run
# bit, which Lambda extracts to /opt/extensions/<name> (spec §5). BINARY is build/release/<arch>/<name>.
#
# Reproducible: the same binary gives the same zip bytes on any machine, in any directory, at any time
# (entries in a fixed order, fixed modes, mtime = SOURCE_DATE_EPOCH (else 2020-01-01) read in UTC,
# zip -X: no uid/gid or extra timestamp fields).
set -euo pipefail
name=$1 out=$2; shift 2
epoch=${SOURCE_DATE_EPOCH:-1577836800}
command -v zip >/dev/null || { echo "layer/build.sh: zip is not installed (make layer installs it)" >&2; exit 1; }
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for bin in "$@"; do
  arch=$(basename "$(dirname "$bin")")           # build/release/<arch>/<name>
  rm -rf "${stage:?}/extensions"
  mkdir -p "$stage/extensions"
  chmod 0755 "$stage/extensions"
  install -m 0755 "$bin" "$stage/extensions/$name"
  zip_path="$(cd "$out" && pwd)/$name-$arch.zip"
  rm -f "$zip_path"
  touch -d "@$epoch" "$stage/extensions" "$stage/extensions/$name"
  (cd "$stage" && TZ=UTC LC_ALL=C zip -q -X -9 "$zip_path" extensions extensions/"$name")
  touch -d "@$epoch" "$zip_path"
  printf '%-50s %8d bytes (binary %d bytes)\n' "$zip_path" "$(stat -c %s "$zip_path")" "$(stat -c %s "$bin")"
done
