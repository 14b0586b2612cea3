// cli: see include/appconfig/program/cli.h.
#include "appconfig/program/cli.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "appconfig/core/error.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/text.h"
#include "mbedtls/build_info.h"

#ifndef APPCONFIG_VERSION
#define APPCONFIG_VERSION "unknown"
#endif
// The Makefile passes the commit the binary was built from; a tarball build has none.
#ifndef APPCONFIG_GIT_COMMIT
#define APPCONFIG_GIT_COMMIT "unknown"
#endif

namespace appconfig::cli {
namespace {

#if defined(__x86_64__)
constexpr const char* kArch = "x86_64";
#elif defined(__aarch64__)
constexpr const char* kArch = "arm64";
#elif defined(__i386__)
constexpr const char* kArch = "i386";
#elif defined(__arm__)
constexpr const char* kArch = "arm";
#else
constexpr const char* kArch = "unknown";
#endif

// Help and plan output: one bounded line at a time, one write(2) each.
constexpr size_t kMaxOutLineBytes = 1024;

void out(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void out(int fd, const char* fmt, ...) {
  char line[kMaxOutLineBytes];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1;
  sysfile::write_full(fd, line, len);
}

bool is(const char* a, const char* b) { return strcmp(a, b) == 0; }

// "--port N" or "--port=N": the value, advancing *i past it; nullptr when missing.
const char* option_value(int argc, const char* const* argv, int* i, const char* name) {
  size_t len = strlen(name);
  const char* arg = argv[*i];
  if (strncmp(arg, name, len) != 0) return nullptr;
  if (arg[len] == '=') return arg + len + 1;
  if (arg[len] != '\0' || *i + 1 >= argc) return nullptr;
  ++*i;
  return argv[*i];
}

uint64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

int remaining_ms(uint64_t deadline_ms) {
  uint64_t now = mono_ms();
  return now >= deadline_ms ? 0 : static_cast<int>(deadline_ms - now);
}

// Waits for `events` on fd until the deadline. False on timeout or error.
bool wait_for(int fd, short events, uint64_t deadline_ms) {
  while (true) {
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, remaining_ms(deadline_ms));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

struct Target {
  sockaddr_storage addr;
  socklen_t len;
  int family;
  char shown[80];  // "127.0.0.1:2772", "[::1]:2772"
};

// An IP literal (with or without [ ]) or localhost. Wildcards (0.0.0.0, ::) mean "every local
// address": the probe then knocks on loopback.
bool resolve(std::string_view host, uint16_t port, Target& t, char* err, size_t cap) {
  std::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  char h[64];
  if (bare.size() >= sizeof h) {
    return error::fail(err, cap, "host is too long");
  }
  if (!bare.empty()) memcpy(h, bare.data(), bare.size());
  h[bare.size()] = '\0';
  memset(&t, 0, sizeof t);
  in_addr a4;
  in6_addr a6;
  if (bare.empty() || is(h, "localhost") || is(h, "all") || is(h, "0.0.0.0")) {
    inet_pton(AF_INET, "127.0.0.1", &a4);
  } else if (inet_pton(AF_INET, h, &a4) != 1) {
    if (inet_pton(AF_INET6, h, &a6) != 1) {
      return error::fail(err, cap, "host \"%s\" is not an IP address: use --host 127.0.0.1, ::1 or localhost", h);
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&a6)) a6 = in6addr_loopback;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = a6;
    t.len = sizeof(sockaddr_in6);
    t.family = AF_INET6;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a6, text, sizeof text);
    snprintf(t.shown, sizeof t.shown, "[%s]:%u", text, port);
    return true;
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = a4;
  t.len = sizeof(sockaddr_in);
  t.family = AF_INET;
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a4, text, sizeof text);
  snprintf(t.shown, sizeof t.shown, "%s:%u", text, port);
  return true;
}

// The healthcheck's work space: the settings it loads (~20 KiB) and the request it sends (two
// tokens of up to 4 KiB each, settings). Its one user is healthcheck() with the get_ping it calls,
// once per process: static storage rather than the stack.
struct HealthcheckScratch {
  settings::Settings cfg;
  char request[2 * 4096 + 512];
};
HealthcheckScratch g_healthcheck;

// One GET /ping over a fresh connection; the answer's status code, or 0 with err set.
int get_ping(const Target& t, const settings::Settings& cfg, char* err, size_t cap) {
  const uint64_t deadline = mono_ms() + kHealthcheckTimeoutMs;
  int fd = socket(t.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error::fail(err, cap, "cannot create a socket: %s", strerror(errno));
    return 0;
  }
  int status = 0;
  do {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len) != 0 && errno != EINPROGRESS) {
      error::fail(err, cap, "cannot connect to %s: %s", t.shown, strerror(errno));
      break;
    }
    if (!wait_for(fd, POLLOUT, deadline)) {
      error::fail(err, cap, "no connection to %s within %d ms", t.shown, kHealthcheckTimeoutMs);
      break;
    }
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
    if (so_error != 0) {
      error::fail(err, cap, "cannot connect to %s: %s", t.shown, strerror(so_error));
      break;
    }
    char* req = g_healthcheck.request;
    constexpr size_t kReqBytes = sizeof g_healthcheck.request;
    int n = snprintf(req, kReqBytes, "GET /ping HTTP/1.1\r\nHost: %s\r\nUser-Agent: appconfig-extension-healthcheck\r\n",
                     t.shown);
    if (!cfg.access_token.empty())
      n += snprintf(req + n, kReqBytes - static_cast<size_t>(n), "Authorization: Bearer %.*s\r\n",
                    static_cast<int>(cfg.access_token.size()), cfg.access_token.data());
    if (cfg.require_token)
      n += snprintf(req + n, kReqBytes - static_cast<size_t>(n), "X-Aws-Parameters-Secrets-Token: %.*s\r\n",
                    static_cast<int>(cfg.session_token.size()), cfg.session_token.data());
    n += snprintf(req + n, kReqBytes - static_cast<size_t>(n), "Connection: close\r\n\r\n");
    size_t sent = 0;
    bool ok = true;
    while (sent < static_cast<size_t>(n) && ok) {
      ssize_t w = send(fd, req + sent, static_cast<size_t>(n) - sent, MSG_NOSIGNAL);
      if (w > 0) {
        sent += static_cast<size_t>(w);
      } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = wait_for(fd, POLLOUT, deadline);
      } else {
        ok = false;
      }
    }
    if (!ok) {
      error::fail(err, cap, "cannot send the request to %s", t.shown);
      break;
    }
    char resp[kMaxHealthResponseBytes];
    size_t got = 0;
    while (got < sizeof resp - 1 && memchr(resp, '\n', got) == nullptr) {
      ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
      if (r > 0) {
        got += static_cast<size_t>(r);
      } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(fd, POLLIN, deadline)) break;
      } else {
        break;
      }
    }
    resp[got] = '\0';
    // "HTTP/1.1 200 OK": the status is the three digits after the first space (RFC 9112 §4).
    const char* sp = strchr(resp, ' ');
    if (strncmp(resp, "HTTP/1.", 7) != 0 || sp == nullptr || sp[1] < '1' || sp[1] > '5' || !text::is_digit(sp[2]) ||
        !text::is_digit(sp[3])) {
      error::fail(err, cap, "no HTTP answer from %s within %d ms", t.shown, kHealthcheckTimeoutMs);
      break;
    }
    status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
  } while (false);
  close(fd);
  return status;
}

}  // namespace

Args parse(int argc, const char* const* argv) {
  Args a;
  if (argc <= 1) return a;
  const char* cmd = argv[1];
  if (is(cmd, "--version") || is(cmd, "-V") || is(cmd, "version")) {
    a.command = Command::kVersion;
  } else if (is(cmd, "--help") || is(cmd, "-h") || is(cmd, "help")) {
    a.command = Command::kHelp;
  } else if (is(cmd, "check")) {
    a.command = Command::kCheck;
  } else if (is(cmd, "healthcheck")) {
    a.command = Command::kHealthcheck;
    for (int i = 2; i < argc; ++i) {
      const char* v = nullptr;
      if ((v = option_value(argc, argv, &i, "--port")) != nullptr) {
        a.port = v;
      } else if ((v = option_value(argc, argv, &i, "--host")) != nullptr) {
        a.host = v;
      } else {
        a.command = Command::kUsageError;
        snprintf(a.error, sizeof a.error, "healthcheck: unknown or incomplete option \"%.100s\"", argv[i]);
        return a;
      }
    }
    return a;
  } else {
    a.command = Command::kUsageError;
    snprintf(a.error, sizeof a.error, "unknown command \"%.100s\"", cmd);
    return a;
  }
  if (argc > 2) {
    a.command = Command::kUsageError;
    snprintf(a.error, sizeof a.error, "%s takes no arguments (got \"%.100s\")", cmd, argv[2]);
  }
  return a;
}

void print_version(int fd) {
  out(fd, "appconfig-extension %s\n", APPCONFIG_VERSION);
  out(fd, "commit: %s\n", APPCONFIG_GIT_COMMIT);
  out(fd, "mbedTLS: %s\n", MBEDTLS_VERSION_STRING);
  out(fd, "architecture: %s\n", kArch);
}

void print_help(int fd) {
  out(fd,
      "appconfig-extension %s: the AWS AppConfig Agent as a Lambda extension (when AWS_LAMBDA_RUNTIME_API is set)\n"
      "or as a local agent. Configurations are served on http://localhost:2772/applications/A/environments/E/"
      "configurations/P.\n\n",
      APPCONFIG_VERSION);
  out(fd,
      "Usage:\n"
      "  appconfig-extension                     serve (no arguments: what Lambda runs)\n"
      "  appconfig-extension check               read the environment and the manifest as start-up does, print the\n"
      "                                          plan; exit 0, or 2 with the error start-up would give\n"
      "  appconfig-extension healthcheck [--port N] [--host H]\n"
      "                                          GET /ping (with ACCESS_TOKEN when set); exit 0 on 200, else 1\n"
      "  appconfig-extension --version           version, git commit, mbedTLS version, architecture\n"
      "  appconfig-extension --help              this text\n\n");
  out(fd,
      "Settings (environment variables; an invalid value is an init error naming it). In Lambda only the\n"
      "AWS_APPCONFIG_EXTENSION_* names apply; the agent also reads the short name shown after \"agent:\".\n"
      "Details and accepted forms: docs/settings.md.\n");
  for (const settings::Variable& v : settings::variables()) {
    if (v.name == nullptr) {
      out(fd, "  %s (agent only)  default: %s  %s\n", v.agent_name, v.default_text, v.meaning);
    } else if (v.agent_name != nullptr) {
      out(fd, "  %s (agent: %s)  default: %s  %s\n", v.name, v.agent_name, v.default_text, v.meaning);
    } else {
      out(fd, "  %s  default: %s  %s\n", v.name, v.default_text, v.meaning);
    }
  }
}

void print_usage_error(int fd, const Args& a) {
  out(fd, "appconfig-extension: %s; see appconfig-extension --help\n", a.error);
}

void describe_listen(const settings::Settings& cfg, char* buf, size_t cap) {
  if (cfg.http_host.empty() || cfg.http_host == "localhost") {
    snprintf(buf, cap, "127.0.0.1:%u and [::1]:%u", cfg.http_port, cfg.http_port);
    return;
  }
  std::string_view h = cfg.http_host;
  bool v6 = h.find(':') != std::string_view::npos && h.front() != '[';
  snprintf(buf, cap, "%s%.*s%s:%u", v6 ? "[" : "", static_cast<int>(h.size()), h.data(), v6 ? "]" : "",
           cfg.http_port);
}

int healthcheck(const Args& a, const char* const* envp) {
  settings::Settings& cfg = g_healthcheck.cfg;
  settings::Error serr;
  if (!settings::load(envp, cfg, serr)) {
    out(2, "unhealthy: %s\n", serr.message);
    return kExitUnhealthy;
  }
  uint16_t port = cfg.http_port;
  if (a.port != nullptr && !settings::parse_port(a.port, &port)) {
    out(2, "unhealthy: --port \"%.40s\" is not a port: use a number from 1 to 65535\n", a.port);
    return kExitUnhealthy;
  }
  Target t;
  char err[300];
  if (!resolve(a.host != nullptr ? std::string_view(a.host) : cfg.http_host, port, t, err, sizeof err)) {
    out(2, "unhealthy: %s\n", err);
    return kExitUnhealthy;
  }
  int status = get_ping(t, cfg, err, sizeof err);
  if (status == 200) {
    out(1, "healthy: GET /ping on %s answered 200\n", t.shown);
    return kExitOk;
  }
  if (status != 0) {
    out(2, "unhealthy: GET /ping on %s answered %d%s\n", t.shown, status,
        status == 401 ? " (set ACCESS_TOKEN as the agent has it)" : "");
  } else {
    out(2, "unhealthy: %s\n", err);
  }
  return kExitUnhealthy;
}

void print_check(int fd, const Plan& p) {
  const settings::Settings& c = *p.cfg;
  char listen[200];
  describe_listen(c, listen, sizeof listen);
  out(fd, "mode: %s\n", p.mode);
  out(fd, "source: %s\n", p.source);
  if (p.credentials != nullptr && p.credentials[0] != '\0') {
    out(fd, "region: %.*s\n", static_cast<int>(p.region.size()), p.region.data());
    out(fd, "credentials: %s\n", p.credentials);
  }
  out(fd, "listen: %s\n", listen);
  out(fd, "poll interval: %llu ms, poll timeout: %llu ms, max connections: %u\n",
      static_cast<unsigned long long>(c.poll_interval_ms), static_cast<unsigned long long>(c.poll_timeout_ms),
      c.max_connections);
  out(fd, "log: level %s%s, format %s; metrics: %s\n", settings::log_level_name(c.log_level),
      c.log_level_from_lambda ? " (from AWS_LAMBDA_LOG_LEVEL)" : "",
      c.log_format == settings::LogFormat::kJson ? "json" : "text", settings::metrics_name(c.metrics));
  out(fd, "prefetch: %zu key(s)\n", p.num_keys);
  for (size_t i = 0; i < p.num_keys; ++i) {
    const Plan::Key& k = p.keys[i];
    out(fd, "  %.*s:%.*s:%.*s (%s)\n", static_cast<int>(k.application.size()), k.application.data(),
        static_cast<int>(k.environment.size()), k.environment.data(), static_cast<int>(k.profile.size()),
        k.profile.data(), k.why);
  }
  out(fd, "ok: start-up would succeed with these settings (nothing was bound or fetched)\n");
}

}  // namespace appconfig::cli
