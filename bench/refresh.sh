#!/usr/bin/env bash
# Upstream calls per invoke at steady state and CPU per refresh (see refresh.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/x86_64/appconfig-extension}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/appconfig-extension"
python3 "$root/bench/refresh.py" "$work/appconfig-extension"
