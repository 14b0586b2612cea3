#!/usr/bin/env bash
# Cost of metrics on the read path: the same cached read against two servers started from the same
# binary, one with metrics off and one with METRICS=prometheus (every read counted), measured in
# alternation in the same run (wrk, 1 connection), then scraped once to check the count is real.
# Per-read cost = 1/rps(on) - 1/rps(off); the ratio rps(on)/rps(off) is the figure to keep near 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/x86_64/appconfig-extension}
duration=${DURATION:-5s}
rounds=${ROUNDS:-3}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
start() {  # port, metrics
  LOCAL_DEVELOPMENT_DIRECTORY="$root/examples/local" HTTP_PORT=$1 LOG_LEVEL=warn POLL_INTERVAL=1h METRICS=$2 "$bin" &
  pids+=($!)
}
off_port=$((20000 + RANDOM % 5000)); on_port=$((off_port + 5000))
start "$off_port" off
start "$on_port" prometheus
path=/applications/MyApp/environments/Production/configurations/Settings
for port in "$off_port" "$on_port"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.05; done
done
rps() { wrk -t1 -c1 -d"$duration" "http://127.0.0.1:$1$path" | awk '/Requests\/sec/ {print $2}'; }
off=(); on=()
for _ in $(seq "$rounds"); do off+=("$(rps "$off_port")"); on+=("$(rps "$on_port")"); done
counted=$(curl -sf "http://127.0.0.1:$on_port/metrics" |
  awk '/^appconfig_cached_reads_total\{.*profile="Settings"\}/ {print $2}')
[ -n "$counted" ] && [ "$counted" -gt 1000 ] || { echo "metrics did not count the reads ($counted)" >&2; exit 1; }
awk -v offs="${off[*]}" -v ons="${on[*]}" -v counted="$counted" 'BEGIN {
  n = split(offs, a, " "); split(ons, b, " ");
  for (i = 1; i <= n; i++) { off += a[i]; on += b[i] }
  off /= n; on /= n;
  printf "metrics off: %8.0f req/s (%.2f us/read)\n", off, 1e6/off;
  printf "metrics on:  %8.0f req/s (%.2f us/read), %d reads counted\n", on, 1e6/on, counted;
  printf "ratio on/off %.3f; metrics add %.2f us per read (mean of %d alternating rounds each)\n", on/off, 1e6/on - 1e6/off, n }'
