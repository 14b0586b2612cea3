#include "appconfig/agent/service.h"

#include <cstdio>
#include <cstring>

#include "appconfig/flags/flags.h"
#include "appconfig/core/log.h"
#include "appconfig/agent/metrics.h"
#include "appconfig/core/settings.h"
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"
#include "appconfig/flags/variants.h"

namespace appconfig::service {

namespace hp = http_parse;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kUsage =
    "use GET /applications/{application}/environments/{environment}/configurations/{profile} or GET /ping";

// The cache whose entries replies pin; one per process.
cache::Cache* g_cache = nullptr;

void unpin(void* entry) {
  if (g_cache != nullptr) g_cache->unpin(static_cast<const cache::Entry*>(entry));
}

// Set while a parked first read is answered from the cache it waited for (metrics: a first read).
bool g_first_read = false;

void release_metrics(void*) { metrics::release_prometheus(); }

// Decodes a query value: %XX and '+' as space (application/x-www-form-urlencoded).
bool decode_query_value(std::string_view in, char* out, size_t cap, size_t* len) {
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (n >= cap) return false;
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = text::hex_value(in[i + 1]);
      int lo = text::hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out[n++] = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+') {
      out[n++] = ' ';
    } else {
      out[n++] = c;
    }
  }
  *len = n;
  return true;
}

bool is_dotdot_component(std::string_view seg) {
  // ".." alone, or as a '/'-separated component of a decoded name.
  size_t start = 0;
  while (start <= seg.size()) {
    size_t end = seg.find('/', start);
    if (end == std::string_view::npos) end = seg.size();
    if (seg.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

// What we put in a response header value must be visible ASCII (RFC 9110 §5.5 field-vchar without
// obs-text), spaces only inside: control bytes and bytes >= 0x80 from a file name or a service
// answer could split or confuse a header line.
bool header_value_ok(std::string_view v) {
  if (!v.empty() && (v.front() == ' ' || v.back() == ' ')) return false;
  for (unsigned char c : v)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// A value that is not header_value_ok, percent-encoded (every byte outside 0x21..0x7E, and '%')
// into the exchange's scratch; empty when the scratch is full.
std::string_view header_safe(http_server::Exchange& ex, std::string_view v) {
  if (header_value_ok(v)) return v;
  char* out = ex.scratch + ex.scratch_used;
  size_t cap = http_server::kScratchBytes - ex.scratch_used;
  size_t n = 0;
  for (unsigned char c : v) {
    if (n + 3 > cap) return {};
    if (c > 0x20 && c < 0x7f && c != '%') {
      out[n++] = static_cast<char>(c);
    } else {
      out[n++] = '%';
      out[n++] = text::kHexUpper[c >> 4];
      out[n++] = text::kHexUpper[c & 15];
    }
  }
  ex.scratch_used += n;
  return std::string_view(out, n);
}

}  // namespace

bool constant_time_equals(std::string_view a, std::string_view b) {
  // The length is not secret (tokens have public formats); the bytes are.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

PathResult parse_path(std::string_view path, char* scratch, size_t cap, size_t* used, PathKey& key, char* err,
                      size_t err_cap) {
  if (path == "/ping") return PathResult::kPing;
  static constexpr std::string_view kNames[3] = {"applications", "environments", "configurations"};
  std::string_view rest = path;
  std::string_view* outs[3] = {&key.application, &key.environment, &key.profile};
  static constexpr const char* kWhat[3] = {"application", "environment", "configuration profile"};
  for (int i = 0; i < 3; ++i) {
    if (rest.empty() || rest[0] != '/') return PathResult::kNotFound;
    rest.remove_prefix(1);
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    if (name != kNames[i]) return PathResult::kNotFound;
    if (slash == std::string_view::npos) return PathResult::kNotFound;
    rest.remove_prefix(slash + 1);
    slash = rest.find('/');
    std::string_view raw = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (raw.empty()) {
      error::fail(err, err_cap, "the %s name is empty: %.*s", kWhat[i], static_cast<int>(kUsage.size()),
                  kUsage.data());
      return PathResult::kBad;
    }
    size_t len = 0;
    if (!text::percent_decode(raw, scratch + *used, cap - *used, &len)) {
      error::fail(err, err_cap, "bad percent-encoding in the %s name \"%.*s\"", kWhat[i],
                  static_cast<int>(raw.size() > 200 ? 200 : raw.size()), raw.data());
      return PathResult::kBad;
    }
    std::string_view dec(scratch + *used, len);
    *used += len;
    if (dec.size() > kMaxSegmentBytes) {
      error::fail(err, err_cap, "the %s name is %zu bytes long; names and IDs are 1 to %zu characters", kWhat[i],
                  dec.size(), kMaxSegmentBytes);
      return PathResult::kBad;
    }
    if (dec.find('\0') != std::string_view::npos) {
      error::fail(err, err_cap, "the %s name contains a NUL byte", kWhat[i]);
      return PathResult::kBad;
    }
    if (is_dotdot_component(dec)) {
      error::fail(err, err_cap, "the %s name \"%.*s\" is not allowed (\"..\")", kWhat[i], static_cast<int>(dec.size()),
                  dec.data());
      return PathResult::kBad;
    }
    *outs[i] = dec;
  }
  if (!rest.empty()) return PathResult::kNotFound;
  return PathResult::kConfig;
}

void Service::handle(void* ctx, http_server::Exchange& ex) { static_cast<Service*>(ctx)->answer(ex); }

void Service::on_fetched(void* ctx, http_server::ExchangeRef ref, int status, const char* message) {
  auto* self = static_cast<Service*>(ctx);
  http_server::Exchange* ex = self->cfg_.server->parked(ref);
  if (ex == nullptr) return;  // the reader went away
  ex->reply.reset();
  ex->parked = false;
  if (status == 0) {
    g_first_read = true;
    self->answer(*ex);  // now a cache hit (or parked again if it was evicted at once)
    g_first_read = false;
    if (ex->parked) return;
  } else {
    ex->text(status, "%s", message);
  }
  self->cfg_.server->finish(ref);
}

void Service::answer(http_server::Exchange& ex) {
  g_cache = cfg_.cache;
  const hp::Request& req = *ex.request;
  // The port is for this sandbox's own processes; a forwarded request means a
  // proxy is relaying someone else (Secrets Manager agent's rule, spec §3).
  for (size_t i = 0; i < req.num_headers; ++i) {
    if (text::iequals(req.headers[i].name, "X-Forwarded-For")) {
      ex.text(403, "requests with X-Forwarded-For are refused: this endpoint serves local callers only");
      return;
    }
  }
  std::string_view target = req.target;
  // Absolute-form (RFC 9112 §3.2.2): keep only the path and query.
  if (target.size() > 7 && (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://")) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  size_t frag = query.find('#');
  if (frag != std::string_view::npos) query = query.substr(0, frag);

  if (path == "/metrics" && metrics::mode() == settings::Metrics::kPrometheus) {
    answer_metrics(ex);
    return;
  }
  PathKey key{};
  char err[400];
  size_t used = ex.scratch_used;
  PathResult pr = parse_path(path, ex.scratch, http_server::kScratchBytes, &used, key, err, sizeof err);
  ex.scratch_used = used;
  if (pr == PathResult::kNotFound) {
    ex.text(404, "no such path \"%.*s\": %.*s", static_cast<int>(path.size() > 200 ? 200 : path.size()), path.data(),
            static_cast<int>(kUsage.size()), kUsage.data());
    return;
  }
  if (req.method_id != hp::Method::kGet && req.method_id != hp::Method::kHead) {
    ex.text(405, "method %.*s is not allowed: this API answers GET and HEAD",
            static_cast<int>(req.method.size() > 32 ? 32 : req.method.size()), req.method.data());
    ex.reply.add_header("Allow", "GET, HEAD");
    return;
  }
  if (pr == PathResult::kBad) {
    ex.text(400, "%s", err);
    return;
  }
  if (pr == PathResult::kConfig && !authorized(ex)) return;
  if (pr == PathResult::kPing) {
    // "stale": cached configurations whose newer version could not be stored (docs/cache.md).
    int n = snprintf(ex.scratch + ex.scratch_used, http_server::kScratchBytes - ex.scratch_used,
                     "{\"version\":\"%.*s\",\"stale\":%zu}", static_cast<int>(cfg_.version.size()),
                     cfg_.version.data(), cfg_.cache->stale_count());
    ex.reply.status = 200;
    ex.reply.content_type = kJson;
    ex.reply.add_piece(ex.scratch + ex.scratch_used, static_cast<size_t>(n));
    ex.scratch_used += static_cast<size_t>(n);
    return;
  }
  answer_config(ex, key, query);
}

// GET /metrics (agent, METRICS=prometheus): the text exposition format 0.0.4, behind ACCESS_TOKEN.
void Service::answer_metrics(http_server::Exchange& ex) {
  const hp::Request& req = *ex.request;
  if (req.method_id != hp::Method::kGet && req.method_id != hp::Method::kHead) {
    ex.text(405, "method %.*s is not allowed: /metrics answers GET and HEAD",
            static_cast<int>(req.method.size() > 32 ? 32 : req.method.size()), req.method.data());
    ex.reply.add_header("Allow", "GET, HEAD");
    return;
  }
  if (!authorized(ex)) return;
  std::string_view text = metrics::render_prometheus();
  if (text.empty()) {
    // One buffer: a second scrape while the first is still being written waits its turn.
    ex.text(503, "metrics are being sent to another reader: retry in a moment");
    ex.reply.add_header("Retry-After", "1");
    return;
  }
  ex.reply.status = 200;
  ex.reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  ex.reply.add_piece(text.data(), text.size());
  ex.reply.release = &release_metrics;
}

bool Service::authorized(http_server::Exchange& ex) {
  const hp::Request& req = *ex.request;
  if (!cfg_.required_secrets_token.empty()) {
    std::string_view got = hp::find_header(req.headers, req.num_headers, "X-Aws-Parameters-Secrets-Token");
    if (got.data() == nullptr || !constant_time_equals(got, cfg_.required_secrets_token)) {
      ex.text(401, "missing or wrong X-Aws-Parameters-Secrets-Token header: send the function's AWS_SESSION_TOKEN");
      return false;
    }
  }
  if (!cfg_.access_token.empty()) {
    std::string_view got = hp::find_header(req.headers, req.num_headers, "Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    bool ok = got.size() > kBearer.size() && text::iequals(got.substr(0, kBearer.size()), kBearer) &&
              constant_time_equals(got.substr(kBearer.size()), cfg_.access_token);
    if (!ok) {
      ex.text(401, "missing or wrong Authorization header: send \"Authorization: Bearer <ACCESS_TOKEN>\"");
      ex.reply.add_header("WWW-Authenticate", "Bearer");
      return false;
    }
  }
  return true;
}

// A multi-variant flag profile: evaluate each flag's variants for the
// request's Context (spec §6), then filter by ?flag= like plain flags.
bool Service::answer_variants(http_server::Exchange& ex, const cache::View& v, const std::string_view* keys,
                              size_t num_keys) {
  const hp::Request& req = *ex.request;
  std::string_view values[variants::kMaxContextPairs];
  size_t n = 0;
  for (size_t i = 0; i < req.num_headers; ++i) {
    if (!text::iequals(req.headers[i].name, "Context")) continue;
    if (n == variants::kMaxContextPairs) {
      ex.text(400, "too many Context headers: at most %zu", variants::kMaxContextPairs);
      return false;
    }
    values[n++] = req.headers[i].value;
  }
  variants::Context& context = context_;
  char err[300];
  if (!variants::parse_context(values, n, context, err, sizeof err)) {
    ex.text(400, "bad Context header: %s", err);
    return false;
  }
  flags::Filtered f;
  size_t bad = 0;
  char* scratch = ex.scratch + ex.scratch_used;
  size_t cap = http_server::kScratchBytes - ex.scratch_used;
  // The largest answer this profile can give is bounded by the profile
  // itself; only when it may not fit in the connection's scratch is a buffer
  // of that size mapped, for this reply only.
  const size_t need = variants::scratch_bytes_needed(v.bytes);
  if (need > cap) {
    scratch = ex.answer_buffer(need);
    if (scratch == nullptr) {
      ex.text(503, "too many large flag answers are being sent right now (%zu bytes needed): retry", need);
      ex.reply.add_header("Retry-After", "1");
      return false;
    }
    cap = need;
  }
  variants::EvalCost cost{};
  variants::EvalError ee = variants::evaluate(v.bytes, context, std::span<const std::string_view>(keys, num_keys),
                                              scratch, cap, f, &bad, &cost);
  switch (ee) {
    case variants::EvalError::kNone: break;
    case variants::EvalError::kOverBudget: {
      // The profile's rules cost more than one request may take on the loop
      // (docs/feature-flags.md, "Evaluation budget"): refuse, naming the flag.
      const std::string_view flag = variants::flag_name(v.bytes, cost.flag_index);
      ex.text(500, "feature flag \"%.*s\": evaluating its rules for this Context needs more than %llu steps, the "
              "per-request limit (a costly pattern on a long Context value?)",
              static_cast<int>(flag.size() > 200 ? 200 : flag.size()), flag.data(),
              static_cast<unsigned long long>(variants::kMaxEvalSteps));
      return false;
    }
    case variants::EvalError::kUnknownFlag:
      ex.text(400, "unknown flag \"%.*s\": this profile has no flag with that key", static_cast<int>(keys[bad].size()),
              keys[bad].data());
      return false;
    case variants::EvalError::kTooManyKeys:
      ex.text(400, "too many flag parameters: at most %zu per request", flags::kMaxFlagKeys);
      return false;
    default:
      ex.text(500, "cannot evaluate the feature flags: %s", variants::eval_error_message(ee));
      return false;
  }
  for (size_t i = 0; i < f.num_pieces; ++i) {
    const char* p = f.pieces[i].data;
    if (p >= ex.scratch && p < ex.scratch + http_server::kScratchBytes) {
      size_t end = static_cast<size_t>(p - ex.scratch) + f.pieces[i].len;
      if (end > ex.scratch_used) ex.scratch_used = end;
    }
    ex.reply.add_piece(p, f.pieces[i].len);
  }
  ex.reply.content_type = kJson;
  return true;
}

namespace {

// answer_config's steps. Each one that can answer returns false once it has (the reply is set).

// Collects the ?flag= keys of the query, decoded into the exchange's scratch.
bool collect_flag_keys(http_server::Exchange& ex, std::string_view query, std::string_view* flag_keys,
                       size_t* num_flags) {
  size_t n = 0;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    if (name != "flag") continue;  // other parameters are ignored, as the agent does
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (n == flags::kMaxFlagKeys) {
      ex.text(400, "too many flag parameters: at most %zu per request", flags::kMaxFlagKeys);
      return false;
    }
    size_t len = 0;
    char* out = ex.scratch + ex.scratch_used;
    if (!decode_query_value(raw, out, http_server::kScratchBytes - ex.scratch_used, &len)) {
      ex.text(400, "bad percent-encoding in flag parameter \"%.*s\"", static_cast<int>(raw.size() > 200 ? 200 : raw.size()),
              raw.data());
      return false;
    }
    if (len == 0) {
      ex.text(400, "empty flag parameter: use ?flag=<flag key>");
      return false;
    }
    flag_keys[n++] = std::string_view(out, len);
    ex.scratch_used += len;
  }
  *num_flags = n;
  return true;
}

// Local development: (re)reads the key's file into the cache when it changed.
bool ensure_local(http_server::Exchange& ex, localdev::Source& local, const cache::Key& key, uint64_t now) {
  localdev::Outcome out;
  switch (local.ensure(key, now, out)) {
    case localdev::Status::kOk: return true;
    case localdev::Status::kNotFound: ex.text(404, "configuration not found: %s", out.message); return false;
    case localdev::Status::kTooLarge: ex.text(507, "%s", out.message); return false;
    case localdev::Status::kNoSpace: ex.text(507, "%s", out.message); return false;
    case localdev::Status::kInvalid: ex.text(500, "%s", out.message); return false;
    case localdev::Status::kIoError: ex.text(500, "%s", out.message); return false;
    case localdev::Status::kNotServed: ex.text(403, "%s", out.message); return false;
    case localdev::Status::kBusy:
      ex.text(503, "%s", out.message);
      ex.reply.add_header("Retry-After", "1");
      return false;
  }
  return true;
}

// ?flag=: only the named flags of a feature flag profile.
bool answer_filtered(http_server::Exchange& ex, const cache::View& v, const std::string_view* flag_keys,
                     size_t num_flags) {
  if (!v.feature_flags) {
    ex.text(400, "flag filtering applies only to feature flag profiles; this profile is %.*s and not in the "
                 "feature flag format",
            static_cast<int>(v.content_type.size()), v.content_type.data());
    return false;
  }
  flags::Filtered f;
  size_t bad = 0;
  flags::FilterError fe = flags::filter(v.bytes, std::span<const std::string_view>(flag_keys, num_flags),
                                        ex.scratch + ex.scratch_used, http_server::kScratchBytes - ex.scratch_used, f,
                                        &bad);
  if (fe == flags::FilterError::kUnknownFlag) {
    ex.text(400, "unknown flag \"%.*s\": this profile has no flag with that key", static_cast<int>(flag_keys[bad].size()),
            flag_keys[bad].data());
    return false;
  }
  if (fe != flags::FilterError::kNone) {
    ex.text(400, "cannot filter flags: too many or too long flag keys");
    return false;
  }
  // Keys were escaped into scratch by filter(); account for what it used.
  http_server::Reply& r = ex.reply;
  for (size_t i = 0; i < f.num_pieces; ++i) {
    const char* p = f.pieces[i].data;
    if (p >= ex.scratch && p < ex.scratch + http_server::kScratchBytes) {
      size_t end = static_cast<size_t>(p - ex.scratch) + f.pieces[i].len;
      if (end > ex.scratch_used) ex.scratch_used = end;
    }
    r.add_piece(p, f.pieces[i].len);
  }
  r.content_type = kJson;
  return true;
}

// Warning and Age for a stale entry; Configuration-Version (and Version-Label).
void add_version_headers(http_server::Exchange& ex, const cache::View& v, uint64_t now) {
  http_server::Reply& r = ex.reply;
  if (v.stale_since_ms != 0) {
    // A newer version could not be stored (cache full of pinned entries, too large): this one is
    // served, and readers are told (RFC 9111 §5.1 Age; RFC 7234 §5.5.1 Warning 110).
    r.add_header("Warning", "110 - \"stale: a newer version could not be stored in the cache\"");
    char* age = ex.scratch + ex.scratch_used;
    size_t cap = http_server::kScratchBytes - ex.scratch_used;
    int an = snprintf(age, cap, "%llu", static_cast<unsigned long long>(now > v.stored_ms ? (now - v.stored_ms) / 1000 : 0));
    if (an > 0 && static_cast<size_t>(an) < cap) {
      ex.scratch_used += static_cast<size_t>(an);
      r.add_header("Age", std::string_view(age, static_cast<size_t>(an)));
    }
  }
  // Configuration-Version: the service's Version-Label when present, else a
  // stable hash of the bytes (spec §1).
  std::string_view label = header_safe(ex, v.version_label);
  if (!label.empty()) {
    r.add_header("Configuration-Version", label);
    r.add_header("Version-Label", label);
  } else {
    char* hv = ex.scratch + ex.scratch_used;
    if (http_server::kScratchBytes - ex.scratch_used >= 17) {
      snprintf(hv, 17, "%016llx", static_cast<unsigned long long>(v.content_hash));
      ex.scratch_used += 16;
      r.add_header("Configuration-Version", std::string_view(hv, 16));
    }
  }
}

}  // namespace

void Service::answer_config(http_server::Exchange& ex, const PathKey& pk, std::string_view query) {
  std::string_view flag_keys[flags::kMaxFlagKeys];
  size_t num_flags = 0;
  if (!collect_flag_keys(ex, query, flag_keys, &num_flags)) return;

  cache::Key key{pk.application, pk.environment, pk.profile};
  uint64_t now = cfg_.loop->now_ms();
  if (cfg_.local != nullptr && !ensure_local(ex, *cfg_.local, key, now)) return;
  const cache::Entry* e = cfg_.cache->find(key, now);
  if (e == nullptr) {
    if (cfg_.remote == nullptr) {
      ex.text(404, "configuration %.*s:%.*s:%.*s is not available", static_cast<int>(key.application.size()),
              key.application.data(), static_cast<int>(key.environment.size()), key.environment.data(),
              static_cast<int>(key.profile.size()), key.profile.data());
      return;
    }
    // First read: wait for the fetch (shared with any other reader or the prefetch).
    char err[400];
    int status = cfg_.remote->wait_for(key, ex.ref, &Service::on_fetched, this, err, sizeof err);
    if (status == 0) {
      ex.parked = true;
      return;
    }
    ex.text(status, "%s", err);
    return;
  }
  cache::View v = cfg_.cache->view(e);
  http_server::Reply& r = ex.reply;
  r.status = 200;
  if (v.variants) {
    if (!answer_variants(ex, v, flag_keys, num_flags)) {
      if (ex.reply.status == 500) metrics::count_evaluation_error(key);
      return;
    }
  } else if (num_flags > 0) {
    if (!answer_filtered(ex, v, flag_keys, num_flags)) return;
  } else {
    // Bytes a header cannot carry (a service's answer, a backup): the body is still served.
    r.content_type = header_value_ok(v.content_type) ? v.content_type : std::string_view("application/octet-stream");
    r.add_piece(v.bytes.data(), v.bytes.size());
  }
  add_version_headers(ex, v, now);
  if (metrics::on()) metrics::count_read(key, g_first_read ? metrics::Read::kFirst : metrics::Read::kCached);
  cfg_.cache->pin(e);
  r.release = &unpin;
  r.release_ctx = const_cast<cache::Entry*>(e);
}

}  // namespace appconfig::service
