// credentials_imds: instance metadata (IMDSv2): the Imds client and the Provider source over it
// (the role name, then its credentials). See include/appconfig/aws/credentials.h.
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "appconfig/aws/credentials.h"
#include "appconfig/aws/credentials_internal.h"
#include "appconfig/aws/crypto.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/formats/json.h"

namespace appconfig::credentials {

using internal::copy_str;
using internal::quote_body;
using internal::visible;

Imds::~Imds() {
  if (client_ != nullptr && request_.valid()) client_->cancel(request_);
  if (loop_ != nullptr) {
    loop_->cancel_timer(backoff_timer_);
    loop_->cancel_timer(deliver_timer_);
  }
  crypto::secure_wipe(token_, sizeof token_);
}

bool Imds::init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap) {
  loop_ = lp;
  client_ = client;
  // The SDKs' defaults: the link-local IPv4 address, or the IPv6 one on IPv6-only instances.
  std::string_view url = s.ec2_metadata_endpoint;
  if (url.empty()) url = s.ec2_metadata_ipv6 ? "http://[fd00:ec2::254]" : "http://169.254.169.254";
  char why[160];
  if (!endpoints::parse_url(url, endpoint_, why, sizeof why)) {
    return error::fail(err, cap, "AWS_EC2_METADATA_SERVICE_ENDPOINT is not usable: %s", why);
  }
  copy_str(endpoint_.base_path, base_path_, sizeof base_path_);
  snprintf(where_, sizeof where_, "%s:%u", endpoint_.host, endpoint_.port);
  return true;
}

uint64_t Imds::remaining_ms() const {
  uint64_t now = loop_->now_ms();
  return deadline_ms_ > now ? deadline_ms_ - now : 0;
}

uint64_t Imds::request_timeout_ms() const {
  uint64_t left = remaining_ms();
  return left < kImdsRequestTimeoutMs ? (left == 0 ? 1 : left) : kImdsRequestTimeoutMs;
}

bool Imds::get(std::string_view path, uint64_t timeout_ms, ImdsCallback cb, void* ctx) {
  if (loop_ == nullptr || step_ != Step::kIdle || cb == nullptr) return false;
  if (strlen(base_path_) + path.size() >= sizeof path_) return false;
  snprintf(path_, sizeof path_, "%s%.*s", base_path_, static_cast<int>(path.size()), path.data());
  cb_ = cb;
  cb_ctx_ = ctx;
  retried_ = renewed_ = v1_ = false;
  loop_->refresh_now();
  deadline_ms_ = loop_->now_ms() + (timeout_ms != 0 ? timeout_ms : kDefaultFetchTimeoutMs);
  in_get_ = true;
  if (token_[0] != '\0' && loop_->now_ms() < token_expires_ms_) send_get();
  else send_token();
  in_get_ = false;
  return true;
}

void Imds::cancel() {
  if (request_.valid()) client_->cancel(request_);
  request_ = {};
  loop_->cancel_timer(backoff_timer_);
  loop_->cancel_timer(deliver_timer_);
  step_ = Step::kIdle;
}

void Imds::send_token() {
  step_ = Step::kToken;
  ++token_requests_;
  crypto::secure_wipe(token_, sizeof token_);
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%u", kImdsTokenTtlS);
  http_client::Header headers[2] = {{"Host", host}, {"X-aws-ec2-metadata-token-ttl-seconds", ttl}};
  char target[kMaxImdsPathBytes + 32];
  snprintf(target, sizeof target, "%s/latest/api/token", base_path_);
  const http_client::Request req{.method = "PUT",
                                 .target = target,
                                 .headers = headers,
                                 .num_headers = 2,
                                 .body = {},
                                 .timeout_ms = request_timeout_ms()};
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Imds::on_token_cb, this);
  if (!request_.valid()) finish({}, "the HTTP client has no free request slot");
}

void Imds::send_get() {
  step_ = Step::kGet;
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  http_client::Header headers[2] = {{"Host", host}, {"X-aws-ec2-metadata-token", token_}};
  const http_client::Request req{.method = "GET",
                                 .target = path_,
                                 .headers = headers,
                                 .num_headers = v1_ ? size_t{1} : size_t{2},  // IMDSv1: no token header
                                 .body = {},
                                 .timeout_ms = request_timeout_ms()};
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Imds::on_get_cb, this);
  if (!request_.valid()) finish({}, "the HTTP client has no free request slot");
}

void Imds::on_token_cb(void* ctx, const http_client::Result& r) {
  auto* self = static_cast<Imds*>(ctx);
  self->request_ = {};
  if (r.error != http_client::Error::kNone) {
    self->retry_or_fail("token request (PUT /latest/api/token): %s",
                        r.detail[0] != '\0' ? r.detail : http_client::error_message(r.error));
    return;
  }
  const http_client::Response& resp = *r.response;
  if (resp.status == 200) {
    std::string_view t = resp.body;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
    if (t.empty() || !visible(t) || !copy_str(t, self->token_, sizeof self->token_)) {
      self->finish({}, "the IMDS session token is empty, too long or not printable");
      return;
    }
    self->loop_->refresh_now();
    self->token_expires_ms_ = self->loop_->now_ms() + uint64_t{kImdsTokenTtlS} * 1000 - kImdsTokenMarginMs;
    self->send_get();
    return;
  }
  // IMDSv1-only instances (or proxies in front of IMDS) refuse the PUT: the SDKs then go on
  // without a token. Nothing else falls back.
  if (resp.status == 403 || resp.status == 404 || resp.status == 405) {
    LOG_DEBUG("credentials: IMDS at %s refused the token call (HTTP %d): continuing with IMDSv1", self->where_,
              resp.status);
    self->v1_ = true;
    self->send_get();
    return;
  }
  char msg[160];
  quote_body(resp.body, msg, sizeof msg);
  if (resp.status >= 500) self->retry_or_fail("token request: HTTP %d: %s", resp.status, msg);
  else {
    char e[300];
    error::fail(e, sizeof e, "token request: HTTP %d: %s", resp.status, msg);
    self->finish({}, e);
  }
}

void Imds::on_get_cb(void* ctx, const http_client::Result& r) {
  auto* self = static_cast<Imds*>(ctx);
  self->request_ = {};
  if (r.error != http_client::Error::kNone) {
    self->retry_or_fail("GET %s: %s", self->path_, r.detail[0] != '\0' ? r.detail : http_client::error_message(r.error));
    return;
  }
  const http_client::Response& resp = *r.response;
  if (resp.status == 200) {
    self->finish(resp.body, nullptr);
    return;
  }
  if (resp.status == 401 && !self->v1_ && !self->renewed_) {
    // The token expired or IMDS restarted: one new token, then the same GET.
    self->renewed_ = true;
    self->send_token();
    return;
  }
  char msg[160];
  quote_body(resp.body, msg, sizeof msg);
  if (resp.status >= 500) {
    self->retry_or_fail("GET %s: HTTP %d: %s", self->path_, resp.status, msg);
    return;
  }
  char e[kMaxErrorBytes];
  error::fail(e, sizeof e, "GET %s: HTTP %d%s%s", self->path_, resp.status, msg[0] != '\0' ? ": " : "", msg);
  self->finish({}, e);
}

void Imds::retry_or_fail(const char* fmt, ...) {
  char e[kMaxErrorBytes];
  va_list ap;
  va_start(ap, fmt);
  error::vfail(e, sizeof e, fmt, ap);
  va_end(ap);
  loop_->refresh_now();
  if (!retried_ && remaining_ms() > kImdsRetryBackoffMs) {
    retried_ = true;
    LOG_DEBUG("credentials: IMDS at %s: %s; retrying in %llu ms", where_, e,
              static_cast<unsigned long long>(kImdsRetryBackoffMs));
    step_ = Step::kBackoff;
    backoff_timer_ = loop_->add_timer(kImdsRetryBackoffMs, &Imds::on_backoff, this);
    if (backoff_timer_.valid()) return;
  }
  finish({}, e);
}

void Imds::on_backoff(void* ctx) {
  auto* self = static_cast<Imds*>(ctx);
  self->backoff_timer_ = {};
  if (self->v1_ || (self->token_[0] != '\0' && self->loop_->now_ms() < self->token_expires_ms_)) self->send_get();
  else self->send_token();
}

void Imds::finish(std::string_view body, const char* error) {
  if (error != nullptr) error::fail(error_, sizeof error_, "instance metadata at %s: %s", where_, error);
  if (in_get_) {
    // Callbacks never come from inside get().
    step_ = Step::kBackoff;
    deliver_timer_ = loop_->add_timer(0, &Imds::on_deliver, this);
    return;
  }
  step_ = Step::kIdle;
  cb_(cb_ctx_, body, error != nullptr ? error_ : nullptr);
}

void Imds::on_deliver(void* ctx) {
  auto* self = static_cast<Imds*>(ctx);
  self->deliver_timer_ = {};
  self->step_ = Step::kIdle;
  self->cb_(self->cb_ctx_, {}, self->error_);
}

// ---- the Provider source

bool Provider::init_imds(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err,
                         size_t cap) {
  loop_ = lp;
  client_ = client;
  if (!imds_.init(lp, client, s, err, cap)) return false;
  source_ = Source::kImds;
  return true;
}

void Provider::fetch_imds(uint64_t timeout_ms) {
  imds_have_role_ = false;
  if (!imds_.get("/latest/meta-data/iam/security-credentials/", timeout_ms, &Provider::on_imds_cb, this))
    fail("instance metadata at %s: a request is already in flight", imds_.where());
}

void Provider::on_imds_cb(void* ctx, std::string_view body, const char* error) {
  static_cast<Provider*>(ctx)->on_imds_answer(body, error);
}

void Provider::on_imds_answer(std::string_view body, const char* error) {
  if (error != nullptr) {
    fail("%s", error);
    return;
  }
  if (!imds_have_role_) {
    // The role list: one name per line; an instance has at most one role (instance profile).
    std::string_view role = body.substr(0, body.find('\n'));
    while (!role.empty() && (role.back() == '\r' || role.back() == ' ')) role.remove_suffix(1);
    if (role.empty()) {
      fail("instance metadata at %s: no IAM role is attached to this instance (empty role list)", imds_.where());
      return;
    }
    if (!visible(role) || role.find('/') != std::string_view::npos || !copy_str(role, imds_role_, sizeof imds_role_)) {
      fail("instance metadata at %s: the role name is not a valid IAM name", imds_.where());
      return;
    }
    imds_have_role_ = true;
    char path[kMaxImdsPathBytes];
    snprintf(path, sizeof path, "/latest/meta-data/iam/security-credentials/%s", imds_role_);
    if (!imds_.get(path, fetch_timeout_ms_, &Provider::on_imds_cb, this))
      fail("instance metadata at %s: cannot ask for the role's credentials", imds_.where());
    return;
  }
  char why[kMaxErrorBytes / 2];
  // {"Code":"Success","LastUpdated":..,"Type":"AWS-HMAC","AccessKeyId":..,"SecretAccessKey":..,"Token":..,"Expiration":..}
  if (json::validate(body).error == json::Error::kNone && json::kind_of(body) == json::Kind::kObject) {
    auto code = json::find(body, "Code");
    char text[64] = "";
    if (code && json::kind_of(*code) == json::Kind::kString) {
      long n = json::decode_string(*code, text, sizeof text - 1);
      text[n < 0 ? 0 : n] = '\0';
      if (strcmp(text, "Success") != 0) {
        internal::blank_controls(text, strlen(text));
        fail("instance metadata at %s: role %s: Code \"%s\" (expected Success)", imds_.where(), imds_role_, text);
        return;
      }
    }
  }
  Creds c{};
  if (!parse_container_json(body, c, why, sizeof why)) {
    fail("instance metadata at %s: role %s: %s", imds_.where(), imds_role_, why);
    return;
  }
  store(c);
  crypto::secure_wipe(&c, sizeof c);
}

}  // namespace appconfig::credentials
