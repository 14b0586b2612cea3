// settings: environment variables -> validated Settings. See include/appconfig/core/settings.h and
// docs/settings.md.
#include "appconfig/core/settings.h"

#include "appconfig/core/error.h"
#include "appconfig/core/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

namespace appconfig::settings {
namespace {

// Longest value echoed back in an error message: enough to recognise it, short enough that the
// message (512 bytes) still holds the accepted forms.
constexpr size_t kMaxEchoBytes = 120;
// PATH_MAX on Linux: longer paths cannot be opened anyway.
constexpr size_t kMaxPathBytes = 4095;
// URLs (proxy, endpoints): far above any real host name plus path.
constexpr size_t kMaxUrlBytes = 2048;
// AWS region names are short ("us-gov-west-1", "ap-southeast-5"); they become DNS labels.
constexpr size_t kMaxRegionBytes = 32;
// STS AssumeRole parameter limits (STS API reference: RoleArn 20..2048, ExternalId 2..1224,
// RoleSessionName 2..64).
constexpr size_t kMinRoleArnBytes = 20, kMaxRoleArnBytes = 2048;
constexpr size_t kMinExternalIdBytes = 2, kMaxExternalIdBytes = 1224;
constexpr size_t kMinSessionNameBytes = 2, kMaxSessionNameBytes = 64;
// Tokens compared against request headers: an HTTP server would refuse larger headers anyway.
constexpr size_t kMaxTokenBytes = 4096;

constexpr std::string_view kLongPrefix = "AWS_APPCONFIG_EXTENSION_";

// ---------------------------------------------------------------- small helpers

using text::iequals;
using text::is_alpha;
using text::is_digit;
using text::parse_u64;

bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool has_ctl(std::string_view s) {
  for (char c : s)
    if (is_ctl(c)) return true;
  return false;
}

bool mul_u64(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if (is_digit(c) || is_alpha(c)) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// ---------------------------------------------------------------- the environment

class Env {
 public:
  explicit Env(const char* const* envp) : envp_(envp) {}
  // First "NAME=value" entry for name; empty or absent -> false (empty = unset).
  bool get(std::string_view name, std::string_view* value) const {
    if (envp_ == nullptr) return false;
    for (const char* const* e = envp_; *e != nullptr; ++e) {
      const char* entry = *e;
      if (std::strncmp(entry, name.data(), name.size()) != 0 || entry[name.size()] != '=') continue;
      std::string_view v(entry + name.size() + 1);
      if (v.empty()) return false;
      *value = v;
      return true;
    }
    return false;
  }

 private:
  const char* const* envp_;
};

// Which name a setting was read from, for the error message.
struct Found {
  char name[64];
  std::string_view value;
};

// The long AWS_APPCONFIG_EXTENSION_<suffix> name wins; in agent mode <agent_name> is read when the
// long one is unset. long_suffix may be null (agent-only), agent_name may be null (Lambda-only).
bool lookup(const Env& env, Mode mode, const char* long_suffix, const char* agent_name, Found* f) {
  if (long_suffix != nullptr) {
    snprintf(f->name, sizeof f->name, "%.*s%s", static_cast<int>(kLongPrefix.size()), kLongPrefix.data(), long_suffix);
    if (env.get(f->name, &f->value)) return true;
  }
  if (mode == Mode::kAgent && agent_name != nullptr) {
    snprintf(f->name, sizeof f->name, "%s", agent_name);
    if (env.get(f->name, &f->value)) return true;
  }
  return false;
}

bool lookup_plain(const Env& env, const char* name, Found* f) {
  snprintf(f->name, sizeof f->name, "%s", name);
  return env.get(f->name, &f->value);
}

// ---------------------------------------------------------------- error messages

// kUrl: the value with its userinfo (user:password@) hidden.
enum class Echo : uint8_t { kValue, kHidden, kUrl };


// NAME="value" <what>. Always returns false so callers can `return fail(...)`.
bool fail(Error& err, const Found& f, Echo echo, const char* fmt, ...) __attribute__((format(printf, 4, 5)));
bool fail(Error& err, const Found& f, Echo echo, const char* fmt, ...) {
  char q[kMaxEchoBytes * 4 + 8];
  if (echo == Echo::kHidden) {
    snprintf(q, sizeof q, "(value hidden, %zu bytes)", f.value.size());
  } else if (echo == Echo::kUrl) {
    char shown[kMaxEchoBytes * 4 + 8];
    text::quote(q, sizeof q, redact_userinfo(f.value, shown, sizeof shown), kMaxEchoBytes);
  } else {
    text::quote(q, sizeof q, f.value, kMaxEchoBytes);
  }
  error::fail(err.message, sizeof err.message, "%s%s%s ", f.name, echo == Echo::kHidden ? " " : "=", q);
  va_list ap;
  va_start(ap, fmt);
  error::vappend(err.message, sizeof err.message, fmt, ap);
  va_end(ap);
  return false;
}

// ---------------------------------------------------------------- shared grammars

// Go's time.ParseDuration grammar (the official agent's): one or more <decimal><unit> terms, e.g.
// "1.5s", "1h30m", "300ms", "2h45m10.5s", ".5h", "1s1m" (any order, repeats add up); units ns, us,
// µs (U+00B5), μs (U+03BC), ms, s, m, h (case-sensitive). The total must fit Go's int64
// nanoseconds (about 2,562,047 h), as in Go; it is then truncated to whole milliseconds (our
// resolution: "1.0005s" is 1000 ms, "300us" is 0 and fails any range that starts at 1 ms). A bare
// integer keeps today's meaning: default_unit_ms each ("45" = 45 s for intervals, "3000" = 3000 ms
// for timeouts), overflow-checked in uint64 milliseconds. Signs are refused (no negative waits).
constexpr uint64_t kMaxGoDurationNs = 9'223'372'036'854'775'807ull;  // Go: math.MaxInt64

bool parse_duration_with_default(std::string_view text, uint64_t default_unit_ms, uint64_t* out_ms) {
  if (text.empty()) return false;
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && is_digit(c);
  if (all_digits) {
    uint64_t bare = 0, ms = 0;
    if (!parse_u64(text, &bare) || !mul_u64(bare, default_unit_ms, &ms)) return false;
    *out_ms = ms;
    return true;
  }
  struct Unit {
    std::string_view name;
    uint64_t ns;
  };
  static constexpr Unit kUnits[] = {{"ns", 1},
                                    {"us", 1'000},
                                    {"\xc2\xb5s", 1'000},  // U+00B5 micro sign
                                    {"\xce\xbcs", 1'000},  // U+03BC Greek small letter mu
                                    {"ms", 1'000'000},
                                    {"s", 1'000'000'000},
                                    {"m", 60'000'000'000},
                                    {"h", 3'600'000'000'000}};
  unsigned __int128 total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    // <digits>[.<digits>], at least one digit in all (Go: ".5s" and "1.s" are valid).
    unsigned __int128 whole = 0;
    size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
      if (whole > kMaxGoDurationNs) return false;
      ++i;
    }
    bool digits = i > start;
    uint64_t frac = 0, scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t fstart = i;
      while (i < text.size() && is_digit(text[i])) {
        // Digits past nanosecond precision of an hour (10^-13 h) change nothing: stop scaling.
        if (scale < 1'000'000'000'000'000'000ull) {
          frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
          scale *= 10;
        }
        ++i;
      }
      digits = digits || i > fstart;
    }
    if (!digits) return false;
    size_t ustart = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    const Unit* u = nullptr;
    for (const Unit& k : kUnits)
      if (k.name == unit) u = &k;
    if (u == nullptr) return false;  // missing or unknown unit
    total_ns += whole * u->ns + static_cast<unsigned __int128>(frac) * u->ns / scale;
    if (total_ns > kMaxGoDurationNs) return false;
  }
  *out_ms = static_cast<uint64_t>(total_ns / 1'000'000);
  return true;
}

bool valid_port_text(std::string_view s) {
  uint16_t p = 0;
  return parse_port(s, &p);
}

// host[:port] where host is a DNS name / IPv4 literal or [IPv6]. Empty host -> false.
bool valid_host_port(std::string_view s, bool port_required) {
  std::string_view host = s, port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view inside = s.substr(1, close - 1);
    for (char c : inside)
      if (!(text::hex_value(c) >= 0 || c == ':' || c == '.')) return false;
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) {
      port = {};
    } else if (rest.front() == ':') {
      port = rest.substr(1);
      if (!valid_port_text(port)) return false;
    } else {
      return false;
    }
    return !port_required || !rest.empty();
  }
  size_t colon = s.rfind(':');
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (!valid_port_text(port)) return false;
  } else if (port_required) {
    return false;
  }
  if (host.empty() || host.size() > 253) return false;  // RFC 1035 §2.3.4 name length
  for (char c : host)
    if (!(is_digit(c) || is_alpha(c) || c == '-' || c == '.' || c == '_')) return false;
  return true;
}

enum class UrlPath : uint8_t { kRootOnly, kAny };
enum class UrlUserinfo : uint8_t { kReject, kAllow };

// scheme://[userinfo@]host[:port][path] with scheme http or https (RFC 3986 §3).
bool valid_url(std::string_view s, UrlPath path_rule, UrlUserinfo userinfo_rule) {
  if (s.size() > kMaxUrlBytes) return false;
  for (char c : s)
    if (is_ctl(c) || c == ' ') return false;
  size_t sep = s.find("://");
  if (sep == std::string_view::npos) return false;
  std::string_view scheme = s.substr(0, sep);
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) return false;
  std::string_view rest = s.substr(sep + 3);
  size_t path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (userinfo_rule == UrlUserinfo::kReject) return false;
    authority = authority.substr(at + 1);
  }
  if (!valid_host_port(authority, false)) return false;
  if (path_rule == UrlPath::kRootOnly && !path.empty() && path != "/") return false;
  return true;
}

bool valid_path(std::string_view s) { return s.size() <= kMaxPathBytes && !has_ctl(s); }

// Lower-case letters, digits and '-', starting with a letter: region names become DNS labels.
bool valid_region(std::string_view s) {
  if (s.empty() || s.size() > kMaxRegionBytes) return false;
  if (!(s.front() >= 'a' && s.front() <= 'z') || s.back() == '-') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) return false;
  return true;
}

// STS character classes: [\w+=,.@-] for RoleSessionName, plus ":/" for ExternalId.
bool valid_sts_chars(std::string_view s, const char* extra) {
  for (char c : s) {
    if (is_digit(c) || is_alpha(c) || c == '_') continue;
    if (c != '\0' && std::strchr(extra, c) != nullptr) continue;
    return false;
  }
  return true;
}

// Visible ASCII, no spaces: tokens compared byte for byte against a request header.
bool valid_token(std::string_view s) {
  if (s.size() > kMaxTokenBytes) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

// ---------------------------------------------------------------- per-variable readers

constexpr const char* kDurationForms =
    "use seconds (45) or a Go duration (45s, 1m, 1h, 1m30s, 1.5s; units h, m, s, ms, us, ns)";
constexpr const char* kTimeoutForms = "use milliseconds (3000) or a duration with a unit (300ms, 5s, 1.5s)";
constexpr const char* kSizeForms =
    "use bytes (16777216) or a size with a unit (512KiB, 16MiB, 1GiB binary; 4MB = 4000000 decimal)";
constexpr const char* kBoolForms = "use true or false (also 1/0, yes/no; any case)";
constexpr const char* kKeyForms =
    "use App:Env:Profile or /applications/App/environments/Env/configurations/Profile, names 1 to 128 "
    "characters, percent-encoded where needed (a%2Fb)";

bool read_bool(const Env& env, Mode mode, const char* sfx, const char* agent, bool dflt, bool* out, Error& err) {
  Found f;
  if (!lookup(env, mode, sfx, agent, &f)) {
    *out = dflt;
    return true;
  }
  if (!parse_bool(f.value, out)) return fail(err, f, Echo::kValue, "is not a valid boolean: %s", kBoolForms);
  return true;
}

bool read_bool_plain(const Env& env, const char* name, bool* out, Error& err) {
  Found f;
  *out = false;
  if (!lookup_plain(env, name, &f)) return true;
  if (!parse_bool(f.value, out)) return fail(err, f, Echo::kValue, "is not a valid boolean: %s", kBoolForms);
  return true;
}

enum class Check : uint8_t { kPath, kUrlAny, kToken, kNoCtl };

bool check_string(const Found& f, Check check, Echo echo, Error& err) {
  switch (check) {
    case Check::kPath:
      if (!valid_path(f.value))
        return fail(err, f, echo, "is not a valid path: at most %zu bytes, no control characters", kMaxPathBytes);
      return true;
    case Check::kUrlAny:
      if (!valid_url(f.value, UrlPath::kAny, UrlUserinfo::kReject))
        return fail(err, f, echo, "is not a valid URL: use http://host[:port][/path] or https://host[:port][/path]");
      return true;
    case Check::kToken:
      if (!valid_token(f.value))
        return fail(err, f, echo, "is not a valid token: 1 to %zu visible ASCII characters, no spaces", kMaxTokenBytes);
      return true;
    case Check::kNoCtl:
      if (has_ctl(f.value) || f.value.size() > kMaxTokenBytes)
        return fail(err, f, echo, "is not valid: at most %zu bytes, no control characters", kMaxTokenBytes);
      return true;
  }
  return true;
}

bool read_string_plain(const Env& env, const char* name, Check check, Echo echo, std::string_view* out, Error& err) {
  Found f;
  *out = {};
  if (!lookup_plain(env, name, &f)) return true;
  if (!check_string(f, check, echo, err)) return false;
  *out = f.value;
  return true;
}

bool read_string(const Env& env, Mode mode, const char* sfx, const char* agent, Check check, Echo echo,
                 std::string_view* out, Error& err) {
  Found f;
  *out = {};
  if (!lookup(env, mode, sfx, agent, &f)) return true;
  if (!check_string(f, check, echo, err)) return false;
  *out = f.value;
  return true;
}

bool read_prefetch(const Found& f, Settings& s, Error& err) {
  std::string_view list = f.value;
  size_t item_no = 0;
  while (true) {
    size_t comma = list.find(',');
    std::string_view item = text::trim(list.substr(0, comma));
    ++item_no;
    if (item.empty())
      return fail(err, f, Echo::kValue, "has an empty item (#%zu): separate keys with single commas; %s", item_no,
                  kKeyForms);
    if (s.num_prefetch == kMaxPrefetch) return fail(err, f, Echo::kValue, "lists more than %zu keys", kMaxPrefetch);
    KeyRef key;
    size_t before = s.storage_used;
    if (!parse_key_ref(item, key, s.storage, sizeof s.storage, &s.storage_used)) {
      char q[kMaxEchoBytes * 4 + 8];
      text::quote(q, sizeof q, item, kMaxEchoBytes);
      // Tell "no room left" apart from a malformed key: retry into a scratch buffer that always fits.
      char scratch[3 * kMaxNameBytes];
      size_t scratch_used = 0;
      KeyRef probe;
      if (parse_key_ref(item, probe, scratch, sizeof scratch, &scratch_used))
        return fail(err, f, Echo::kValue, "item #%zu %s does not fit: the decoded names of all keys exceed %zu bytes",
                    item_no, q, sizeof s.storage);
      return fail(err, f, Echo::kValue, "item #%zu %s is not a valid key: %s", item_no, q, kKeyForms);
    }
    bool dup = false;
    for (size_t i = 0; i < s.num_prefetch && !dup; ++i) {
      const KeyRef& k = s.prefetch[i];
      dup = k.application == key.application && k.environment == key.environment && k.profile == key.profile;
    }
    if (dup) {
      s.storage_used = before;  // the earlier copy stays; give the bytes back
    } else {
      s.prefetch[s.num_prefetch++] = key;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

bool read_proxy_headers(const Found& f, Settings& s, Error& err) {
  std::string_view list = f.value;
  size_t item_no = 0;
  constexpr const char* kForms = "use \"Name: value, Name2: value2\" (RFC 9110 token names, no control characters)";
  while (true) {
    size_t comma = list.find(',');
    std::string_view item = text::trim(list.substr(0, comma));
    ++item_no;
    if (item.empty()) return fail(err, f, Echo::kHidden, "has an empty item (#%zu): %s", item_no, kForms);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos)
      return fail(err, f, Echo::kHidden, "item #%zu has no ':' between name and value: %s", item_no, kForms);
    std::string_view name = text::trim(item.substr(0, colon));
    std::string_view value = text::trim(item.substr(colon + 1));
    bool name_ok = !name.empty() && name.size() == item.substr(0, colon).size();  // no space before ':'
    for (char c : name) name_ok = name_ok && is_tchar(c);
    if (!name_ok) return fail(err, f, Echo::kHidden, "item #%zu has an invalid header name: %s", item_no, kForms);
    for (char c : value)
      if (is_ctl(c) && c != '\t')
        return fail(err, f, Echo::kHidden, "item #%zu has a control character in its value: %s", item_no, kForms);
    if (s.num_proxy_headers == kMaxProxyHeaders)
      return fail(err, f, Echo::kHidden, "has more than %zu headers", kMaxProxyHeaders);
    s.proxy_headers[s.num_proxy_headers++] = ProxyHeader{name, value};
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

std::string_view redact_userinfo(std::string_view url, char* out, size_t cap) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  size_t at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return url;
  at += start;
  constexpr std::string_view kMask = "***";
  size_t need = start + kMask.size() + (url.size() - at);
  if (need > cap) return "(URL hidden)";
  memcpy(out, url.data(), start);
  memcpy(out + start, kMask.data(), kMask.size());
  memcpy(out + start + kMask.size(), url.data() + at, url.size() - at);
  return std::string_view(out, need);
}

// ---------------------------------------------------------------- public parsers

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kFatal: return "fatal";
    case LogLevel::kNone: return "none";
  }
  return "none";
}

const char* metrics_name(Metrics m) {
  switch (m) {
    case Metrics::kOff: return "off";
    case Metrics::kEmf: return "emf";
    case Metrics::kPrometheus: return "prometheus";
  }
  return "off";
}

// ---------------------------------------------------------------- the settings table (--help)

namespace {
constexpr const char* kNoDefault = "\u2014";  // an em dash, as docs/settings.md writes "no default"
constexpr const char* kLong = nullptr;        // readability: "no such name" in the table below
constexpr Variable kVariables[] = {
    // Extension variables (docs/settings.md "Extension variables").
    {"AWS_APPCONFIG_EXTENSION_HTTP_PORT", "HTTP_PORT", "2772", "local port"},
    {kLong, "HTTP_HOST", "loopback",
     "all, localhost, an IP or a host name; default 0.0.0.0 under ECS or Kubernetes (agent only)"},
    {"AWS_APPCONFIG_EXTENSION_LOG_LEVEL", "LOG_LEVEL", "info", "trace, debug, info, warn, error, fatal or none"},
    {"AWS_APPCONFIG_EXTENSION_LOG_FORMAT", "LOG_FORMAT", "text",
     "text or json (one JSON object per line); Lambda: AWS_LAMBDA_LOG_FORMAT when unset"},
    {kLong, "LOG_PATH", "stderr", "log file, opened for append"},
    {"AWS_APPCONFIG_EXTENSION_METRICS", "METRICS", "off",
     "off, emf (CloudWatch Embedded Metric Format on stdout) or prometheus (agent: GET /metrics)"},
    {"AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS", "MAX_CONNECTIONS", "3", "max upstream connections to AppConfig"},
    {"AWS_APPCONFIG_EXTENSION_MAX_CLIENT_CONNECTIONS", "MAX_CLIENT_CONNECTIONS", "agent 1024, Lambda 256",
     "local client connections open at once (ours)"},
    {"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "POLL_INTERVAL", "45 s", "refresh interval"},
    {"AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS", "REQUEST_TIMEOUT", "3000 ms", "max wait per fetch"},
    {"AWS_APPCONFIG_EXTENSION_PREFETCH_LIST", "PREFETCH_LIST", kNoDefault, "App:Env:Profile keys fetched during init"},
    {"AWS_APPCONFIG_EXTENSION_PROXY_URL", "PROXY_URL", kNoDefault, "proxy for CONNECT tunnels"},
    {"AWS_APPCONFIG_EXTENSION_PROXY_HEADERS", "PROXY_HEADERS", kNoDefault, "extra headers on CONNECT"},
    {"AWS_APPCONFIG_EXTENSION_ROLE_ARN", "ROLE_ARN", kNoDefault, "STS AssumeRole for all retrievals"},
    {"AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID", "ROLE_EXTERNAL_ID", kNoDefault, "AssumeRole ExternalId"},
    {"AWS_APPCONFIG_EXTENSION_ROLE_SESSION_NAME", "ROLE_SESSION_NAME", kNoDefault, "AssumeRole RoleSessionName"},
    {"AWS_APPCONFIG_EXTENSION_SERVICE_REGION", "SERVICE_REGION", "discovered",
     "AppConfig region; else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, instance metadata"},
    {"AWS_APPCONFIG_EXTENSION_MANIFEST", "MANIFEST", kNoDefault, "file:/path, App:Env:Profile or inline JSON"},
    {"AWS_APPCONFIG_EXTENSION_WAIT_ON_MANIFEST", "WAIT_ON_MANIFEST", "true", "wait for the manifest at start-up"},
    {"LOCAL_DEVELOPMENT_DIRECTORY", kLong, kNoDefault, "serve from files, never call AWS"},
    {"AWS_APPCONFIG_EXTENSION_CACHE_SIZE", kLong, "16 MiB", "cache arena size"},
    {"AWS_APPCONFIG_EXTENSION_REQUIRE_TOKEN", kLong, "false",
     "require X-Aws-Parameters-Secrets-Token = AWS_SESSION_TOKEN"},
    {kLong, "ACCESS_TOKEN", kNoDefault, "require Authorization: Bearer <token>"},
    {"AWS_APPCONFIG_EXTENSION_BACKUP_DIRECTORY", "BACKUP_DIRECTORY", kNoDefault, "write each configuration there"},
    {"AWS_APPCONFIG_EXTENSION_PRELOAD_BACKUPS", "PRELOAD_BACKUPS", "true", "load backups at start"},
    {"AWS_LAMBDA_RUNTIME_API", kLong, kNoDefault, "set by Lambda; selects Lambda mode"},
    {"AWS_LAMBDA_INITIALIZATION_TYPE", kLong, kNoDefault, "set by Lambda; lambda-managed-instances is recognised"},
    {"AWS_LAMBDA_LOG_FORMAT", kLong, "Text", "set by Lambda; JSON gives JSON lines when LOG_FORMAT is unset"},
    {"AWS_LAMBDA_LOG_LEVEL", kLong, kNoDefault, "set by Lambda; the level when LOG_LEVEL is unset"},
    // Standard AWS variables (docs/settings.md "Standard AWS variables").
    {"AWS_REGION", kLong, kNoDefault, "region (when SERVICE_REGION is unset)"},
    {"AWS_DEFAULT_REGION", kLong, kNoDefault, "region (when AWS_REGION is unset)"},
    {"AWS_PROFILE", kLong, "default", "shared-file profile"},
    {"AWS_SHARED_CREDENTIALS_FILE", kLong, "$HOME/.aws/credentials", "shared credentials file"},
    {"AWS_CONFIG_FILE", kLong, "$HOME/.aws/config", "shared config file"},
    {"HOME", kLong, kNoDefault, "where ~/.aws is"},
    {"AWS_WEB_IDENTITY_TOKEN_FILE", kLong, kNoDefault, "web identity token (EKS IRSA), with AWS_ROLE_ARN"},
    {"AWS_ROLE_ARN", kLong, kNoDefault, "role for the web identity token"},
    {"AWS_ROLE_SESSION_NAME", kLong, kNoDefault, "session name for the web identity role"},
    {"AWS_EC2_METADATA_SERVICE_ENDPOINT", kLong, "http://169.254.169.254", "instance metadata endpoint"},
    {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", kLong, "IPv4", "IPv4 or IPv6 instance metadata endpoint"},
    {"AWS_EC2_METADATA_DISABLED", kLong, "false", "never ask instance metadata"},
    {"ECS_CONTAINER_METADATA_URI_V4", kLong, kNoDefault, "set by ECS; HTTP_HOST defaults to 0.0.0.0"},
    {"KUBERNETES_SERVICE_HOST", kLong, kNoDefault, "set by Kubernetes; HTTP_HOST defaults to 0.0.0.0"},
    {"AWS_ACCESS_KEY_ID", kLong, kNoDefault, "credentials"},
    {"AWS_SECRET_ACCESS_KEY", kLong, kNoDefault, "credentials"},
    {"AWS_SESSION_TOKEN", kLong, kNoDefault, "credentials"},
    {"AWS_CONTAINER_CREDENTIALS_FULL_URI", kLong, kNoDefault, "container credentials endpoint"},
    {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", kLong, kNoDefault, "container credentials path (169.254.170.2)"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", kLong, kNoDefault, "container credentials token"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", kLong, kNoDefault, "container credentials token file"},
    {"AWS_CA_BUNDLE", kLong, kNoDefault, "extra trusted CAs (PEM file)"},
    {"AWS_ENDPOINT_URL_APPCONFIGDATA", kLong, kNoDefault, "AppConfig Data endpoint override"},
    {"AWS_ENDPOINT_URL_STS", kLong, kNoDefault, "STS endpoint override"},
    {"AWS_ENDPOINT_URL", kLong, kNoDefault, "endpoint override for both"},
    {"AWS_USE_FIPS_ENDPOINT", kLong, "false", "FIPS endpoints"},
    {"AWS_USE_DUALSTACK_ENDPOINT", kLong, "false", "dual-stack endpoints"},
};
}  // namespace

std::span<const Variable> variables() { return kVariables; }

bool parse_duration_ms(std::string_view text, uint64_t* out_ms) {
  return parse_duration_with_default(text, 1'000, out_ms);
}

bool parse_timeout_ms(std::string_view text, uint64_t* out_ms) { return parse_duration_with_default(text, 1, out_ms); }

bool parse_size_bytes(std::string_view text, size_t* out) {
  size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  uint64_t n = 0;
  if (!parse_u64(text.substr(0, i), &n)) return false;
  std::string_view unit = text.substr(i);
  struct Unit {
    std::string_view name;
    uint64_t factor;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", uint64_t{1} << 10},
      {"ki", uint64_t{1} << 10},
      {"kib", uint64_t{1} << 10},
      {"kb", 1'000},
      {"m", uint64_t{1} << 20},
      {"mi", uint64_t{1} << 20},
      {"mib", uint64_t{1} << 20},
      {"mb", 1'000'000},
      {"g", uint64_t{1} << 30},
      {"gi", uint64_t{1} << 30},
      {"gib", uint64_t{1} << 30},
      {"gb", 1'000'000'000},
  };
  for (const Unit& u : kUnits) {
    if (!iequals(unit, u.name)) continue;
    uint64_t bytes = 0;
    if (!mul_u64(n, u.factor, &bytes)) return false;
    if (bytes > std::numeric_limits<size_t>::max()) return false;
    *out = static_cast<size_t>(bytes);
    return true;
  }
  return false;
}

bool parse_bool(std::string_view text, bool* out) {
  if (iequals(text, "true") || text == "1" || iequals(text, "yes")) {
    *out = true;
    return true;
  }
  if (iequals(text, "false") || text == "0" || iequals(text, "no")) {
    *out = false;
    return true;
  }
  return false;
}

bool parse_log_level(std::string_view text, LogLevel* out) {
  static constexpr LogLevel kAll[] = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                                      LogLevel::kError, LogLevel::kFatal, LogLevel::kNone};
  for (LogLevel l : kAll) {
    if (iequals(text, log_level_name(l))) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool parse_port(std::string_view text, uint16_t* out) {
  uint64_t v = 0;
  if (!parse_u64(text, &v) || v < 1 || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

bool parse_key_ref(std::string_view text, KeyRef& out, char* storage, size_t cap, size_t* used) {
  std::string_view raw[3];
  if (!text.empty() && text.front() == '/') {
    static constexpr std::string_view kNames[3] = {"applications", "environments", "configurations"};
    std::string_view rest = text;
    for (size_t i = 0; i < 3; ++i) {
      if (rest.empty() || rest.front() != '/') return false;
      rest.remove_prefix(1);
      if (rest.substr(0, kNames[i].size()) != kNames[i]) return false;
      rest.remove_prefix(kNames[i].size());
      if (rest.empty() || rest.front() != '/') return false;
      rest.remove_prefix(1);
      size_t slash = rest.find('/');
      raw[i] = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    if (!rest.empty()) return false;  // trailing "/" or extra segments
  } else {
    size_t c1 = text.find(':');
    if (c1 == std::string_view::npos) return false;
    size_t c2 = text.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return false;
    if (text.find(':', c2 + 1) != std::string_view::npos) return false;  // a ':' in a name is %3A
    raw[0] = text.substr(0, c1);
    raw[1] = text.substr(c1 + 1, c2 - c1 - 1);
    raw[2] = text.substr(c2 + 1);
  }
  size_t at = *used;
  std::string_view dec[3];
  for (size_t i = 0; i < 3; ++i) {
    if (raw[i].empty() || at > cap) return false;
    size_t len = 0;
    if (!text::percent_decode(raw[i], storage + at, cap - at, &len)) return false;
    std::string_view d(storage + at, len);
    if (len == 0 || len > kMaxNameBytes || d.find('\0') != std::string_view::npos) return false;
    dec[i] = d;
    at += len;
  }
  out = KeyRef{dec[0], dec[1], dec[2]};
  *used = at;
  return true;
}

// ---------------------------------------------------------------- load

// load() runs one step per group of variables (defined below it, in the order they run).
namespace {
bool read_mode(const Env& env, Settings& s, Error& err);
bool read_listener(const Env& env, Settings& s, Error& err);
bool read_logging(const Env& env, Settings& s, Error& err);
bool read_metrics(const Env& env, Settings& s, Error& err);
bool read_connections(const Env& env, Settings& s, Error& err);
bool read_polling(const Env& env, Settings& s, Error& err);
bool read_prefetch_list(const Env& env, Settings& s, Error& err);
bool read_proxy(const Env& env, Settings& s, Error& err);
bool read_role(const Env& env, Settings& s, Error& err);
bool read_region(const Env& env, Settings& s, Error& err);
bool read_manifest(const Env& env, Settings& s, Error& err);
bool read_serving(const Env& env, Settings& s, Error& err);
bool read_sdk_variables(const Env& env, Settings& s, Error& err);
bool read_sdk_identity(const Env& env, Settings& s, Error& err);
bool check_cross_rules(const Env& env, Settings& s, Error& err);

}  // namespace

bool load(const char* const* envp, Settings& s, Error& err) {
  err.message[0] = '\0';
  s = Settings{};
  const Env env(envp);
  // In this order: the first failing step gives the message, and later steps may look at what
  // earlier ones set (the mode; a role's external ID needs the ARN; proxy headers need the URL).
  return read_mode(env, s, err) && read_listener(env, s, err) && read_logging(env, s, err) &&
         read_metrics(env, s, err) && read_connections(env, s, err) && read_polling(env, s, err) &&
         read_prefetch_list(env, s, err) && read_proxy(env, s, err) && read_role(env, s, err) &&
         read_region(env, s, err) && read_manifest(env, s, err) && read_serving(env, s, err) &&
         read_sdk_variables(env, s, err) && read_sdk_identity(env, s, err) && check_cross_rules(env, s, err);
}

namespace {

// Mode first: every later rule depends on it.
bool read_mode(const Env& env, Settings& s, Error& err) {
  Found f;
  // Mode: Lambda sets AWS_LAMBDA_RUNTIME_API for every extension (spec §3).
  if (lookup_plain(env, "AWS_LAMBDA_RUNTIME_API", &f)) {
    if (!valid_host_port(f.value, true))
      return fail(err, f, Echo::kValue, "is not a valid Runtime API address: expected host:port (127.0.0.1:9001)");
    s.mode = Mode::kLambda;
    s.runtime_api = f.value;
  } else {
    s.mode = Mode::kAgent;
  }
  // Unknown initialization types are accepted: Lambda sets this variable, not the user, and a new
  // type must not break the extension.
  s.managed_instances =
      lookup_plain(env, "AWS_LAMBDA_INITIALIZATION_TYPE", &f) && f.value == "lambda-managed-instances";
  return true;
}

// The local listener: port and (agent) address.
bool read_listener(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  s.http_port = kDefaultHttpPort;
  if (lookup(env, mode, "HTTP_PORT", "HTTP_PORT", &f) && !parse_port(f.value, &s.http_port))
    return fail(err, f, Echo::kValue, "is not a valid port: use a number from 1 to 65535 (default %u)",
                kDefaultHttpPort);

  // Lambda: always loopback (spec §3 security model), so only the agent reads HTTP_HOST.
  if (lookup(env, mode, nullptr, "HTTP_HOST", &f)) {
    std::string_view bare = f.value;
    if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
    char h[INET6_ADDRSTRLEN + 1];
    bool ok = false;
    if (bare.size() < sizeof h) {
      memcpy(h, bare.data(), bare.size());
      h[bare.size()] = '\0';
      in_addr a4;
      in6_addr a6;
      ok = inet_pton(AF_INET, h, &a4) == 1 || inet_pton(AF_INET6, h, &a6) == 1;
    }
    // A host name (resolved once at start, every address) or "all" / "localhost": RFC 1123 labels.
    // A numeric last label is a mistyped IPv4 address ("256.0.0.1"), never a name (RFC 1123 §2.1).
    if (!ok && bare.size() == f.value.size() && valid_host_port(bare, false) && bare.find(':') == std::string_view::npos) {
      std::string_view last = bare.substr(bare.rfind('.') == std::string_view::npos ? 0 : bare.rfind('.') + 1);
      bool numeric = true;
      for (char c : last) numeric = numeric && is_digit(c);
      ok = !last.empty() && !numeric && bare.front() != '.' && bare.front() != '-';
    }
    if (!ok)
      return fail(err, f, Echo::kValue,
                  "is not a valid listen address: use all, localhost, an IP address (127.0.0.1, ::1, 0.0.0.0) or a "
                  "host name");
    s.http_host = f.value;
  } else if (mode == Mode::kAgent &&
             (lookup_plain(env, "ECS_CONTAINER_METADATA_URI_V4", &f) || lookup_plain(env, "KUBERNETES_SERVICE_HOST", &f))) {
    // The official agent's default under ECS and EKS: other containers / pods reach it by address.
    s.http_host = "0.0.0.0";
  }
  return true;
}

// Log level, format and file.
bool read_logging(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  s.log_level = LogLevel::kInfo;
  if (lookup(env, mode, "LOG_LEVEL", "LOG_LEVEL", &f) && !parse_log_level(f.value, &s.log_level))
    return fail(err, f, Echo::kValue,
                "is not a valid log level: use trace, debug, info, warn, error, fatal or none (any case)");
  // Lambda's advanced logging controls (set by Lambda, not by the user): the level applies when ours
  // is unset. A value we do not know is ignored, so a new Lambda level cannot break init.
  if (mode == Mode::kLambda && !lookup(env, mode, "LOG_LEVEL", nullptr, &f) &&
      lookup_plain(env, "AWS_LAMBDA_LOG_LEVEL", &f) && parse_log_level(f.value, &s.log_level))
    s.log_level_from_lambda = true;
  s.log_format = LogFormat::kText;
  if (lookup(env, mode, "LOG_FORMAT", "LOG_FORMAT", &f)) {
    if (iequals(f.value, "json")) {
      s.log_format = LogFormat::kJson;
    } else if (!iequals(f.value, "text")) {
      return fail(err, f, Echo::kValue, "is not a valid log format: use text or json (any case)");
    }
  } else if (mode == Mode::kLambda && lookup_plain(env, "AWS_LAMBDA_LOG_FORMAT", &f) && iequals(f.value, "json")) {
    s.log_format = LogFormat::kJson;  // Lambda's own values are Text and JSON; anything else stays text
  }
  if (!read_string(env, mode, nullptr, "LOG_PATH", Check::kPath, Echo::kValue, &s.log_path, err)) return false;
  return true;
}

bool read_metrics(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  s.metrics = Metrics::kOff;
  if (lookup(env, mode, "METRICS", "METRICS", &f)) {
    if (iequals(f.value, "emf")) {
      s.metrics = Metrics::kEmf;
    } else if (iequals(f.value, "prometheus") && mode == Mode::kAgent) {
      s.metrics = Metrics::kPrometheus;
    } else if (iequals(f.value, "prometheus")) {
      return fail(err, f, Echo::kValue,
                  "is not available in Lambda: nothing can scrape GET /metrics in a sandbox; use emf (metrics from "
                  "the function's log group)");
    } else if (!iequals(f.value, "off")) {
      return fail(err, f, Echo::kValue, "is not a valid metrics setting: use off, emf%s (any case)",
                  mode == Mode::kAgent ? " or prometheus" : "");
    }
  }
  return true;
}

// Upstream and client connection limits.
bool read_connections(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  s.max_connections = kDefaultMaxConnections;
  if (lookup(env, mode, "MAX_CONNECTIONS", "MAX_CONNECTIONS", &f)) {
    uint64_t v = 0;
    if (!parse_u64(f.value, &v) || v < kMinMaxConnections || v > kMaxMaxConnections)
      return fail(err, f, Echo::kValue, "is not a valid connection count: use a number from %u to %u (default %u)",
                  kMinMaxConnections, kMaxMaxConnections, kDefaultMaxConnections);
    s.max_connections = static_cast<uint32_t>(v);
  }

  // Our own setting (the official agent has none): local clients served at once.
  const uint32_t default_clients =
      mode == Mode::kLambda ? kDefaultMaxClientConnectionsLambda : kDefaultMaxClientConnectionsAgent;
  s.max_client_connections = default_clients;
  if (lookup(env, mode, "MAX_CLIENT_CONNECTIONS", "MAX_CLIENT_CONNECTIONS", &f)) {
    uint64_t v = 0;
    if (!parse_u64(f.value, &v) || v < kMinMaxClientConnections || v > kMaxMaxClientConnections)
      return fail(err, f, Echo::kValue,
                  "is not a valid client connection count: use a number from %u to %u (default %u)",
                  kMinMaxClientConnections, kMaxMaxClientConnections, default_clients);
    s.max_client_connections = static_cast<uint32_t>(v);
  }
  return true;
}

// Refresh interval and the timeout of one fetch.
bool read_polling(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  s.poll_interval_ms = kDefaultPollIntervalMs;
  if (lookup(env, mode, "POLL_INTERVAL_SECONDS", "POLL_INTERVAL", &f)) {
    uint64_t v = 0;
    if (!parse_duration_ms(f.value, &v))
      return fail(err, f, Echo::kValue, "is not a valid poll interval: %s", kDurationForms);
    if (v < kMinPollIntervalMs || v > kMaxPollIntervalMs)
      return fail(err, f, Echo::kValue, "is out of range: the poll interval must be from 1s to 24h (86400)");
    s.poll_interval_ms = v;
  }

  s.poll_timeout_ms = kDefaultPollTimeoutMs;
  if (lookup(env, mode, "POLL_TIMEOUT_MILLIS", "REQUEST_TIMEOUT", &f)) {
    uint64_t v = 0;
    if (!parse_timeout_ms(f.value, &v)) return fail(err, f, Echo::kValue, "is not a valid timeout: %s", kTimeoutForms);
    if (v < kMinPollTimeoutMs || v > kMaxPollTimeoutMs)
      return fail(err, f, Echo::kValue, "is out of range: the timeout must be from 1ms to 10m (600000)");
    s.poll_timeout_ms = v;
  }
  return true;
}

bool read_prefetch_list(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  if (lookup(env, mode, "PREFETCH_LIST", "PREFETCH_LIST", &f) && !read_prefetch(f, s, err)) return false;
  return true;
}

// The CONNECT proxy; its headers need its URL.
bool read_proxy(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  if (lookup(env, mode, "PROXY_URL", "PROXY_URL", &f)) {
    // The proxy URL may carry user:password@; never echo it.
    if (!valid_url(f.value, UrlPath::kRootOnly, UrlUserinfo::kAllow))
      return fail(err, f, Echo::kHidden,
                  "is not a valid proxy URL: use http://[user:password@]host[:port] or https://host[:port]");
    s.proxy_url = f.value;
  }
  if (lookup(env, mode, "PROXY_HEADERS", "PROXY_HEADERS", &f)) {
    if (s.proxy_url.empty())
      return fail(err, f, Echo::kHidden, "is set without a proxy URL: set AWS_APPCONFIG_EXTENSION_PROXY_URL%s",
                  mode == Mode::kAgent ? " or PROXY_URL" : "");
    s.proxy_headers_raw = f.value;
    if (!read_proxy_headers(f, s, err)) return false;
  }
  return true;
}

// STS AssumeRole for every retrieval; the external ID and session name need the ARN.
bool read_role(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  const char* role_arn_names =
      mode == Mode::kAgent ? "AWS_APPCONFIG_EXTENSION_ROLE_ARN or ROLE_ARN" : "AWS_APPCONFIG_EXTENSION_ROLE_ARN";
  if (lookup(env, mode, "ROLE_ARN", "ROLE_ARN", &f)) {
    if (f.value.size() < kMinRoleArnBytes || f.value.size() > kMaxRoleArnBytes || f.value.substr(0, 4) != "arn:" ||
        !valid_token(f.value))
      return fail(err, f, Echo::kValue,
                  "is not a valid role ARN: use arn:aws:iam::123456789012:role/Name (%zu to %zu characters)",
                  kMinRoleArnBytes, kMaxRoleArnBytes);
    s.role_arn = f.value;
  }
  if (lookup(env, mode, "ROLE_EXTERNAL_ID", "ROLE_EXTERNAL_ID", &f)) {
    if (f.value.size() < kMinExternalIdBytes || f.value.size() > kMaxExternalIdBytes ||
        !valid_sts_chars(f.value, "+=,.@:/-"))
      return fail(err, f, Echo::kHidden,
                  "is not a valid external ID: %zu to %zu characters from letters, digits and _+=,.@:/-",
                  kMinExternalIdBytes, kMaxExternalIdBytes);
    if (s.role_arn.empty()) return fail(err, f, Echo::kHidden, "is set without a role ARN: set %s", role_arn_names);
    s.role_external_id = f.value;
  }
  if (lookup(env, mode, "ROLE_SESSION_NAME", "ROLE_SESSION_NAME", &f)) {
    if (f.value.size() < kMinSessionNameBytes || f.value.size() > kMaxSessionNameBytes ||
        !valid_sts_chars(f.value, "+=,.@-"))
      return fail(err, f, Echo::kValue,
                  "is not a valid role session name: %zu to %zu characters from letters, digits and _+=,.@-",
                  kMinSessionNameBytes, kMaxSessionNameBytes);
    if (s.role_arn.empty()) return fail(err, f, Echo::kValue, "is set without a role ARN: set %s", role_arn_names);
    s.role_session_name = f.value;
  }
  return true;
}

bool read_region(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  // The SDKs' order after our own name: AWS_REGION, then AWS_DEFAULT_REGION (AWS CLI / boto3).
  s.region_source = "";
  if (lookup(env, mode, "SERVICE_REGION", "SERVICE_REGION", &f)) {
    s.region_source = f.name[0] == 'A' ? "AWS_APPCONFIG_EXTENSION_SERVICE_REGION" : "SERVICE_REGION";
  } else if (lookup_plain(env, "AWS_REGION", &f)) {
    s.region_source = "AWS_REGION";
  } else if (lookup_plain(env, "AWS_DEFAULT_REGION", &f)) {
    s.region_source = "AWS_DEFAULT_REGION";
  }
  if (s.region_source[0] != '\0') {
    if (!valid_region(f.value))
      return fail(err, f, Echo::kValue,
                  "is not a valid AWS region: lower-case letters, digits and '-', up to %zu characters (us-east-1)",
                  kMaxRegionBytes);
    s.service_region = f.value;
  }
  return true;
}

bool read_manifest(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  if (lookup(env, mode, "MANIFEST", "MANIFEST", &f)) {
    constexpr std::string_view kFile = "file:";
    // The official agent's third form: the manifest JSON itself. Validated at start-up by the
    // manifest parser with the same rules (and messages) as a file's content.
    std::string_view lead = text::trim(f.value);
    if (!lead.empty() && lead.front() == '{') {
      s.manifest_inline = true;
    } else if (f.value.substr(0, kFile.size()) == kFile) {
      std::string_view path = f.value.substr(kFile.size());
      if (path.empty() || path.front() != '/' || !valid_path(path))
        return fail(err, f, Echo::kValue, "is not a valid manifest: use file:/absolute/path.json, inline JSON {...} or %s",
                    kKeyForms);
      s.manifest_path = path;
    } else if (!parse_key_ref(f.value, s.manifest_key, s.storage, sizeof s.storage, &s.storage_used)) {
      return fail(err, f, Echo::kValue, "is not a valid manifest: use file:/absolute/path.json, inline JSON {...} or %s",
                  kKeyForms);
    }
    s.manifest = f.value;
  }
  if (!read_bool(env, mode, "WAIT_ON_MANIFEST", "WAIT_ON_MANIFEST", true, &s.wait_on_manifest, err)) return false;
  return true;
}

// Where configurations come from and go to besides AWS, the cache and who may read.
bool read_serving(const Env& env, Settings& s, Error& err) {
  const Mode mode = s.mode;
  Found f;
  // Same name in both modes (spec §2 lists it without the prefix).
  if (!read_string_plain(env, "LOCAL_DEVELOPMENT_DIRECTORY", Check::kPath, Echo::kValue, &s.local_development_directory,
                         err))
    return false;

  s.cache_size_bytes = kDefaultCacheSizeBytes;
  if (lookup(env, mode, "CACHE_SIZE", nullptr, &f)) {
    size_t v = 0;
    if (!parse_size_bytes(f.value, &v)) return fail(err, f, Echo::kValue, "is not a valid cache size: %s", kSizeForms);
    if (v < kMinCacheSizeBytes || v > kMaxCacheSizeBytes)
      return fail(err, f, Echo::kValue, "is out of range: the cache size must be from 1MiB to 1GiB");
    s.cache_size_bytes = v;
  }

  if (!read_bool(env, mode, "REQUIRE_TOKEN", nullptr, false, &s.require_token, err)) return false;
  if (!read_string(env, mode, nullptr, "ACCESS_TOKEN", Check::kToken, Echo::kHidden, &s.access_token, err))
    return false;
  if (!read_string(env, mode, "BACKUP_DIRECTORY", "BACKUP_DIRECTORY", Check::kPath, Echo::kValue, &s.backup_directory,
                   err))
    return false;
  if (!read_bool(env, mode, "PRELOAD_BACKUPS", "PRELOAD_BACKUPS", true, &s.preload_backups, err)) return false;
  return true;
}

// Standard AWS SDK variables.
bool read_sdk_variables(const Env& env, Settings& s, Error& err) {
  if (!read_string_plain(env, "AWS_SESSION_TOKEN", Check::kToken, Echo::kHidden, &s.session_token, err) ||
      !read_string_plain(env, "AWS_ACCESS_KEY_ID", Check::kToken, Echo::kValue, &s.access_key_id, err) ||
      !read_string_plain(env, "AWS_SECRET_ACCESS_KEY", Check::kToken, Echo::kHidden, &s.secret_access_key, err) ||
      !read_string_plain(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", Check::kUrlAny, Echo::kUrl,
                         &s.container_credentials_full_uri, err) ||
      !read_string_plain(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", Check::kNoCtl, Echo::kHidden,
                         &s.container_authorization_token, err) ||
      !read_string_plain(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", Check::kPath, Echo::kValue,
                         &s.container_authorization_token_file, err) ||
      !read_string_plain(env, "AWS_ENDPOINT_URL_APPCONFIGDATA", Check::kUrlAny, Echo::kUrl,
                         &s.endpoint_url_appconfigdata, err) ||
      !read_string_plain(env, "AWS_ENDPOINT_URL_STS", Check::kUrlAny, Echo::kUrl, &s.endpoint_url_sts, err) ||
      !read_string_plain(env, "AWS_ENDPOINT_URL", Check::kUrlAny, Echo::kUrl, &s.endpoint_url, err) ||
      !read_string_plain(env, "AWS_CA_BUNDLE", Check::kPath, Echo::kValue, &s.ca_bundle, err) ||
      !read_bool_plain(env, "AWS_USE_FIPS_ENDPOINT", &s.use_fips_endpoint, err) ||
      !read_bool_plain(env, "AWS_USE_DUALSTACK_ENDPOINT", &s.use_dualstack_endpoint, err))
    return false;
  if (!read_string_plain(env, "AWS_WEB_IDENTITY_TOKEN_FILE", Check::kPath, Echo::kValue, &s.web_identity_token_file,
                         err) ||
      !read_string_plain(env, "AWS_ROLE_SESSION_NAME", Check::kNoCtl, Echo::kValue, &s.aws_role_session_name, err) ||
      !read_string_plain(env, "AWS_SHARED_CREDENTIALS_FILE", Check::kPath, Echo::kValue, &s.shared_credentials_file,
                         err) ||
      !read_string_plain(env, "AWS_CONFIG_FILE", Check::kPath, Echo::kValue, &s.config_file, err) ||
      !read_string_plain(env, "HOME", Check::kPath, Echo::kValue, &s.home, err) ||
      !read_string_plain(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", Check::kUrlAny, Echo::kValue,
                         &s.ec2_metadata_endpoint, err) ||
      !read_bool_plain(env, "AWS_EC2_METADATA_DISABLED", &s.ec2_metadata_disabled, err))
    return false;
  return true;
}

// The SDK variables that need more than one check: web identity, profile, IMDS mode, container URI.
bool read_sdk_identity(const Env& env, Settings& s, Error& err) {
  Found f;
  if (lookup_plain(env, "AWS_ROLE_ARN", &f)) {
    if (f.value.size() < kMinRoleArnBytes || f.value.size() > kMaxRoleArnBytes || f.value.substr(0, 4) != "arn:" ||
        !valid_token(f.value))
      return fail(err, f, Echo::kValue,
                  "is not a valid role ARN: use arn:aws:iam::123456789012:role/Name (%zu to %zu characters)",
                  kMinRoleArnBytes, kMaxRoleArnBytes);
    s.aws_role_arn = f.value;
  }
  if (!s.aws_role_session_name.empty() &&
      (s.aws_role_session_name.size() < kMinSessionNameBytes || s.aws_role_session_name.size() > kMaxSessionNameBytes ||
       !valid_sts_chars(s.aws_role_session_name, "+=,.@-"))) {
    lookup_plain(env, "AWS_ROLE_SESSION_NAME", &f);
    return fail(err, f, Echo::kValue,
                "is not a valid role session name: %zu to %zu characters from letters, digits and _+=,.@-",
                kMinSessionNameBytes, kMaxSessionNameBytes);
  }
  // AWS_PROFILE names a section of the shared files: printable, no brackets (they end a header).
  if (lookup_plain(env, "AWS_PROFILE", &f)) {
    bool ok = f.value.size() <= kMaxNameBytes;
    for (char c : f.value) ok = ok && !is_ctl(c) && c != '[' && c != ']';
    if (!ok)
      return fail(err, f, Echo::kValue, "is not a valid profile name: 1 to %zu characters, no brackets or control "
                  "characters", kMaxNameBytes);
    s.profile = f.value;
    s.profile_explicit = true;
  }
  if (lookup_plain(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", &f)) {
    if (iequals(f.value, "ipv6")) s.ec2_metadata_ipv6 = true;
    else if (!iequals(f.value, "ipv4"))
      return fail(err, f, Echo::kValue, "is not a valid endpoint mode: use IPv4 or IPv6");
  }
  if (lookup_plain(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", &f)) {
    if (f.value.front() != '/' || !valid_token(f.value))
      return fail(err, f, Echo::kValue, "is not a valid relative URI: it must start with '/' (/v2/credentials/...)");
    s.container_credentials_relative_uri = f.value;
  }
  return true;
}

// Rules between variables read by different steps.
bool check_cross_rules(const Env& /*env*/, Settings& s, Error& err) {
  if (s.require_token && s.session_token.empty())
    return error::fail(err.message, sizeof err.message,
                       "AWS_APPCONFIG_EXTENSION_REQUIRE_TOKEN is true but AWS_SESSION_TOKEN is not set: requests "
                       "could never present a matching X-Aws-Parameters-Secrets-Token");
  return true;
}

}  // namespace

}  // namespace appconfig::settings
