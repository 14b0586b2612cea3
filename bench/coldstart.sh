#!/usr/bin/env bash
# Cold start: exec -> first /event/next over RUNS starts (default 200), ours vs a
# minimal static C extension doing only register + /next (the floor), same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/x86_64/appconfig-extension}
runs=${RUNS:-200}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
musl-gcc -static -Os -s -o "$work/floor-extension" "$root/bench/floor_extension.c"
cp "$bin" "$work/appconfig-extension"
python3 "$root/bench/coldstart.py" "$work/appconfig-extension" "$work/floor-extension" "$runs"
