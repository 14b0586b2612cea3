// main: wiring only.
//   arguments (cli) -> settings -> log -> metrics -> loop -> cache -> listeners -> source ->
//   (Lambda: register, init done -> /event/next loop) -> run until SHUTDOWN / SIGTERM.
// `check` runs the same init up to (not including) binding and registering, then prints the plan.
// In Lambda (AWS_LAMBDA_RUNTIME_API set) every init failure is reported to
// /init/error before exiting, so the platform shows the reason.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include "appconfig/aws/appconfig_data.h"
#include "appconfig/agent/cache.h"
#include "appconfig/program/cli.h"
#include "appconfig/aws/credentials.h"
#include "appconfig/net/dns.h"
#include "appconfig/aws/endpoints.h"
#include "appconfig/agent/features.h"
#include "appconfig/net/http_client.h"
#include "appconfig/net/http_server.h"
#include "appconfig/net/proxy.h"
#include "appconfig/agent/lambda_api.h"
#include "appconfig/agent/localdev.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/loop.h"
#include "appconfig/agent/metrics.h"
#include "appconfig/agent/retrieval.h"
#include "appconfig/agent/service.h"
#include "appconfig/core/settings.h"
#include "appconfig/net/tls.h"

extern char** environ;

namespace {

using namespace appconfig;

// Entries in the cache table: far above the configurations one function reads.
constexpr size_t kMaxCacheEntries = 1024;
// Start-up waits on the loop (before anything listens) for the IMDS region and for an HTTP_HOST
// name: IMDS answers in milliseconds on EC2; both have their own shorter per-try timeouts.
constexpr uint64_t kStartupLookupTimeoutMs = 5000;

// Start-up's waits on the loop: the IMDS region (discover_region) and an HTTP_HOST name
// (listen_on_host).
struct RegionWait {
  bool done = false;
  char region[endpoints::kMaxRegionBytes + 1] = "";
  char error[credentials::kMaxErrorBytes] = "";
};

struct NameWait {
  bool done = false;
  dns_wire::Address addrs[8];
  size_t n = 0;
  char error[dns::kMaxErrorBytes] = "";
};

// Work space of start-up and `check`, each member used by the one function named, once per process
// (single-threaded): in App's static storage rather than on the stack (the shared file is large)
// or in function statics.
struct Startup {
  char log_path[4096];                                  // init_logging: LOG_PATH as a C string
  char ca_bundle[4096];                                 // init_remote: the TLS layer keeps the path
  char shared_file[credentials::kMaxSharedFileBytes];   // discover_region: the shared config file
  credentials::Imds imds;                               // discover_region
  RegionWait region_wait;                               // discover_region
  NameWait name_wait;                                   // listen_on_host
};

struct App {
  settings::Settings cfg;
  loop::Loop loop;
  cache::Cache cache;
  localdev::Source local;
  bool local_mode = false;
  service::Service svc;
  http_server::Server server;
  // The resolver outlives the client, whose destructor cancels lookups through it.
  dns::Resolver resolver;
  http_client::Client client;
  bool resolver_ready = false;
  bool client_ready = false;  // report_init_error must not init the client twice
  credentials::Chain chain;  // the SDKs' default chain; its top() is the base for every role
  credentials::Provider role_creds;
  char region[endpoints::kMaxRegionBytes + 1] = "";  // discovered (profile or IMDS)
  credentials::Provider* creds = nullptr;
  appconfig_data::Client data;
  retrieval::Retriever remote;
  bool remote_mode = false;
  features::Features features;
  cache::Key prefetch[retrieval::kMaxKeys];
  bool manifest_phase = false;  // the first prefetch brought the manifest; its keys come next
  lambda_api::Extension ext;
  bool lambda = false;
  bool init_signalled = false;
  loop::TimerId refresh_timer;   // agent mode and Managed Instances: refresh on a timer
  loop::TimerId prefetch_timer;  // Lambda: the prefetch may hold init at most the poll timeout
  int exit_code = 0;
  bool check_only = false;  // `check`: init as start-up does, bind and register nothing
  endpoints::Endpoint endpoint;
  bool loop_failed = false;  // poll(2) failed: already logged, being reported
  Startup startup;
};

App* g_app = nullptr;  // large (fixed tables): static storage, never the stack

// Init errors go to stderr whatever LOG_PATH and LOG_LEVEL say, in the configured line format.
void fatal_line(const char* msg) { log::write_to(2, settings::LogLevel::kFatal, "%s", msg); }

// Metrics as EMF lines on stdout (Lambda sends an extension's stdout to the function's log group).
void emit_metrics(size_t max_lines) {
  if (metrics::mode() == settings::Metrics::kEmf) metrics::write_emf(1, max_lines, loop::wall_ms());
}

void on_signal(void* ctx, int signo) {
  auto* app = static_cast<App*>(ctx);
  if (signo == SIGHUP) {
    char err[600];
    if (!app->remote_mode || app->cfg.manifest_path.empty()) {
      LOG_INFO("SIGHUP: no file manifest to reload");
    } else if (!app->features.load_manifest_file(err, sizeof err)) {
      LOG_ERROR("SIGHUP: %s (the previous manifest stays active)", err);
    } else {
      LOG_INFO("SIGHUP: manifest reloaded");
      size_t n = app->features.manifest_keys(app->prefetch, retrieval::kMaxKeys);
      app->remote.prefetch(app->prefetch, n, nullptr, nullptr);
    }
    return;
  }
  // Under Lambda the platform ends us with SHUTDOWN (or SIGKILL); a signal
  // still means stop, cleanly.
  LOG_INFO("%s: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  app->loop.stop();
}

void on_refresh_settled(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  if (app->lambda) app->ext.work_done();
}

// The refresh hook: what must happen on each invoke (or timer tick). Returns
// true when background fetches were started (the invoke waits for them).
bool refresh_due(App& app) {
  if (app.local_mode) app.local.refresh_due(app.loop.now_ms());
  if (app.remote_mode) return app.remote.refresh_due(&on_refresh_settled, &app) > 0;
  return false;
}

void init_finished(App& app) {
  if (app.init_signalled) return;
  app.init_signalled = true;
  app.loop.cancel_timer(app.prefetch_timer);
  if (app.lambda) app.ext.init_done();
}

void start_manifest_keys(App& app);

void on_prefetch_settled(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  LOG_DEBUG("prefetch settled");
  if (app->manifest_phase) {
    // The manifest (from AppConfig) is in: now fetch what it lists.
    app->manifest_phase = false;
    start_manifest_keys(*app);
    return;
  }
  init_finished(*app);
}

void on_prefetch_timeout(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  app->prefetch_timer = loop::TimerId{};
  LOG_WARN("prefetch still running after the poll timeout; ending init, reads will wait for it");
  app->manifest_phase = false;
  init_finished(*app);
}

void start_manifest_keys(App& app) {
  size_t n = app.features.manifest_keys(app.prefetch, retrieval::kMaxKeys);
  if (n == 0) {
    init_finished(app);
    return;
  }
  app.remote.prefetch(app.prefetch, n, &on_prefetch_settled, &app);
}

// Prefetch: PREFETCH_LIST, the manifest's keys (or the manifest itself, when
// it is an AppConfig configuration) and keys preloaded from backups (to check
// the service). Init ends when they settle or the poll timeout passes.
void start_prefetch(App& app) {
  if (!app.remote_mode) {
    init_finished(app);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < app.cfg.num_prefetch; ++i)
    app.prefetch[n++] = cache::Key{app.cfg.prefetch[i].application, app.cfg.prefetch[i].environment,
                                   app.cfg.prefetch[i].profile};
  n += app.features.preload_backups(app.prefetch + n, retrieval::kMaxKeys - n);
  if (app.features.manifest_from_appconfig()) {
    if (n < retrieval::kMaxKeys) app.prefetch[n++] = app.features.manifest_key();
    app.manifest_phase = app.cfg.wait_on_manifest;
  } else {
    n += app.features.manifest_keys(app.prefetch + n, retrieval::kMaxKeys - n);
  }
  for (size_t i = 0; i < n; ++i) metrics::configure_key(app.prefetch[i]);
  if (n == 0) {
    init_finished(app);
    return;
  }
  bool hold = !app.features.manifest_from_appconfig() || app.cfg.wait_on_manifest || app.cfg.num_prefetch > 0;
  if (hold) app.prefetch_timer = app.loop.add_timer(app.cfg.poll_timeout_ms * 2, &on_prefetch_timeout, &app);
  app.remote.prefetch(app.prefetch, n, &on_prefetch_settled, &app);
  if (!hold) init_finished(app);
}

// A manifest fetched from AppConfig changed while running: fetch its keys.
void on_manifest_changed(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  if (app->manifest_phase || !app->init_signalled) return;  // the init sequence handles it
  size_t n = app->features.manifest_keys(app->prefetch, retrieval::kMaxKeys);
  app->remote.prefetch(app->prefetch, n, nullptr, nullptr);
}

void on_registered(void* ctx, const lambda_api::Registration& r) {
  auto* app = static_cast<App*>(ctx);
  LOG_INFO("registered as %.*s for function %.*s version %.*s%s%.*s", static_cast<int>(r.identifier.size()),
           r.identifier.data(), static_cast<int>(r.function_name.size()), r.function_name.data(),
           static_cast<int>(r.function_version.size()), r.function_version.data(),
           r.account_id.empty() ? "" : " in account ", static_cast<int>(r.account_id.size()), r.account_id.data());
  // Register first so the runtime's init overlaps our fetches; our Init phase
  // ends with the first /event/next, after the prefetch settles.
  start_prefetch(*app);
}

bool on_invoke(void* ctx, const lambda_api::Event& e) {
  auto* app = static_cast<App*>(ctx);
  LOG_DEBUG("INVOKE %.*s", static_cast<int>(e.request_id.size()), e.request_id.data());
  // What the previous invoke (and init) counted: one EMF line at most per invoke.
  emit_metrics(1);
  return refresh_due(*app);
}

void on_shutdown(void* ctx, const lambda_api::Event& e) {
  auto* app = static_cast<App*>(ctx);
  LOG_INFO("SHUTDOWN (%.*s): exiting", static_cast<int>(e.shutdown_reason.size()), e.shutdown_reason.data());
  emit_metrics(metrics::kMaxKeys + 1);
  app->server.stop_accepting();
  app->loop.stop();
}

void on_fatal(void* ctx, const char* message) {
  auto* app = static_cast<App*>(ctx);
  if (!app->loop_failed) LOG_FATAL("%s", message);
  app->exit_code = 1;
  app->loop.stop();
}

// poll(2) failed for good (loop.h): log once, exit non-zero; in Lambda report
// it to /exit/error first (the report's end calls on_fatal, which stops). Should
// poll(2) fail again meanwhile, the loop stops by itself.
void on_loop_failure(void* ctx, int err) {
  auto* app = static_cast<App*>(ctx);
  char msg[160];
  snprintf(msg, sizeof msg, "the event loop cannot wait for events: poll() failed: %s", strerror(err));
  LOG_FATAL("%s", msg);
  app->exit_code = 1;
  app->loop_failed = true;
  if (app->lambda) {
    app->ext.report_error(lambda_api::ErrorKind::kExit, "LoopFailed", msg);
    return;
  }
  app->loop.stop();
}

void on_refresh_timer(void* ctx) {
  auto* app = static_cast<App*>(ctx);
  refresh_due(*app);
  // The agent and Managed Instances (no INVOKE events): a round of EMF lines per interval.
  if (!app->lambda || app->cfg.managed_instances) emit_metrics(metrics::kMaxKeys + 1);
  app->refresh_timer = app->loop.add_timer(app->cfg.poll_interval_ms, &on_refresh_timer, app);
}

// AWS AppConfig as the source: endpoint, TLS trust, DNS, credentials, client.
bool init_remote(App& app, char* err, size_t cap) {
  const settings::Settings& cfg = app.cfg;
  endpoints::Endpoint ep;
  if (!endpoints::appconfigdata(cfg, ep, err, cap)) return false;
  app.endpoint = ep;
  char* ca_bundle = app.startup.ca_bundle;
  if (!cfg.ca_bundle.empty()) {
    snprintf(ca_bundle, sizeof app.startup.ca_bundle, "%.*s", static_cast<int>(cfg.ca_bundle.size()), cfg.ca_bundle.data());
    tls::set_extra_ca_file(ca_bundle);
  }
  if (!app.resolver_ready) {
    if (!app.resolver.init(&app.loop)) {
      return error::fail(err, cap, "cannot set up the DNS resolver");
    }
    app.resolver_ready = true;
    app.client.set_resolver(app.resolver.client_hook(&app.client));
  }
  // Proxy: ours, else HTTPS_PROXY/https_proxy; NO_PROXY either way. Local peers stay direct.
  proxy::Choice pc = proxy::choose(environ, cfg.proxy_url);
  if (!pc.url.empty()) {
    http_client::Header hs[settings::kMaxProxyHeaders];
    for (size_t i = 0; i < cfg.num_proxy_headers; ++i) hs[i] = {cfg.proxy_headers[i].name, cfg.proxy_headers[i].value};
    proxy::Config pcfg;
    pcfg.url = pc.url;
    pcfg.headers = hs;
    pcfg.num_headers = cfg.num_proxy_headers;
    pcfg.no_proxy = pc.no_proxy;
    proxy::Error pe = app.client.set_proxy(pcfg);
    if (pe != proxy::Error::kNone) {
      // Never echo the URL: it may hold a password.
      return error::fail(err, cap, "%s: %s", pc.from_environment ? "HTTPS_PROXY" : "AWS_APPCONFIG_EXTENSION_PROXY_URL",
                         proxy::error_message(pe));
    }
    LOG_INFO("upstream requests go through a proxy (%s)", pc.from_environment ? "HTTPS_PROXY" : "PROXY_URL");
  }
  if (!app.chain.init(&app.loop, &app.client, cfg, err, cap)) return false;
  credentials::Provider* base = app.chain.top();
  app.creds = base;
  // Names the source, never the keys.
  LOG_INFO("credentials: %s", app.chain.description());
  if (!cfg.role_arn.empty()) {
    endpoints::Endpoint sts;
    if (!endpoints::sts(cfg, sts, err, cap)) return false;
    if (!app.role_creds.init_assume_role(&app.loop, &app.client, base, cfg.role_arn, cfg.role_external_id,
                                         cfg.role_session_name, 0, sts, err, cap))
      return false;
    app.creds = &app.role_creds;
  }
  if (!app.creds->configured() && cfg.num_prefetch > 0) {
    return error::fail(
        err, cap,
        "no AWS credentials to fetch the prefetch list with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, AWS_PROFILE, or AWS_CONTAINER_CREDENTIALS_FULL_URI");
  }
  char ua[64];
  snprintf(ua, sizeof ua, "appconfig-extension/%s", APPCONFIG_VERSION);
  uint64_t interval_s = cfg.poll_interval_ms / 1000;
  if (!app.data.init(&app.loop, &app.client, ep, static_cast<uint32_t>(interval_s > 86400 ? 86400 : interval_s), ua) ||
      !app.remote.init(&app.loop, &app.cache, &app.data, app.creds, cfg.poll_interval_ms, cfg.poll_timeout_ms)) {
    return error::fail(err, cap, "cannot allocate retrieval tables");
  }
  if (!app.features.init(&app.loop, &app.client, &app.cache, &app.remote, base, cfg, err, cap))
    return false;
  app.features.set_manifest_changed_hook(&on_manifest_changed, &app);
  if (app.check_only) return true;
  LOG_INFO("configurations come from AWS AppConfig at %s://%s:%u (region %s from %s)", ep.tls ? "https" : "http",
           ep.host, ep.port, ep.region, cfg.region_source);
  return true;
}

bool ensure_resolver(App& app) {
  if (app.resolver_ready) return true;
  if (!app.resolver.init(&app.loop)) return false;
  app.resolver_ready = true;
  app.client.set_resolver(app.resolver.client_hook(&app.client));
  return true;
}

void on_imds_region(void* ctx, std::string_view body, const char* error) {
  auto* w = static_cast<RegionWait*>(ctx);
  w->done = true;
  if (error != nullptr) {
    snprintf(w->error, sizeof w->error, "%s", error);
    return;
  }
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
  bool ok = !body.empty() && body.size() <= endpoints::kMaxRegionBytes && body.front() >= 'a' && body.front() <= 'z';
  for (char c : body) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok) {
    snprintf(w->error, sizeof w->error, "instance metadata answered a region that is not one: \"%.*s\"",
             static_cast<int>(body.size() < 40 ? body.size() : 40), body.data());
    for (char* p = w->error; *p != '\0'; ++p)
      if (static_cast<unsigned char>(*p) < 0x20) *p = ' ';
    return;
  }
  memcpy(w->region, body.data(), body.size());
  w->region[body.size()] = '\0';
}

// Region, in the SDKs' order: the variables (settings), the shared config profile's region, then
// (agent only) instance metadata. Runs before anything listens.
bool discover_region(App& app, char* err, size_t cap) {
  settings::Settings& cfg = app.cfg;
  if (!cfg.service_region.empty()) return true;
  if (!credentials::profile_region(cfg, app.startup.shared_file, app.region, sizeof app.region, err, cap)) return false;
  if (app.region[0] != '\0') {
    cfg.service_region = app.region;
    cfg.region_source = "the shared config profile";
    return true;
  }
  const char* tried = app.lambda ? "AWS_APPCONFIG_EXTENSION_SERVICE_REGION, AWS_REGION, AWS_DEFAULT_REGION, the shared "
                                   "config profile's region"
                                 : "SERVICE_REGION, AWS_REGION, AWS_DEFAULT_REGION, the shared config profile's region";
  if (app.lambda || cfg.ec2_metadata_disabled) {
    return error::fail(err, cap, "no AWS region: tried %s%s; set AWS_REGION", tried,
                       cfg.ec2_metadata_disabled ? " (instance metadata is off: AWS_EC2_METADATA_DISABLED)" : "");
  }
  credentials::Imds& imds = app.startup.imds;
  RegionWait& w = app.startup.region_wait;
  if (!imds.init(&app.loop, &app.client, cfg, err, cap)) return false;
  if (!imds.get("/latest/meta-data/placement/region", kStartupLookupTimeoutMs, &on_imds_region, &w)) {
    return error::fail(err, cap, "no AWS region: cannot ask instance metadata");
  }
  while (!w.done) app.loop.run_once(100);
  if (w.region[0] == '\0') {
    return error::fail(err, cap, "no AWS region: tried %s and %s; set AWS_REGION", tried, w.error);
  }
  memcpy(app.region, w.region, sizeof app.region);
  cfg.service_region = app.region;
  cfg.region_source = "instance metadata";
  return true;
}

void on_listen_name(void* ctx, const dns_wire::Address* addrs, size_t n, const char* error) {
  auto* w = static_cast<NameWait*>(ctx);
  w->done = true;
  if (error != nullptr) snprintf(w->error, sizeof w->error, "%s", error);
  for (size_t i = 0; i < n && w->n < sizeof w->addrs / sizeof w->addrs[0]; ++i) w->addrs[w->n++] = addrs[i];
}

bool is_loopback_literal(std::string_view host) {
  if (host.empty() || host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.substr(0, 4) == "127.";
}

// HTTP_HOST: "" (loopback pair), all, localhost, an IP literal, or a host name resolved once here
// (every address; /etc/hosts first, then DNS). *beyond_loopback tells whether others can connect.
http_server::ListenError listen_on_host(App& app, bool* beyond_loopback, char* msg, size_t cap) {
  const settings::Settings& cfg = app.cfg;
  std::string_view host = cfg.http_host;
  std::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
  char h[256];
  snprintf(h, sizeof h, "%.*s", static_cast<int>(bare.size()), bare.data());
  in_addr a4;
  in6_addr a6;
  if (host.empty() || bare == "all" || bare == "localhost" || inet_pton(AF_INET, h, &a4) == 1 ||
      inet_pton(AF_INET6, h, &a6) == 1) {
    *beyond_loopback = !is_loopback_literal(bare);
    return app.server.listen(host, cfg.http_port, msg, cap);
  }
  NameWait& w = app.startup.name_wait;
  if (!ensure_resolver(app) || app.resolver.resolve(bare, &on_listen_name, &w) == 0) {
    error::fail(msg, cap, "HTTP_HOST=%s: cannot start resolving it", h);
    return http_server::ListenError::kBadHost;
  }
  uint64_t end = loop::monotonic_ms() + kStartupLookupTimeoutMs;
  while (!w.done && loop::monotonic_ms() < end) app.loop.run_once(100);
  if (w.n == 0) {
    error::fail(msg, cap, "HTTP_HOST=%s does not resolve: %s", h, w.done ? w.error : "timed out");
    return http_server::ListenError::kBadHost;
  }
  *beyond_loopback = false;
  for (size_t i = 0; i < w.n; ++i) {
    char lit[INET6_ADDRSTRLEN];
    inet_ntop(w.addrs[i].family, w.addrs[i].bytes, lit, sizeof lit);
    *beyond_loopback = *beyond_loopback || !is_loopback_literal(lit);
    http_server::ListenError le = app.server.listen(lit, cfg.http_port, msg, cap);
    if (le != http_server::ListenError::kNone) return le;
    LOG_INFO("HTTP_HOST=%s: listening on %s port %u", h, lit, cfg.http_port);
  }
  return http_server::ListenError::kNone;
}

const char* basename_of(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// Lambda only: registers (if not yet) and reports an init error, then exits.
int report_init_error(App& app, const char* argv0, const char* reason, const char* message) {
  fatal_line(message);
  const char* api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr || *api == '\0' || app.check_only) return 2;
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
  if (!app.loop.init() || (!app.client_ready && !app.client.init(&app.loop, 1)) ||
      !app.ext.init(&app.loop, &app.client, opt, hooks, err, sizeof err))
    return 2;
  app.ext.report_error(lambda_api::ErrorKind::kInit, reason, message);
  app.loop.run();
  return 2;
}

// Before settings are loaded (an invalid one is the error to print), the line format is guessed
// from the same variables, so even that error comes as JSON when JSON was asked for.
void early_log_init() {
  const bool lambda = getenv("AWS_LAMBDA_RUNTIME_API") != nullptr;
  const char* f = getenv("AWS_APPCONFIG_EXTENSION_LOG_FORMAT");
  if (f == nullptr || *f == '\0') f = getenv(lambda ? "AWS_LAMBDA_LOG_FORMAT" : "LOG_FORMAT");
  bool json = f != nullptr && strcasecmp(f, "json") == 0;
  log::init(settings::LogLevel::kInfo, 2, lambda ? log::Timestamp::kNone : log::Timestamp::kIso8601Utc,
            json ? settings::LogFormat::kJson : settings::LogFormat::kText);
}

// `check`: what start-up would do with these settings, printed on stdout.
int print_plan(App& app) {
  const settings::Settings& cfg = app.cfg;
  // On the stack (26 KB, once, in the `check` command): in App, their string_views' constructors
  // would write every page of them at start-up.
  cli::Plan::Key keys[retrieval::kMaxKeys];
  size_t n = 0;
  for (size_t i = 0; i < cfg.num_prefetch && n < retrieval::kMaxKeys; ++i)
    keys[n++] = {cfg.prefetch[i].application, cfg.prefetch[i].environment, cfg.prefetch[i].profile, "prefetch list"};
  if (app.remote_mode) {
    if (app.features.manifest_from_appconfig()) {
      const cache::Key& k = app.features.manifest_key();
      if (n < retrieval::kMaxKeys) keys[n++] = {k.application, k.environment, k.profile, "the manifest, from AppConfig"};
    } else {
      cache::Key mk[retrieval::kMaxKeys];
      size_t m = app.features.manifest_keys(mk, retrieval::kMaxKeys);
      for (size_t i = 0; i < m && n < retrieval::kMaxKeys; ++i)
        keys[n++] = {mk[i].application, mk[i].environment, mk[i].profile, "manifest"};
    }
  }
  char source[600];
  char creds[800] = "";
  if (app.local_mode) {
    snprintf(source, sizeof source, "local files in %.*s (AWS is never called)",
             static_cast<int>(cfg.local_development_directory.size()), cfg.local_development_directory.data());
  } else {
    const endpoints::Endpoint& ep = app.endpoint;
    snprintf(source, sizeof source, "AWS AppConfig at %s://%s:%u", ep.tls ? "https" : "http", ep.host, ep.port);
    // The chain's own description (source and every hop), so a longer chain shows up here unchanged.
    const char* base = app.chain.description();
    if (app.creds == &app.role_creds) {
      snprintf(creds, sizeof creds, "%s (AssumeRole %.*s over %s)",
               credentials::source_name(app.role_creds.source()), static_cast<int>(cfg.role_arn.size()),
               cfg.role_arn.data(), base);
    } else {
      snprintf(creds, sizeof creds, "%s%s", base,
               app.chain.top()->configured() ? "" : " (reads of configurations will fail until credentials are set)");
    }
  }
  cli::Plan plan;
  plan.cfg = &cfg;
  plan.mode = app.lambda ? (cfg.managed_instances ? "Lambda extension (Managed Instances)" : "Lambda extension")
                         : "agent";
  plan.source = source;
  plan.region = app.local_mode ? std::string_view() : std::string_view(app.endpoint.region);
  plan.credentials = creds;
  plan.keys = keys;
  plan.num_keys = n;
  cli::print_check(1, plan);
  return cli::kExitOk;
}

// ---------------------------------------------------------------- start-up, step by step

// Each init step returns kContinue, or the process's exit code once the failure is reported
// (report_init_error: stderr, and /init/error under Lambda). main runs them in the order of
// docs/architecture.md ("Init").
constexpr int kContinue = -1;

int init_settings(App& app, const char* argv0) {
  settings::Error err;
  if (!settings::load(environ, app.cfg, err)) return report_init_error(app, argv0, "ConfigInvalid", err.message);
  app.lambda = app.cfg.mode == settings::Mode::kLambda;
  return kContinue;
}

// LOG_PATH, the configured log line, and the metrics buffer.
int init_logging(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
  int log_fd = 2;
  if (!cfg.log_path.empty()) {
    char* path = app.startup.log_path;
    snprintf(path, sizeof app.startup.log_path, "%.*s", static_cast<int>(cfg.log_path.size()), cfg.log_path.data());
    // O_NONBLOCK for the open only: a FIFO without a reader fails at once (ENXIO) instead of
    // blocking start-up forever; writes then block as they do on stderr.
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
    if (log_fd >= 0) fcntl(log_fd, F_SETFL, fcntl(log_fd, F_GETFL) & ~O_NONBLOCK);
    if (log_fd < 0) {
      char msg[600];
      snprintf(msg, sizeof msg, "LOG_PATH=\"%s\" cannot be opened: %s", path, strerror(errno));
      return report_init_error(app, argv0, "ConfigInvalid", msg);
    }
  }
  // CloudWatch stamps Lambda lines itself; the agent prints its own time.
  log::init(cfg.log_level, log_fd, app.lambda ? log::Timestamp::kNone : log::Timestamp::kIso8601Utc, cfg.log_format);
  if (!metrics::init(cfg.metrics))
    return report_init_error(app, argv0, "InitFailed", "cannot reserve the metrics buffer (METRICS=prometheus)");
  return kContinue;
}

int init_loop(App& app, const char* argv0) {
  if (!app.loop.init()) return report_init_error(app, argv0, "InitFailed", "cannot set up the event loop");
  app.loop.on_signal(&on_signal, &app);
  app.loop.on_failure(&on_loop_failure, &app);
  return kContinue;
}

// The cache arena (reserved, untouched) and, in local development, the files over it.
int init_cache(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
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
  return kContinue;
}

// The local server's connection buffers and the HTTP client's.
int init_http(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
  static_assert(settings::kMaxMaxClientConnections == http_server::kMaxConnections);
  // No one answer is larger than its profile, and no profile larger than the cache.
  const http_server::Limits limits{.max_connections = cfg.max_client_connections,
                                   .answer_buffer_bytes = cfg.cache_size_bytes};
  if (!app.server.init(&app.loop, &service::Service::handle, &app.svc, limits))
    return report_init_error(app, argv0, "InitFailed", "cannot allocate connection buffers");
  if (!app.client.init(&app.loop, cfg.max_connections))
    return report_init_error(app, argv0, "InitFailed", "cannot allocate HTTP client buffers");
  app.client_ready = true;
  app.remote_mode = !app.local_mode;
  return kContinue;
}

int init_region(App& app, const char* argv0) {
  if (!app.remote_mode) return kContinue;
  char e[700];
  if (!discover_region(app, e, sizeof e)) return report_init_error(app, argv0, "ConfigInvalid", e);
  return kContinue;
}

// `check`: the same source set-up as start-up (errors included), without binding or calling AppConfig.
int check(App& app, const char* argv0) {
  char e[600];
  if (app.remote_mode && !init_remote(app, e, sizeof e)) return report_init_error(app, argv0, "ConfigInvalid", e);
  return print_plan(app);
}

// Bind before registering: the runtime may read as soon as its init starts.
int init_listeners(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
  char msg[600];
  bool beyond_loopback = false;
  http_server::ListenError le = listen_on_host(app, &beyond_loopback, msg, sizeof msg);
  if (le != http_server::ListenError::kNone)
    return report_init_error(app, argv0, le == http_server::ListenError::kAddressInUse ? "PortInUse" : "ConfigInvalid",
                             msg);
  if (beyond_loopback && cfg.access_token.empty())
    LOG_WARN("listening on %.*s (HTTP_HOST%s) without ACCESS_TOKEN: anyone who can reach port %u on this host "
             "(other containers, pods or machines on the network) can read every configuration this agent can "
             "fetch; set ACCESS_TOKEN to require Authorization: Bearer",
             static_cast<int>(cfg.http_host.size()), cfg.http_host.data(),
             getenv("HTTP_HOST") == nullptr ? " default under ECS / Kubernetes" : "", cfg.http_port);
  return kContinue;
}

// DNS, credentials chain, endpoint and manifest (init_remote), then the service over the sources.
int init_sources(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
  if (app.remote_mode) {
    char e[600];
    if (!init_remote(app, e, sizeof e)) return report_init_error(app, argv0, "ConfigInvalid", e);
  }
  app.svc.init(service::Config{
      .version = APPCONFIG_VERSION,
      .cache = &app.cache,
      .local = app.local_mode ? &app.local : nullptr,
      .remote = app.remote_mode ? &app.remote : nullptr,
      .server = &app.server,
      .loop = &app.loop,
      .required_secrets_token = cfg.require_token ? cfg.session_token : std::string_view(),
      .access_token = cfg.access_token,
  });
  LOG_INFO("appconfig-extension %s listening on %s port %u%s%.*s", APPCONFIG_VERSION,
           cfg.http_host.empty() ? "127.0.0.1 and [::1]" : cfg.http_host.data(), cfg.http_port,
           app.local_mode ? ", local development mode over " : "",
           app.local_mode ? static_cast<int>(cfg.local_development_directory.size()) : 0,
           app.local_mode ? cfg.local_development_directory.data() : "");
  return kContinue;
}

// Lambda: register (the prefetch starts once registered); the agent: prefetch now. Both refresh on a
// timer where no INVOKE events come.
int start(App& app, const char* argv0) {
  const settings::Settings& cfg = app.cfg;
  if (!app.lambda) {
    start_prefetch(app);
    app.refresh_timer = app.loop.add_timer(cfg.poll_interval_ms, &on_refresh_timer, &app);
    return kContinue;
  }
  const lambda_api::Options opt{.runtime_api = cfg.runtime_api,
                                .name = basename_of(argv0),
                                .managed_instances = cfg.managed_instances,
                                .poll_timeout_ms = cfg.poll_timeout_ms};
  const lambda_api::Hooks hooks{.ctx = &app,
                                .registered = &on_registered,
                                .invoke = &on_invoke,
                                .shutdown = &on_shutdown,
                                .fatal = &on_fatal};
  char e[300];
  if (!app.ext.init(&app.loop, &app.client, opt, hooks, e, sizeof e)) {
    fatal_line(e);
    return 2;
  }
  app.ext.start_register();
  // Managed Instances are never frozen and run invokes concurrently: refresh on a timer.
  if (cfg.managed_instances) app.refresh_timer = app.loop.add_timer(cfg.poll_interval_ms, &on_refresh_timer, &app);
  return kContinue;
}

}  // namespace

int main(int argc, char** argv) {
  static App app;
  g_app = &app;
  const char* argv0 = argc > 0 && argv[0] != nullptr ? argv[0] : "appconfig-extension";
  // No arguments: serve, as Lambda starts every extension.
  cli::Args args = cli::parse(argc, argv);
  switch (args.command) {
    case cli::Command::kServe: break;
    case cli::Command::kVersion: cli::print_version(1); return cli::kExitOk;
    case cli::Command::kHelp: cli::print_help(1); return cli::kExitOk;
    case cli::Command::kUsageError: cli::print_usage_error(2, args); return cli::kExitUsage;
    case cli::Command::kHealthcheck: return cli::healthcheck(args, environ);
    case cli::Command::kCheck: app.check_only = true; break;
  }
  early_log_init();
  // settings -> log -> loop -> cache arena -> HTTP client -> region: nothing listens yet.
  if (int rc = init_settings(app, argv0); rc != kContinue) return rc;
  if (int rc = init_logging(app, argv0); rc != kContinue) return rc;
  if (int rc = init_loop(app, argv0); rc != kContinue) return rc;
  if (int rc = init_cache(app, argv0); rc != kContinue) return rc;
  if (int rc = init_http(app, argv0); rc != kContinue) return rc;
  if (int rc = init_region(app, argv0); rc != kContinue) return rc;
  if (app.check_only) return check(app, argv0);
  // -> listeners -> DNS, credentials, endpoint, manifest -> (Lambda) register -> prefetch.
  if (int rc = init_listeners(app, argv0); rc != kContinue) return rc;
  if (int rc = init_sources(app, argv0); rc != kContinue) return rc;
  if (int rc = start(app, argv0); rc != kContinue) return rc;
  app.loop.run();
  app.server.stop_accepting();
  if (!app.lambda) emit_metrics(metrics::kMaxKeys + 1);
  LOG_INFO("stopped after %llu requests", static_cast<unsigned long long>(app.server.requests_served()));
  return app.exit_code;
}
