#!/usr/bin/env bash
# Ion reader budgets at 4 MiB (bench/ion_budget.cpp): every worst case is
# accepted or refused as stated, each within 50 ms at -O2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
${CXX:-g++} -std=c++20 -O2 -fno-exceptions -fno-rtti -I"$root/include" "$root/bench/ion_budget.cpp" \
  "$root"/src/formats/ion*.cpp "$root/src/core/text.cpp" "$root/src/core/error.cpp" -o "$work/ion_budget"
"$work/ion_budget"
