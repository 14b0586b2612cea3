#!/usr/bin/env bash
# Cached-read throughput and latency: our server vs nginx serving the same
# bytes from a file, same machine, same run (ratios, not absolute numbers).
# Usage: bench/server.sh [BINARY] ; DURATION=5s by default.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/x86_64/appconfig-extension}
duration=${DURATION:-5s}
command -v wrk >/dev/null || { echo "wrk is not installed (make deps)"; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is not installed (make deps)"; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
trap 'kill $ours $ngx 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/local" "$work/www/applications/A/environments/E/configurations" "$work/nginx/logs"
cp "$root/examples/local/MyApp:Production:Settings.json" "$work/local/A:E:P.json"
cp "$work/local/A:E:P.json" "$work/www/applications/A/environments/E/configurations/P"

port_ours=$((20000 + RANDOM % 10000)); port_ngx=$((port_ours + 1))
LOCAL_DEVELOPMENT_DIRECTORY="$work/local" AWS_APPCONFIG_EXTENSION_HTTP_PORT=$port_ours \
  AWS_APPCONFIG_EXTENSION_LOG_LEVEL=warn AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS=1h "$bin" &
ours=$!
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
user root;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$port_ngx;
    root $work/www;
    location / { }
  }
}
CONF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
ngx=$!
url_ours="http://127.0.0.1:$port_ours/applications/A/environments/E/configurations/P"
url_ngx="http://127.0.0.1:$port_ngx/applications/A/environments/E/configurations/P"
for u in "$url_ours" "$url_ngx"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "$u" && break; sleep 0.05; done
done
cmp <(curl -s "$url_ours") <(curl -s "$url_ngx") || { echo "the two servers answer different bytes"; exit 1; }

to_us() { # wrk latency (e.g. 52.00us, 1.20ms, 2.1s) -> microseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'
}
run() { # url conns -> "rps p50us p99us"
  local out; out=$(wrk -t1 -c"$2" -d"$duration" --latency "$1")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $(to_us "$p50") $(to_us "$p99")"
}
printf '%-6s %-8s %12s %10s %10s\n' conns server req/s p50_us p99_us
for c in 1 10; do
  read -r r1 a1 b1 < <(run "$url_ours" $c)
  read -r r2 a2 b2 < <(run "$url_ngx" $c)
  printf '%-6s %-8s %12.0f %10.1f %10.1f\n' $c ours "$r1" "$a1" "$b1"
  printf '%-6s %-8s %12.0f %10.1f %10.1f\n' $c nginx "$r2" "$a2" "$b2"
  awk -v c=$c -v r1="$r1" -v r2="$r2" -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" \
    'BEGIN { printf "%-6s ratio    throughput %.2fx nginx, p50 %.2fx, p99 %.2fx\n", c, r1/r2, a1/a2, b1/b2 }'
done
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$ours/status)
echo "peak RSS (VmHWM) of our server after the runs above: ${rss_kb} kB"
