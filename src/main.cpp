// main: wiring only. Settings -> log -> cache -> listeners -> source -> loop.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "appconfig/cache.h"
#include "appconfig/http_server.h"
#include "appconfig/localdev.h"
#include "appconfig/log.h"
#include "appconfig/loop.h"
#include "appconfig/service.h"
#include "appconfig/settings.h"

extern char** environ;

namespace {

using namespace appconfig;

// Entries in the cache table: far above the configurations one function reads.
constexpr size_t kMaxCacheEntries = 1024;

void fatal(const char* msg) {
  char line[700];
  int n = snprintf(line, sizeof line, "[appconfig-extension] FATAL %s\n", msg);
  if (n > 0) {
    ssize_t r = write(2, line, static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1);
    (void)r;
  }
}

void on_signal(void* ctx, int signo) {
  auto* lp = static_cast<loop::Loop*>(ctx);
  if (signo == SIGHUP) {
    LOG_INFO("SIGHUP: nothing to reload in this mode");
    return;
  }
  LOG_INFO("%s: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  lp->stop();
}

}  // namespace

int main() {
  static settings::Settings cfg;  // large (fixed storage); not on the stack
  settings::Error err;
  if (!settings::load(environ, cfg, err)) {
    fatal(err.message);
    return 2;
  }
  int log_fd = 2;
  if (!cfg.log_path.empty()) {
    char path[4096];
    snprintf(path, sizeof path, "%.*s", static_cast<int>(cfg.log_path.size()), cfg.log_path.data());
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      char msg[600];
      snprintf(msg, sizeof msg, "LOG_PATH=\"%s\" cannot be opened: %s", path, strerror(errno));
      fatal(msg);
      return 2;
    }
  }
  log::init(cfg.log_level, log_fd, cfg.mode == settings::Mode::kAgent);

  static loop::Loop lp;
  if (!lp.init()) {
    fatal("cannot set up the event loop (poll set, signals)");
    return 1;
  }
  lp.on_signal(&on_signal, &lp);

  static cache::Cache cache;
  if (!cache.init(cfg.cache_size_bytes, kMaxCacheEntries)) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot reserve the %zu-byte cache arena (AWS_APPCONFIG_EXTENSION_CACHE_SIZE): %s",
             cfg.cache_size_bytes, strerror(errno));
    fatal(msg);
    return 1;
  }

  static localdev::Source local;
  bool local_mode = !cfg.local_development_directory.empty();
  if (local_mode) {
    char msg[600];
    if (!local.init(cfg.local_development_directory, cfg.poll_interval_ms, &cache, msg, sizeof msg)) {
      fatal(msg);
      return 2;
    }
  }

  static service::Service svc;
  service::Config sc;
  sc.version = APPCONFIG_VERSION;
  sc.cache = &cache;
  sc.local = local_mode ? &local : nullptr;
  sc.loop = &lp;
  svc.init(sc);

  static http_server::Server server;
  if (!server.init(&lp, &service::Service::handle, &svc)) {
    fatal("cannot allocate connection buffers");
    return 1;
  }
  char msg[300];
  if (server.listen(cfg.http_host, cfg.http_port, msg, sizeof msg) != http_server::ListenError::kNone) {
    fatal(msg);
    return 1;
  }
  LOG_INFO("appconfig-extension %s listening on %s port %u%s%.*s", APPCONFIG_VERSION,
           cfg.http_host.empty() ? "127.0.0.1 and [::1]" : "the configured host", cfg.http_port,
           local_mode ? ", local development mode over " : "",
           local_mode ? static_cast<int>(cfg.local_development_directory.size()) : 0,
           local_mode ? cfg.local_development_directory.data() : "");
  lp.run();
  server.stop_accepting();
  LOG_INFO("stopped after %llu requests", static_cast<unsigned long long>(server.requests_served()));
  return 0;
}
