// Benchmark driver for bench/tls.sh: N HTTPS GETs with our http_client
// (name from /etc/hosts, TCP, TLS handshake, GET, body) and the CPU / wall
// time they cost this process (getrusage RUSAGE_SELF, CLOCK_MONOTONIC).
//
// Usage: tls_client HOST PORT PATH CERT N new|reuse
//   new    every request on a fresh connection (the server closes after each
//          response: point it at a keepalive_timeout 0 server)
//   reuse  N requests over one kept-alive connection
//   ca     ignores the rest: parses the system CA bundle once (the lazy
//          trust-store load) and prints its cost
// One warm-up request (global_init, trust store, first handshake) runs before
// the measured loop in new/reuse mode; its cost is printed separately.
// Prints one line: "<mode> n=<N> cpu_us=<per request> wall_us=<per request> bytes=<body bytes>".
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"
#include "appconfig/net/tls.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace hc = appconfig::http_client;
namespace loop = appconfig::loop;
namespace tls = appconfig::tls;

namespace {

struct Run {
  hc::Client* client;
  hc::Endpoint ep;
  hc::Request req;
  int remaining = 0;
  int done = 0;
  bool failed = false;
  size_t bytes = 0;
};

void on_done(void* ctx, const hc::Result& r) {
  auto* run = static_cast<Run*>(ctx);
  if (r.error != hc::Error::kNone || r.response->status != 200) {
    std::fprintf(stderr, "request failed: %s: %s (status %d)\n", hc::error_message(r.error), r.detail,
                 r.response != nullptr ? r.response->status : 0);
    run->failed = true;
    return;
  }
  run->bytes = r.response->body.size();
  ++run->done;
  // The next request from inside the callback: it takes the connection as
  // soon as this one is back in the pool (or opens a new one).
  if (--run->remaining > 0) run->client->send(run->ep, run->req, &on_done, run);
}

uint64_t cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return uint64_t(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + uint64_t(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}
uint64_t wall_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

bool run_n(loop::Loop& lp, Run& run, int n) {
  run.remaining = n;
  run.done = 0;
  if (!run.client->send(run.ep, run.req, &on_done, &run).valid()) return false;
  while (run.done < n && !run.failed) lp.run_once(1000);
  return !run.failed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "ca") == 0) {
    tls::Error err;
    if (!tls::global_init(err)) return 1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
    tls::Session s;
    uint64_t w0 = wall_us(), c0 = cpu_us();
    if (!s.start(sv[0], "example.com", err)) {
      std::fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    uint64_t c1 = cpu_us(), w1 = wall_us();
    std::printf("ca roots=%zu parse_us=%llu cpu_us=%llu wall_us=%llu heap_kib=%zu\n", tls::ca_count(),
                static_cast<unsigned long long>(tls::ca_parse_cost_us()), static_cast<unsigned long long>(c1 - c0),
                static_cast<unsigned long long>(w1 - w0), tls::heap_in_use_bytes() / 1024);
    return 0;
  }
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s HOST PORT PATH CERT N new|reuse | %s ca\n", argv[0], argv[0]);
    return 2;
  }
  const int n = std::atoi(argv[5]);
  const bool reuse = std::strcmp(argv[6], "reuse") == 0;
  tls::set_ca_search_path_for_tests(argv[4]);
  loop::Loop lp;
  if (!lp.init()) return 1;
  hc::Client client;
  if (!client.init(&lp, 1)) return 1;
  Run run;
  run.client = &client;
  run.ep = hc::Endpoint{argv[1], static_cast<uint16_t>(std::atoi(argv[2])), true};
  run.req = hc::Request{"GET", argv[3], nullptr, 0, "", 10000};

  uint64_t w0 = wall_us(), c0 = cpu_us();
  if (!run_n(lp, run, 1)) return 1;  // warm-up: global_init, trust store, first handshake
  uint64_t c1 = cpu_us(), w1 = wall_us();
  if (!run_n(lp, run, n)) return 1;
  uint64_t c2 = cpu_us(), w2 = wall_us();
  std::printf("%s n=%d cpu_us=%.1f wall_us=%.1f bytes=%zu first_cpu_us=%llu first_wall_us=%llu\n",
              reuse ? "reuse" : "new", n, double(c2 - c1) / n, double(w2 - w1) / n, run.bytes,
              static_cast<unsigned long long>(c1 - c0), static_cast<unsigned long long>(w1 - w0));
  return 0;
}
