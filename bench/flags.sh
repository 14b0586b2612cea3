#!/usr/bin/env bash
# Cost of multi-variant evaluation: a cached read of a profile with 50 multi-variant flags,
# with 5 Context keys vs without Context, same server, same run (wrk, 1 connection).
# Per-request evaluation cost = 1/rps(context) - 1/rps(no context).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/x86_64/appconfig-extension}
duration=${DURATION:-5s}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/App:Env:Flags.application%ion%type=AWS.AppConfig.FeatureFlags" <<'PY'
import sys
out = []
for i in range(50):
    out.append(f"""'flag{i}'::[
  [ (and (eq $country "US") (gte $age {20 + i % 10})), '''{{"_variant":"us{i}","enabled":true,"n":{i}}}''' ],
  [ (in $tier ["gold", "platinum"]), '''{{"_variant":"tier{i}","enabled":true}}''' ],
  [ (begins_with $userId "beta-"), '''{{"_variant":"beta{i}","enabled":true}}''' ],
  [ (split pct::{10 + i % 50} by::$userId seed::"s{i}"), '''{{"_variant":"split{i}","enabled":true}}''' ],
  '''{{"_variant":"default{i}","enabled":false}}'''
]""")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
port=$((20000 + RANDOM % 10000))
LOCAL_DEVELOPMENT_DIRECTORY="$work" AWS_APPCONFIG_EXTENSION_HTTP_PORT=$port AWS_APPCONFIG_EXTENSION_LOG_LEVEL=warn \
  AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS=1h "$bin" &
pid=$!
url="http://127.0.0.1:$port/applications/App/environments/Env/configurations/Flags"
for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.05; done
ctx="Context: country=US,age=27,tier=silver,userId=user-42,plan=pro"
curl -sf -H "$ctx" "$url" | python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d)==50, len(d)"
rps() { wrk -t1 -c1 -d"$duration" "$@" | awk '/Requests\/sec/ {print $2}'; }
r0=$(rps "$url"); r1=$(rps -H "$ctx" "$url")
size=$(curl -s -H "$ctx" "$url" | wc -c)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
awk -v r0="$r0" -v r1="$r1" -v s="$size" -v h="$hwm" 'BEGIN {
  printf "no Context:   %8.0f req/s (%.1f us/request)\n", r0, 1e6/r0;
  printf "5 Context keys: %6.0f req/s (%.1f us/request), %d-byte answer over 50 flags\n", r1, 1e6/r1, s;
  printf "evaluation adds %.1f us per request (target < 20 us); peak RSS %d kB\n", 1e6/r1 - 1e6/r0, h }'
