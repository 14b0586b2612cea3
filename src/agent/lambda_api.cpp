#include "appconfig/agent/lambda_api.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "appconfig/net/http_parse.h"
#include "appconfig/formats/json.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/text.h"

namespace appconfig::lambda_api {

namespace {

constexpr std::string_view kBase = "/2020-01-01/extension";

// Writes s as the inside of a JSON string, NUL-terminated.
size_t json_escape(std::string_view s, char* out, size_t cap) {
  if (cap == 0) return 0;
  size_t n = json::escape(s, out, cap - 1);
  out[n] = '\0';
  return n;
}

// Reads a string member of a JSON object into out; "" when absent or not a string.
std::string_view string_member(std::string_view obj, std::string_view key, char* out, size_t cap) {
  std::optional<std::string_view> v = json::find(obj, key);
  if (!v || json::kind_of(*v) != json::Kind::kString) return {};
  long n = json::decode_string(*v, out, cap);
  if (n < 0) return {};
  return std::string_view(out, static_cast<size_t>(n));
}

// Reads a non-negative integer member (deadlineMs).
bool uint_member(std::string_view obj, std::string_view key, uint64_t* out) {
  std::optional<std::string_view> v = json::find(obj, key);
  if (!v || json::kind_of(*v) != json::Kind::kNumber) return false;
  // 1.7e12 style is not used by Lambda: the integer part counts (truncated); a sign fails.
  return text::parse_u64(v->substr(0, v->find_first_of(".eE")), out);
}

// The error message of a Runtime API error body {"errorMessage","errorType"}.
void describe_error(const http_client::Result& r, char* out, size_t cap) {
  if (r.error != http_client::Error::kNone) {
    snprintf(out, cap, "%s", r.detail);
    return;
  }
  std::string_view body = r.response->body;
  char msg[256], type[128];
  std::string_view m, t;
  if (json::validate(body).error == json::Error::kNone) {
    m = string_member(body, "errorMessage", msg, sizeof msg);
    t = string_member(body, "errorType", type, sizeof type);
  }
  if (!m.empty() || !t.empty())
    snprintf(out, cap, "HTTP %d %.*s: %.*s", r.response->status, static_cast<int>(t.size()), t.data(),
             static_cast<int>(m.size()), m.data());
  else
    snprintf(out, cap, "HTTP %d", r.response->status);
}

}  // namespace

bool split_host_port(std::string_view s, char* host, size_t host_cap, uint16_t* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  std::string_view h = s.substr(0, colon);
  std::string_view p = s.substr(colon + 1);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return false;
  } else if (h.find(':') != std::string_view::npos) {
    return false;  // an IPv6 literal needs brackets
  }
  uint64_t v = 0;
  if (!text::parse_uint(p, 65535, &v)) return false;
  if (v == 0 || h.size() >= host_cap) return false;
  memcpy(host, h.data(), h.size());
  host[h.size()] = '\0';
  *port = static_cast<uint16_t>(v);
  return true;
}

bool Extension::init(loop::Loop* lp, http_client::Client* client, const Options& opt, const Hooks& hooks, char* err,
                     size_t err_cap) {
  loop_ = lp;
  client_ = client;
  opt_ = opt;
  hooks_ = hooks;
  uint16_t port = 0;
  if (!split_host_port(opt.runtime_api, host_, sizeof host_, &port)) {
    return error::fail(err, err_cap, "AWS_LAMBDA_RUNTIME_API=\"%.*s\" is not host:port",
                       static_cast<int>(opt.runtime_api.size()), opt.runtime_api.data());
  }
  ep_ = http_client::Endpoint{.host = std::string_view(host_), .port = port, .tls = false};
  return true;
}

void Extension::fail(const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  error::vfail(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (hooks_.fatal != nullptr) hooks_.fatal(hooks_.ctx, msg);
}

void Extension::start_register() {
  static constexpr char kAll[] = "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}";
  static constexpr char kShutdownOnly[] = "{\"events\":[\"SHUTDOWN\"]}";
  http_client::Header h[3] = {
      {"Lambda-Extension-Name", opt_.name},
      {"Lambda-Extension-Accept-Feature", "accountId"},
      {"Content-Type", "application/json"},
  };
  char target[64];
  snprintf(target, sizeof target, "%.*s/register", static_cast<int>(kBase.size()), kBase.data());
  http_client::Request req{.method = "POST",
                           .target = target,
                           .headers = h,
                           .num_headers = 3,
                           .body = opt_.managed_instances ? kShutdownOnly : kAll,
                           .timeout_ms = kControlTimeoutMs};
  if (!client_->send(ep_, req, &Extension::on_register, this).valid()) fail("cannot send the register request");
}

void Extension::on_register(void* ctx, const http_client::Result& r) {
  auto* self = static_cast<Extension*>(ctx);
  if (r.error != http_client::Error::kNone || r.response->status != 200) {
    char why[300];
    describe_error(r, why, sizeof why);
    self->fail("registration with the Lambda Extensions API failed: %s", why);
    return;
  }
  std::string_view id = http_parse::find_header(r.response->headers, r.response->num_headers,
                                                "Lambda-Extension-Identifier");
  if (id.empty() || id.size() >= sizeof self->identifier_) {
    self->fail("registration answered without a usable Lambda-Extension-Identifier header");
    return;
  }
  memcpy(self->identifier_, id.data(), id.size());
  self->identifier_[id.size()] = '\0';
  self->identifier_empty_ = false;
  std::string_view body = r.response->body;
  char fn[160], fv[64], handler[160], account[32];
  Registration reg{id, {}, {}, {}, {}};
  if (json::validate(body).error == json::Error::kNone) {
    reg.function_name = string_member(body, "functionName", fn, sizeof fn);
    reg.function_version = string_member(body, "functionVersion", fv, sizeof fv);
    reg.handler = string_member(body, "handler", handler, sizeof handler);
    reg.account_id = string_member(body, "accountId", account, sizeof account);
  }
  if (self->report_pending_) {
    self->send_report();
    return;
  }
  if (self->hooks_.registered != nullptr) self->hooks_.registered(self->hooks_.ctx, reg);
}

void Extension::init_done() {
  if (init_finished_) return;
  init_finished_ = true;
  ask_next();
}

void Extension::work_done() {
  if (!invoke_open_) return;
  invoke_open_ = false;
  loop_->cancel_timer(next_timer_);
  ask_next();
}

void Extension::on_next_timer(void* ctx) {
  auto* self = static_cast<Extension*>(ctx);
  self->next_timer_ = loop::TimerId{};
  if (self->invoke_open_) {
    LOG_DEBUG("per-invoke work still running at its time limit; asking for the next event");
    self->invoke_open_ = false;
    self->ask_next();
  }
}

void Extension::on_retry_timer(void* ctx) {
  auto* self = static_cast<Extension*>(ctx);
  self->retry_timer_ = loop::TimerId{};
  self->ask_next();
}

void Extension::ask_next() {
  if (waiting_next_ || identifier_empty_) return;
  http_client::Header h[1] = {{"Lambda-Extension-Identifier", std::string_view(identifier_)}};
  char target[64];
  snprintf(target, sizeof target, "%.*s/event/next", static_cast<int>(kBase.size()), kBase.data());
  // No timeout: the long poll lasts as long as the platform keeps us waiting,
  // including the time we spend frozen.
  http_client::Request req{
      .method = "GET", .target = target, .headers = h, .num_headers = 1, .body = "", .timeout_ms = 0};
  if (!client_->send(ep_, req, &Extension::on_next, this).valid()) {
    fail("cannot send the /event/next request");
    return;
  }
  waiting_next_ = true;
}

void Extension::on_next(void* ctx, const http_client::Result& r) {
  auto* self = static_cast<Extension*>(ctx);
  self->waiting_next_ = false;
  if (r.error != http_client::Error::kNone) {
    // The connection may break while we are frozen; the event was not
    // delivered, so asking again neither loses nor repeats one.
    if (++self->next_failures_ > kMaxNextFailures) {
      self->fail("the Lambda Extensions API is unreachable: %s", r.detail);
      return;
    }
    LOG_DEBUG("/event/next failed (%s); asking again", r.detail);
    self->retry_timer_ = self->loop_->add_timer(kNextRetryDelayMs, &Extension::on_retry_timer, self);
    return;
  }
  self->next_failures_ = 0;
  if (r.response->status != 200) {
    char why[300];
    describe_error(r, why, sizeof why);
    self->fail("/event/next answered %s", why);
    return;
  }
  std::string_view body = r.response->body;
  if (json::validate(body).error != json::Error::kNone) {
    self->fail("/event/next answered a body that is not JSON");
    return;
  }
  char type[32], rid[128], reason[32];
  std::string_view t = string_member(body, "eventType", type, sizeof type);
  Event ev{};
  uint_member(body, "deadlineMs", &ev.deadline_epoch_ms);
  // Compare case-insensitively: the RIE and the service differ in case.
  if (text::iequals(t, "INVOKE")) {
    ev.type = EventType::kInvoke;
    ev.request_id = string_member(body, "requestId", rid, sizeof rid);
    ++self->invokes_;
    self->invoke_open_ = true;
    bool pending = self->hooks_.invoke != nullptr && self->hooks_.invoke(self->hooks_.ctx, ev);
    if (!pending) {
      self->invoke_open_ = false;
      self->ask_next();
      return;
    }
    // Bound the work: the poll timeout, and never past the deadline minus a margin.
    uint64_t limit = self->opt_.poll_timeout_ms;
    uint64_t now_wall = loop::wall_ms();
    if (ev.deadline_epoch_ms > 0) {
      uint64_t left = ev.deadline_epoch_ms > now_wall + kDeadlineMarginMs
                          ? ev.deadline_epoch_ms - now_wall - kDeadlineMarginMs
                          : 0;
      if (left < limit) limit = left;
    }
    if (self->invoke_open_) self->next_timer_ = self->loop_->add_timer(limit, &Extension::on_next_timer, self);
    return;
  }
  if (text::iequals(t, "SHUTDOWN")) {
    ev.type = EventType::kShutdown;
    std::string_view rs = string_member(body, "shutdownReason", reason, sizeof reason);
    for (size_t i = 0; i < rs.size(); ++i) reason[i] = text::lower(reason[i]);
    ev.shutdown_reason = rs;
    self->loop_->cancel_timer(self->next_timer_);
    if (self->hooks_.shutdown != nullptr) self->hooks_.shutdown(self->hooks_.ctx, ev);
    return;
  }
  LOG_WARN("/event/next returned an unknown event type \"%.*s\"; asking again", static_cast<int>(t.size()), t.data());
  self->ask_next();
}

void Extension::report_error(ErrorKind kind, std::string_view reason, std::string_view message) {
  report_pending_ = true;
  report_kind_ = kind;
  snprintf(report_reason_, sizeof report_reason_, "%.*s", static_cast<int>(reason.size()), reason.data());
  snprintf(report_message_, sizeof report_message_, "%.*s", static_cast<int>(message.size()), message.data());
  if (identifier_empty_) {
    start_register();  // on_register sends the report
    return;
  }
  send_report();
}

void Extension::send_report() {
  char type[96];
  snprintf(type, sizeof type, "Extension.%s", report_reason_);
  char esc_msg[1100], esc_type[200];
  json_escape(report_message_, esc_msg, sizeof esc_msg);
  json_escape(type, esc_type, sizeof esc_type);
  char body[1400];
  int n = snprintf(body, sizeof body, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\",\"stackTrace\":[]}", esc_msg,
                   esc_type);
  http_client::Header h[3] = {
      {"Lambda-Extension-Identifier", std::string_view(identifier_)},
      {"Lambda-Extension-Function-Error-Type", std::string_view(type)},
      {"Content-Type", "application/json"},
  };
  char target[64];
  snprintf(target, sizeof target, "%.*s/%s", static_cast<int>(kBase.size()), kBase.data(),
           report_kind_ == ErrorKind::kInit ? "init/error" : "exit/error");
  http_client::Request req{"POST", target, h, 3, std::string_view(body, n > 0 ? static_cast<size_t>(n) : 0),
                           kControlTimeoutMs};
  if (!client_->send(ep_, req, &Extension::on_report, this).valid()) fail("%s", report_message_);
}

void Extension::on_report(void* ctx, const http_client::Result& r) {
  auto* self = static_cast<Extension*>(ctx);
  // The platform answers 202; any 2xx is fine. Either way we exit now.
  if (r.error != http_client::Error::kNone || r.response->status / 100 != 2) {
    char why[300];
    describe_error(r, why, sizeof why);
    LOG_WARN("the error report was not accepted: %s", why);
  }
  self->report_pending_ = false;
  self->fail("%s", self->report_message_);
}

}  // namespace appconfig::lambda_api
