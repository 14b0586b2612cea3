#!/usr/bin/env bash
# TLS client cost: a full HTTPS request (name from /etc/hosts, TCP, TLS 1.3
# handshake, GET of a 10 KB body) with our http_client (mbedTLS) vs curl
# (OpenSSL), same server (nginx, TLS 1.3, P-256 certificate, no session
# resumption), same run. CPU time is the client's only (getrusage), per
# request, on a new connection each time and on one reused connection.
# Also prints the one-off cost of parsing the system CA bundle (lazy, on the
# first TLS connection).
#
# Usage: bench/tls.sh [ignored BINARY]   N_NEW=200 N_REUSE=2000 by default.
# Targets (issue 4): new-connection CPU within 2x curl's; reused-connection
# request under 100 µs CPU. Exits non-zero only if something fails to run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n_new=${N_NEW:-200}
n_reuse=${N_REUSE:-2000}
command -v curl >/dev/null || { echo "curl is not installed"; exit 1; }
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "nginx is not installed (make deps)"; exit 1; }

work=$(mktemp -d)
ngx=
trap '[ -n "$ngx" ] && kill $ngx 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# ---- the driver: our objects built with the native flags (make native's CXXFLAGS default -O2)
mbed_dir=${MBEDTLS_DIR:-$root/.deps/mbedtls-3.6.6}
mbed_lib=$root/build/mbedtls/native/libmbedtls_all.a
[ -f "$mbed_lib" ] || make -C "$root" -s "build/mbedtls/native/libmbedtls_all.a"
cxx=${CXX:-g++}
flags="-std=c++20 -fno-exceptions -fno-rtti -O2 -Wall -Wextra -Werror -Wno-format-truncation -I$root/include \
  -I$mbed_dir/include -DMBEDTLS_CONFIG_FILE=\"$root/src/mbedtls/config.h\""
objs=()
for m in net/http_client net/proxy net/tls net/http_parse net/dns_wire core/loop core/sysfile core/text core/error; do
  $cxx $flags -c "$root/src/$m.cpp" -o "$work/${m//\//_}.o"
  objs+=("$work/${m//\//_}.o")
done
$cxx $flags "$root/bench/tls_client.cpp" "${objs[@]}" "$mbed_lib" -o "$work/tls_client"

# ---- server: nginx, TLS 1.3 only, full handshakes (no tickets, no cache). Two
# certificates: RSA-2048 (what AWS endpoints present) and ECDSA P-256.
mkdir -p "$work/www" "$work/logs"
head -c 10240 /dev/urandom | base64 -w 0 | head -c 10240 > "$work/www/body"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/rsa.key" -out "$work/rsa.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/ec.key" -out "$work/ec.pem" 2>/dev/null
base=$((30000 + RANDOM % 10000))
declare -A port_close port_keep
port_close[rsa]=$base; port_keep[rsa]=$((base + 1)); port_close[ec]=$((base + 2)); port_keep[ec]=$((base + 3))
servers=
for k in rsa ec; do
  servers+="  server { listen 127.0.0.1:${port_close[$k]} ssl; ssl_certificate $work/$k.pem; ssl_certificate_key $work/$k.key;
           keepalive_timeout 0; root $work/www; }
  server { listen 127.0.0.1:${port_keep[$k]} ssl; ssl_certificate $work/$k.pem; ssl_certificate_key $work/$k.key;
           keepalive_requests 1000000; keepalive_timeout 60s; root $work/www; }
"
done
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
user root;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  default_type application/octet-stream;
  ssl_protocols TLSv1.3;
  ssl_session_tickets off;
  ssl_session_cache off;
$servers}
CONF
"$nginx_bin" -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
ngx=$!
for k in rsa ec; do
  for _ in $(seq 100); do
    curl -sf --cacert "$work/$k.pem" -o /dev/null "https://localhost:${port_keep[$k]}/body" && break; sleep 0.05
  done
done

# ---- curl: CPU of the child process (user+sys) for K URLs in one process;
# the per-request figure is (T(n+1) - T(1)) / n, so process start-up, OpenSSL
# initialisation and loading the one trusted certificate cancel out.
curl_cpu_us() { # cert port count -> "cpu_us wall_us" for the whole process
  local cert=$1 port=$2 count=$3 cfg=$work/curl.cfg
  : > "$cfg"
  for _ in $(seq "$count"); do printf 'url = "https://localhost:%s/body"\noutput = "/dev/null"\n' "$port" >> "$cfg"; done
  python3 - "$cert" "$cfg" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(["curl", "-sS", "--fail", "--no-sessionid", "--cacert", sys.argv[1], "-K", sys.argv[2]], check=True)
t1 = time.monotonic()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(int((ru.ru_utime + ru.ru_stime) * 1e6), int((t1 - t0) * 1e6))
PY
}
curl_per_req() { # cert port n -> "cpu_us wall_us start_cpu_us" per request (marginal)
  read -r c1 w1 < <(curl_cpu_us "$1" "$2" 1)
  read -r cn wn < <(curl_cpu_us "$1" "$2" $(($3 + 1)))
  awk -v c1="$c1" -v w1="$w1" -v cn="$cn" -v wn="$wn" -v n="$3" 'BEGIN { printf "%.1f %.1f %d\n", (cn-c1)/n, (wn-w1)/n, c1 }'
}
ours() { # cert port n mode -> "cpu_us wall_us bytes first_cpu_us"
  "$work/tls_client" localhost "$2" /body "$1" "$3" "$4" |
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["cpu_us"], v["wall_us"], v["bytes"], v["first_cpu_us"] }'
}

echo "== TLS client: ours (mbedTLS 3.6, -O2) vs curl $(curl --version | head -1 | awk '{print $2}') ($(curl --version | head -1 | grep -o 'OpenSSL/[0-9.]*'))"
echo "   10 KB body, TLS 1.3, nginx on 127.0.0.1, host 'localhost' from /etc/hosts, no resumption;"
echo "   CPU = client user+sys per request; new: N_NEW=$n_new, reused: N_REUSE=$n_reuse"
printf '%-5s %-18s %12s %12s %8s %13s %13s\n' cert case ours_cpu_us curl_cpu_us ratio ours_wall_us curl_wall_us
for k in rsa ec; do
  read -r o_new_cpu o_new_wall o_bytes o_first < <(ours "$work/$k.pem" "${port_close[$k]}" "$n_new" new)
  [ "$o_bytes" = 10240 ] || { echo "unexpected body size $o_bytes"; exit 1; }
  read -r o_re_cpu o_re_wall _ _ < <(ours "$work/$k.pem" "${port_keep[$k]}" "$n_reuse" reuse)
  read -r c_new_cpu c_new_wall c_start < <(curl_per_req "$work/$k.pem" "${port_close[$k]}" "$n_new")
  read -r c_re_cpu c_re_wall _ < <(curl_per_req "$work/$k.pem" "${port_keep[$k]}" "$n_reuse")
  awk -v k="$k" -v a="$o_new_cpu" -v b="$c_new_cpu" -v aw="$o_new_wall" -v bw="$c_new_wall" \
      -v r="$o_re_cpu" -v rc="$c_re_cpu" -v rw="$o_re_wall" -v rcw="$c_re_wall" 'BEGIN {
    printf "%-5s %-18s %12.1f %12.1f %7.2fx %13.1f %13.1f   target <= 2x curl: %s\n", k, "new connection", a, b, a / b, aw, bw, (a <= 2 * b ? "met" : "MISSED")
    printf "%-5s %-18s %12.1f %12.1f %7.2fx %13.1f %13.1f   target < 100 us: %s\n", k, "reused connection", r, rc, r / rc, rw, rcw, (r < 100 ? "met" : "MISSED") }'
  echo "      first request in the driver (global_init, 1-cert trust store, handshake): ${o_first} us CPU; one curl process with 1 request: ${c_start} us CPU"
done
echo "lazy system CA bundle parse (first TLS connection only): $("$work/tls_client" ca)"
