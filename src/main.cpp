// main: wiring only.
//   settings -> log -> loop -> cache -> listeners -> source -> (Lambda: register,
//   init done -> /event/next loop) -> run until SHUTDOWN / SIGTERM.
// In Lambda (AWS_LAMBDA_RUNTIME_API set) every init failure is reported to
// /init/error before exiting, so the platform shows the reason.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "appconfig/cache.h"
#include "appconfig/http_client.h"
#include "appconfig/http_server.h"
#include "appconfig/lambda_api.h"
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

struct App {
  settings::Settings cfg;
  loop::Loop loop;
  cache::Cache cache;
  localdev::Source local;
  bool local_mode = false;
  service::Service svc;
  http_server::Server server;
  http_client::Client client;
  lambda_api::Extension ext;
  bool lambda = false;
  loop::TimerId mi_timer;  // Managed Instances: refresh on a timer
  int exit_code = 0;
};

App* g_app = nullptr;  // large (fixed tables): static storage, never the stack

void fatal_line(const char* msg) {
  char line[700];
  int n = snprintf(line, sizeof line, "[appconfig-extension] FATAL %s\n", msg);
  if (n > 0) {
    ssize_t r = write(2, line, static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1);
    (void)r;
  }
}

void on_signal(void* ctx, int signo) {
  auto* app = static_cast<App*>(ctx);
  if (signo == SIGHUP) {
    LOG_INFO("SIGHUP: nothing to reload in this mode");
    return;
  }
  // Under Lambda the platform ends us with SHUTDOWN (or SIGKILL); a signal
  // still means stop, cleanly.
  LOG_INFO("%s: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  app->loop.stop();
}

// The refresh hook: what must happen on each invoke (or timer tick).
void refresh_due(App& app) {
  app.server.touch_idle();
  if (app.local_mode) app.local.refresh_due(app.loop.now_ms());
}

void on_registered(void* ctx, const lambda_api::Registration& r) {
  auto* app = static_cast<App*>(ctx);
  LOG_INFO("registered as %.*s for function %.*s version %.*s%s%.*s", static_cast<int>(r.identifier.size()),
           r.identifier.data(), static_cast<int>(r.function_name.size()), r.function_name.data(),
           static_cast<int>(r.function_version.size()), r.function_version.data(),
           r.account_id.empty() ? "" : " in account ", static_cast<int>(r.account_id.size()), r.account_id.data());
  // Nothing to prefetch yet: our Init phase ends with the first /event/next.
  app->ext.init_done();
}

bool on_invoke(void* ctx, const lambda_api::Event& e) {
  auto* app = static_cast<App*>(ctx);
  LOG_DEBUG("INVOKE %.*s", static_cast<int>(e.request_id.size()), e.request_id.data());
  refresh_due(*app);
  return false;  // the local refresh is synchronous
}

void on_shutdown(void* ctx, const lambda_api::Event& e) {
  auto* app = static_cast<App*>(ctx);
  LOG_INFO("SHUTDOWN (%.*s): exiting", static_cast<int>(e.shutdown_reason.size()), e.shutdown_reason.data());
  app->server.stop_accepting();
  app->loop.stop();
}

void on_fatal(void* ctx, const char* message) {
  auto* app = static_cast<App*>(ctx);
  LOG_FATAL("%s", message);
  app->exit_code = 1;
  app->loop.stop();
}

void on_mi_timer(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  refresh_due(*app);
  app->mi_timer = app->loop.add_timer(app->cfg.poll_interval_ms, &on_mi_timer, app);
}

const char* basename_of(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// Lambda only: registers (if not yet) and reports an init error, then exits.
int report_init_error(App& app, const char* argv0, const char* reason, const char* message) {
  fatal_line(message);
  const char* api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr || *api == '\0') return 2;
  lambda_api::Options opt;
  opt.runtime_api = api;
  opt.name = basename_of(argv0);
  lambda_api::Hooks hooks;
  hooks.ctx = &app;
  hooks.fatal = [](void* ctx, const char*) {
    auto* a = static_cast<App*>(ctx);
    a->loop.stop();
  };
  char err[300];
  if (!app.loop.init() || !app.client.init(&app.loop, 1) ||
      !app.ext.init(&app.loop, &app.client, opt, hooks, err, sizeof err))
    return 2;
  app.ext.report_error(lambda_api::ErrorKind::kInit, reason, message);
  app.loop.run();
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  static App app;
  g_app = &app;
  const char* argv0 = argc > 0 && argv[0] != nullptr ? argv[0] : "appconfig-extension";
  settings::Error err;
  if (!settings::load(environ, app.cfg, err)) return report_init_error(app, argv0, "ConfigInvalid", err.message);
  settings::Settings& cfg = app.cfg;
  app.lambda = cfg.mode == settings::Mode::kLambda;

  int log_fd = 2;
  if (!cfg.log_path.empty()) {
    char path[4096];
    snprintf(path, sizeof path, "%.*s", static_cast<int>(cfg.log_path.size()), cfg.log_path.data());
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      char msg[600];
      snprintf(msg, sizeof msg, "LOG_PATH=\"%s\" cannot be opened: %s", path, strerror(errno));
      return report_init_error(app, argv0, "ConfigInvalid", msg);
    }
  }
  // CloudWatch stamps Lambda lines itself; the agent prints its own time.
  log::init(cfg.log_level, log_fd, app.lambda ? log::Timestamp::kNone : log::Timestamp::kIso8601Utc);

  if (!app.loop.init()) return report_init_error(app, argv0, "InitFailed", "cannot set up the event loop");
  app.loop.on_signal(&on_signal, &app);

  if (!app.cache.init(cfg.cache_size_bytes, kMaxCacheEntries)) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot reserve the %zu-byte cache arena (AWS_APPCONFIG_EXTENSION_CACHE_SIZE): %s",
             cfg.cache_size_bytes, strerror(errno));
    return report_init_error(app, argv0, "ConfigInvalid", msg);
  }

  app.local_mode = !cfg.local_development_directory.empty();
  if (app.local_mode) {
    char msg[600];
    if (!app.local.init(cfg.local_development_directory, cfg.poll_interval_ms, &app.cache, msg, sizeof msg))
      return report_init_error(app, argv0, "ConfigInvalid", msg);
  }

  service::Config sc;
  sc.version = APPCONFIG_VERSION;
  sc.cache = &app.cache;
  sc.local = app.local_mode ? &app.local : nullptr;
  sc.loop = &app.loop;
  app.svc.init(sc);

  if (!app.server.init(&app.loop, &service::Service::handle, &app.svc))
    return report_init_error(app, argv0, "InitFailed", "cannot allocate connection buffers");
  // Bind before registering: the runtime may read as soon as its init starts.
  char msg[300];
  http_server::ListenError le = app.server.listen(cfg.http_host, cfg.http_port, msg, sizeof msg);
  if (le != http_server::ListenError::kNone)
    return report_init_error(app, argv0, le == http_server::ListenError::kAddressInUse ? "PortInUse" : "ConfigInvalid",
                             msg);
  if (!app.client.init(&app.loop, cfg.max_connections))
    return report_init_error(app, argv0, "InitFailed", "cannot allocate HTTP client buffers");

  LOG_INFO("appconfig-extension %s listening on %s port %u%s%.*s", APPCONFIG_VERSION,
           cfg.http_host.empty() ? "127.0.0.1 and [::1]" : "the configured host", cfg.http_port,
           app.local_mode ? ", local development mode over " : "",
           app.local_mode ? static_cast<int>(cfg.local_development_directory.size()) : 0,
           app.local_mode ? cfg.local_development_directory.data() : "");

  if (app.lambda) {
    lambda_api::Options opt;
    opt.runtime_api = cfg.runtime_api;
    opt.name = basename_of(argv0);
    opt.managed_instances = cfg.managed_instances;
    opt.poll_timeout_ms = cfg.poll_timeout_ms;
    lambda_api::Hooks hooks;
    hooks.ctx = &app;
    hooks.registered = &on_registered;
    hooks.invoke = &on_invoke;
    hooks.shutdown = &on_shutdown;
    hooks.fatal = &on_fatal;
    char e[300];
    if (!app.ext.init(&app.loop, &app.client, opt, hooks, e, sizeof e)) {
      fatal_line(e);
      return 2;
    }
    app.ext.start_register();
    // Managed Instances are never frozen and run invokes concurrently: refresh on a timer.
    if (cfg.managed_instances) app.mi_timer = app.loop.add_timer(cfg.poll_interval_ms, &on_mi_timer, &app);
  }
  app.loop.run();
  app.server.stop_accepting();
  LOG_INFO("stopped after %llu requests", static_cast<unsigned long long>(app.server.requests_served()));
  return app.exit_code;
}
