#!/usr/bin/env bash
# Builds one Lambda layer zip per architecture: extensions/<name> with its run
# bit, which Lambda extracts to /opt/extensions/<name> (spec §5).
set -euo pipefail
name=$1 out=$2; shift 2
mkdir -p "$out"
for bin in "$@"; do
  arch=$(basename "$(dirname "$bin")")           # build/release/<arch>/<name>
  stage=$(mktemp -d)
  mkdir -p "$stage/extensions"
  install -m 0755 "$bin" "$stage/extensions/$name"
  zip_path="$(cd "$out" && pwd)/$name-$arch.zip"
  rm -f "$zip_path"
  # -X: no extra attributes; fixed mtime so the same binary gives the same zip.
  touch -d '2020-01-01 00:00:00' "$stage/extensions" "$stage/extensions/$name"
  (cd "$stage" && zip -q -X -9 "$zip_path" extensions extensions/"$name")
  rm -rf "$stage"
  printf '%-50s %8d bytes (binary %d bytes)\n' "$zip_path" "$(stat -c %s "$zip_path")" "$(stat -c %s "$bin")"
done
