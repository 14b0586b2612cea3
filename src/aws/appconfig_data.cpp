#include "appconfig/aws/appconfig_data.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>

#include "appconfig/aws/crypto.h"
#include "appconfig/net/http_parse.h"
#include "appconfig/formats/json.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/text.h"
#include "appconfig/aws/sigv4.h"

namespace appconfig::appconfig_data {

namespace {

constexpr size_t kMaxName = 128;

size_t copy_name(std::string_view s, char* out) {
  size_t n = s.size() < kMaxName ? s.size() : kMaxName;
  memcpy(out, s.data(), n);
  return n;
}

std::string_view header(const http_client::Response& r, std::string_view name) {
  return http_parse::find_header(r.headers, r.num_headers, name);
}

}  // namespace

struct Client::Op {
  bool used;
  bool awaiting_creds;
  bool new_session;     // the session was started by this fetch
  bool restarted;       // a rejected token already led to one new session
  uint16_t aws_status;  // the HTTP status of AWS's error answer (0: none), copied to Result
  uint32_t generation;
  Client* owner;
  char app[kMaxName], env[kMaxName], prof[kMaxName];
  uint8_t app_len, env_len, prof_len;
  Session* session;
  credentials::Provider* creds_provider;
  credentials::Creds creds;
  Callback cb;
  void* ctx;
  loop::TimerId timer;
  uint64_t deadline_ms;
  http_client::RequestId req;
  enum class Phase : uint8_t { kCreds, kStart, kGet } phase;

  std::string_view a() const { return {app, app_len}; }
  std::string_view e() const { return {env, env_len}; }
  std::string_view p() const { return {prof, prof_len}; }
};

int reader_status_for(int http_status, std::string_view error_type) {
  if (http_status == 404 || error_type == "ResourceNotFoundException") return 404;
  if (http_status == 403) return 403;
  if (http_status == 400) return 400;
  return 502;  // throttling, 5xx, anything else upstream
}

bool Client::init(loop::Loop* lp, http_client::Client* http, const endpoints::Endpoint& ep, uint32_t poll_interval_s,
                  std::string_view user_agent) {
  loop_ = lp;
  http_ = http;
  ep_ = ep;
  poll_interval_s_ = poll_interval_s;
  snprintf(user_agent_, sizeof user_agent_, "%.*s", static_cast<int>(user_agent.size()), user_agent.data());
  static_assert(sizeof host_header_ > endpoints::kMaxHostBytes + 6, "host:port always fits");
  endpoints::host_header(ep, host_header_, sizeof host_header_);
  // Reserved, touched only as fetches use slots (each holds a credentials copy).
  void* mem = mmap(nullptr, sizeof(Op) * kMaxFetches, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  ops_ = static_cast<Op*>(mem);
  return true;
}

FetchId Client::fetch(const Key& key, Session& session, credentials::Provider* creds, uint64_t timeout_ms,
                      Callback cb, void* ctx) {
  Op* op = nullptr;
  size_t slot = 0;
  for (; slot < kMaxFetches; ++slot) {
    if (!ops_[slot].used) {
      op = &ops_[slot];
      break;
    }
  }
  if (op == nullptr) return FetchId{};
  uint32_t gen = op->generation + 1 == 0 ? 1 : op->generation + 1;
  memset(static_cast<void*>(op), 0, offsetof(Op, creds));
  op->generation = gen;
  op->used = true;
  op->owner = this;
  op->app_len = static_cast<uint8_t>(copy_name(key.application, op->app));
  op->env_len = static_cast<uint8_t>(copy_name(key.environment, op->env));
  op->prof_len = static_cast<uint8_t>(copy_name(key.profile, op->prof));
  op->session = &session;
  op->creds_provider = creds;
  op->cb = cb;
  op->ctx = ctx;
  op->req = http_client::RequestId{};
  op->timer = loop::TimerId{};
  op->deadline_ms = loop::monotonic_ms() + timeout_ms;
  op->timer = loop_->add_timer(timeout_ms, &Client::on_timeout, op);
  op->phase = Op::Phase::kCreds;
  op->awaiting_creds = true;
  ++in_flight_;
  if (!creds->get(&Client::on_creds, op, timeout_ms)) {
    op->awaiting_creds = false;
    loop_->cancel_timer(op->timer);
    op->used = false;
    --in_flight_;
    return FetchId{};
  }
  return FetchId{static_cast<uint32_t>(slot), gen};
}

void Client::cancel(FetchId id) {
  if (!id.valid() || id.slot >= kMaxFetches) return;
  Op& op = ops_[id.slot];
  if (!op.used || op.generation != id.generation) return;
  op.cb = nullptr;
  if (op.req.valid()) http_->cancel(op.req);
  release(op);
}

void Client::release(Op& op) {
  loop_->cancel_timer(op.timer);
  crypto::secure_wipe(op.creds.secret_access_key, sizeof op.creds.secret_access_key);
  crypto::secure_wipe(op.creds.session_token, sizeof op.creds.session_token);
  if (op.awaiting_creds) {
    op.creds_provider->cancel(&op);  // no credentials callback after this
    op.awaiting_creds = false;
  }
  --in_flight_;
  op.used = false;
}

void Client::finish(Op& op, const Result& r) {
  Callback cb = op.cb;
  void* ctx = op.ctx;
  op.cb = nullptr;
  release(op);
  if (cb != nullptr) cb(ctx, r);
}

void Client::finish_error(Op& op, int status, bool retryable, const char* fmt, ...) {
  Result r{};
  r.outcome = Outcome::kError;
  r.status = status;
  r.retryable = retryable;
  r.aws_status = op.aws_status;
  error::fail(r.message, sizeof r.message, "%.*s:%.*s:%.*s: ", op.app_len, op.app, op.env_len, op.env, op.prof_len,
              op.prof);
  va_list ap;
  va_start(ap, fmt);
  error::vappend(r.message, sizeof r.message, fmt, ap);
  va_end(ap);
  finish(op, r);
}

void Client::on_timeout(void* ctx) {
  Op& op = *static_cast<Op*>(ctx);
  op.timer = loop::TimerId{};
  if (!op.used) return;
  Client* self = op.owner;
  if (op.req.valid()) self->http_->cancel(op.req);
  op.req = http_client::RequestId{};
  self->finish_error(op, 504, true, "AWS AppConfig did not answer within the poll timeout (%s)",
                     op.phase == Op::Phase::kCreds ? "waiting for credentials"
                     : op.phase == Op::Phase::kStart ? "StartConfigurationSession"
                                                     : "GetLatestConfiguration");
}

void Client::on_creds(void* ctx, const credentials::Creds* c, const char* error) {
  Op& op = *static_cast<Op*>(ctx);
  op.awaiting_creds = false;
  if (!op.used) return;
  Client* self = op.owner;
  if (c == nullptr) {
    self->finish_error(op, 502, true, "no credentials to sign with: %s", error != nullptr ? error : "unknown error");
    return;
  }
  op.creds = *c;
  uint64_t now = loop::monotonic_ms();
  Session& s = *op.session;
  if (s.token_len > 0 && now - s.started_ms > kSessionMaxAgeMs) s.reset();
  if (s.token_len == 0)
    self->start_session(op);
  else
    self->get_configuration(op);
}

void Client::send_signed(Op& op, std::string_view method, std::string_view path, std::string_view query,
                         std::string_view body) {
  char full_path[512];
  int pl = snprintf(full_path, sizeof full_path, "%s%.*s", ep_.base_path, static_cast<int>(path.size()), path.data());
  std::string_view spath(full_path, pl > 0 ? static_cast<size_t>(pl) : 0);
  sigv4::Header sh[4];
  size_t nsh = 0;
  sh[nsh++] = {"host", host_header_};
  if (!body.empty() || method == "POST") sh[nsh++] = {"content-type", "application/json"};
  sigv4::Request sreq{method, spath, query, sh, nsh, body};
  sigv4::Credentials sc{op.creds.access_key_id, op.creds.secret_access_key, op.creds.session_token};
  const sigv4::Params params{.region = ep_.region,
                             .service = "appconfig",
                             .unix_time_s = static_cast<int64_t>(loop::wall_ms() / 1000),
                             .normalize_path = true,
                             .sign_body_header = false,
                             .omit_session_token = false};
  sigv4::Signed sig{};
  sigv4::Error se = sigv4::sign(sreq, sc, params, sign_buf_, sizeof sign_buf_, sig);
  if (se != sigv4::Error::kNone) {
    finish_error(op, 502, false, "cannot sign the request: %s", sigv4::error_message(se));
    return;
  }
  http_client::Header hh[10];
  size_t nh = 0;
  if (!body.empty() || method == "POST") hh[nh++] = {"Content-Type", "application/json"};
  hh[nh++] = {"User-Agent", user_agent_};
  // Multi-variant flag profiles then come as binary Ion with their rules
  // (third-party evidence, spec §4); every other profile is unaffected.
  if (method == "GET")
    hh[nh++] = {"Accept", "application/ion;type=AWS.AppConfig.FeatureFlags;q=1.0,*/*;q=0.1"};
  for (size_t i = 0; i < sig.num_added; ++i) hh[nh++] = {sig.added[i].name, sig.added[i].value};
  char target[sizeof full_path + kMaxTokenBytes * 3 + 64];
  int tl = query.empty() ? snprintf(target, sizeof target, "%.*s", static_cast<int>(spath.size()), spath.data())
                         : snprintf(target, sizeof target, "%.*s?%.*s", static_cast<int>(spath.size()), spath.data(),
                                    static_cast<int>(query.size()), query.data());
  uint64_t now = loop::monotonic_ms();
  uint64_t left = op.deadline_ms > now ? op.deadline_ms - now : 1;
  const http_client::Endpoint hep{.host = ep_.host, .port = ep_.port, .tls = ep_.tls};
  const http_client::Request hreq{.method = method,
                                  .target = std::string_view(target, tl > 0 ? static_cast<size_t>(tl) : 0),
                                  .headers = hh,
                                  .num_headers = nh,
                                  .body = body,
                                  .timeout_ms = left};
  ++api_calls_;
  op.req = http_->send(hep, hreq, &Client::on_http, &op);
  crypto::secure_wipe(sign_buf_, sizeof sign_buf_);
  if (!op.req.valid()) finish_error(op, 502, true, "too many upstream requests in flight");
}

void Client::start_session(Op& op) {
  op.phase = Op::Phase::kStart;
  op.new_session = true;
  char body[1024];
  // JSON-escape the three identifiers: names may hold any printable character.
  char ea[kMaxName * 6 + 1], ee[kMaxName * 6 + 1], epf[kMaxName * 6 + 1];
  auto esc = [](std::string_view s, char* out, size_t cap) { out[json::escape(s, out, cap - 1)] = '\0'; };
  esc(op.a(), ea, sizeof ea);
  esc(op.e(), ee, sizeof ee);
  esc(op.p(), epf, sizeof epf);
  int n;
  if (poll_interval_s_ >= kMinServicePollS && poll_interval_s_ <= kMaxServicePollS)
    n = snprintf(body, sizeof body,
                 "{\"ApplicationIdentifier\":\"%s\",\"EnvironmentIdentifier\":\"%s\","
                 "\"ConfigurationProfileIdentifier\":\"%s\",\"RequiredMinimumPollIntervalInSeconds\":%u}",
                 ea, ee, epf, poll_interval_s_);
  else
    n = snprintf(body, sizeof body,
                 "{\"ApplicationIdentifier\":\"%s\",\"EnvironmentIdentifier\":\"%s\","
                 "\"ConfigurationProfileIdentifier\":\"%s\"}",
                 ea, ee, epf);
  send_signed(op, "POST", "/configurationsessions", {}, std::string_view(body, static_cast<size_t>(n)));
}

void Client::get_configuration(Op& op) {
  op.phase = Op::Phase::kGet;
  Session& s = *op.session;
  char query[kMaxTokenBytes * 3 + 32];
  memcpy(query, "configuration_token=", 20);
  size_t n = sigv4::uri_encode(std::string_view(s.token, s.token_len), query + 20, sizeof query - 20);
  send_signed(op, "GET", "/configuration", std::string_view(query, 20 + n), {});
}

void Client::on_http(void* ctx, const http_client::Result& r) {
  Op& op = *static_cast<Op*>(ctx);
  op.req = http_client::RequestId{};
  if (!op.used) return;
  Client* self = op.owner;
  const char* api = op.phase == Op::Phase::kStart ? "StartConfigurationSession" : "GetLatestConfiguration";
  if (r.error != http_client::Error::kNone) {
    bool timeout = r.error == http_client::Error::kTimeout;
    self->finish_error(op, timeout ? 504 : 502, true, "%s failed: %s", api, r.detail);
    return;
  }
  const http_client::Response& resp = *r.response;
  if (op.phase == Op::Phase::kStart && resp.status == 201) {
    self->on_session_started(op, resp);
  } else if (op.phase == Op::Phase::kGet && resp.status == 200) {
    self->on_configuration(op, resp);
  } else {
    self->on_error_answer(op, resp, api);
  }
}

// StartConfigurationSession's 201: keep InitialConfigurationToken and ask for the configuration.
void Client::on_session_started(Op& op, const http_client::Response& resp) {
  Session& s = *op.session;
  std::optional<std::string_view> tok;
  if (json::validate(resp.body).error == json::Error::kNone) tok = json::find(resp.body, "InitialConfigurationToken");
  long len = tok && json::kind_of(*tok) == json::Kind::kString ? json::decode_string(*tok, s.token, sizeof s.token) : -1;
  if (len <= 0) {
    finish_error(op, 502, true, "StartConfigurationSession answered without a usable token");
    return;
  }
  s.token_len = static_cast<size_t>(len);
  s.started_ms = loop::monotonic_ms();
  get_configuration(op);
}

// GetLatestConfiguration's 200: the next token and poll interval, and the bytes (or "unchanged").
void Client::on_configuration(Op& op, const http_client::Response& resp) {
  Session& s = *op.session;
  std::string_view next = header(resp, "Next-Poll-Configuration-Token");
  if (next.empty() || next.size() >= sizeof s.token) {
    s.reset();
    finish_error(op, 502, true, "GetLatestConfiguration answered without Next-Poll-Configuration-Token");
    return;
  }
  memcpy(s.token, next.data(), next.size());
  s.token_len = next.size();
  std::string_view iv = header(resp, "Next-Poll-Interval-In-Seconds");
  uint32_t secs = 0;
  for (char c : iv) {
    if (!text::is_digit(c) || secs > 86400) break;
    secs = secs * 10 + static_cast<uint32_t>(c - '0');
  }
  s.next_poll_s = secs;
  Result res{};
  // An empty body means "unchanged since this session last returned it";
  // the first answer of a new session is always the configuration itself.
  if (resp.body.empty() && !op.new_session) {
    res.outcome = Outcome::kUnchanged;
  } else {
    res.outcome = Outcome::kNew;
    res.bytes = resp.body;
    res.content_type = header(resp, "Content-Type");
    res.version_label = header(resp, "Version-Label");
  }
  finish(op, res);
}

namespace {

// An AWS error answer: x-amzn-ErrorType (cut at ':') else the JSON "__type", and the JSON
// Message / message (decoded into msg, "" when absent).
std::string_view decode_aws_error(const http_client::Response& resp, char* msg, size_t cap) {
  std::string_view type = header(resp, "x-amzn-ErrorType");
  size_t colon = type.find(':');
  if (colon != std::string_view::npos) type = type.substr(0, colon);
  msg[0] = '\0';
  std::string_view body = resp.body;
  if (json::validate(body).error != json::Error::kNone) return type;
  std::optional<std::string_view> m = json::find(body, "Message");
  if (!m) m = json::find(body, "message");
  if (m && json::kind_of(*m) == json::Kind::kString) {
    long l = json::decode_string(*m, msg, cap - 1);
    if (l < 0) msg[0] = '\0';
  }
  if (type.empty()) {
    std::optional<std::string_view> t = json::find(body, "__type");
    if (t && json::kind_of(*t) == json::Kind::kString && t->size() > 2) type = t->substr(1, t->size() - 2);
  }
  return type;
}

}  // namespace

// Any other answer: an early poll (unchanged), a rejected token (one new session), else an error
// for readers with AWS's type and message.
void Client::on_error_answer(Op& op, const http_client::Response& resp, const char* api) {
  Session& s = *op.session;
  char msg[300] = {};
  std::string_view type = decode_aws_error(resp, msg, sizeof msg);
  bool interval_not_satisfied = resp.body.find("PollIntervalNotSatisfied") != std::string_view::npos;
  if (op.phase == Op::Phase::kGet && resp.status == 400 && interval_not_satisfied && s.token_len > 0) {
    // Polled early: the token stays valid and the cached bytes are current.
    Result res{};
    res.outcome = Outcome::kUnchanged;
    finish(op, res);
    return;
  }
  if (op.phase == Op::Phase::kGet && resp.status == 400 && !op.restarted) {
    // A token that is expired, reused or corrupted: start a new session once.
    LOG_DEBUG("%.*s:%.*s:%.*s: token rejected (%.*s); starting a new session", op.app_len, op.app, op.env_len,
              op.env, op.prof_len, op.prof, static_cast<int>(type.size()), type.data());
    op.restarted = true;
    s.reset();
    start_session(op);
    return;
  }
  if (resp.status == 400 || resp.status == 404) s.reset();
  bool retryable = resp.status == 429 || resp.status >= 500;
  op.aws_status = static_cast<uint16_t>(resp.status);
  finish_error(op, reader_status_for(resp.status, type), retryable, "AWS AppConfig %s answered %d %.*s%s%s", api,
               resp.status, static_cast<int>(type.size()), type.data(), msg[0] ? ": " : "", msg);
}

}  // namespace appconfig::appconfig_data
