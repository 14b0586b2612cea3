// credentials: the Provider's cache, waiters and delivery; the environment, static and container
// sources; read_small_file. The other sources and the Chain live in credentials_*.cpp (see
// include/appconfig/aws/credentials_internal.h). See include/appconfig/aws/credentials.h and
// docs/credentials.md.
#include "appconfig/aws/credentials.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appconfig/aws/credentials_internal.h"
#include "appconfig/aws/crypto.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/text.h"
#include "appconfig/formats/json.h"

namespace appconfig::credentials {

// ---- helpers shared by the credentials_*.cpp files

namespace internal {

bool copy_str(std::string_view v, char* out, size_t cap) {
  if (v.size() >= cap) return false;
  if (!v.empty()) memcpy(out, v.data(), v.size());
  out[v.size()] = '\0';
  return true;
}

bool visible(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

void quote_body(std::string_view body, char* out, size_t cap) {
  size_t n = body.size() < kMaxQuotedBodyBytes ? body.size() : kMaxQuotedBodyBytes;
  if (cap == 0) return;
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; ++i) {
    auto u = static_cast<unsigned char>(body[i]);
    out[i] = (u < 0x20 || u == 0x7f) ? ' ' : body[i];
  }
  out[n] = '\0';
}

void blank_controls(char* s, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (static_cast<unsigned char>(s[i]) < 0x20) s[i] = ' ';
}

bool read_token_file(const char* path, const char* what, char* out, size_t cap, char* err, size_t err_cap) {
  size_t n = 0;
  if (!read_small_file(path, what, out, cap, &n, nullptr, err, err_cap)) {
    crypto::secure_wipe(out, cap);
    return false;
  }
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t')) --n;
  out[n] = '\0';
  for (size_t i = 0; i < n; ++i) {
    auto u = static_cast<unsigned char>(out[i]);
    if (u < 0x20 || u == 0x7f) {
      crypto::secure_wipe(out, cap);
      return error::fail(err, err_cap, "%s %s holds control characters", what, path);
    }
  }
  if (n == 0) {
    return error::fail(err, err_cap, "%s %s is empty", what, path);
  }
  return true;
}

}  // namespace internal

using internal::copy_str;
using internal::quote_body;
using internal::read_token_file;
using internal::visible;

namespace {

// The container endpoint used with AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS, AWS SDKs).
constexpr std::string_view kEcsHost = "169.254.170.2";

// Plain http is allowed only to addresses that never leave the host / task (AWS SDK rule).
bool allowed_plain_http_host(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "169.254.170.2" || host == "169.254.170.23" ||
      host == "[fd00:ec2::23]")
    return true;
  if (host.substr(0, 4) != "127.") return false;
  // 127.0.0.0/8: four dotted decimal parts.
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (!text::is_digit(c)) return false;
  }
  return dots == 3;
}

uint64_t default_clock(void*) { return loop::wall_ms(); }

}  // namespace

const char* source_name(Source s) {
  switch (s) {
    case Source::kNone: return "none";
    case Source::kEnvironment: return "environment";
    case Source::kContainer: return "container endpoint";
    case Source::kAssumeRole: return "AssumeRole";
    case Source::kWebIdentity: return "web identity";
    case Source::kProfile: return "shared profile";
    case Source::kImds: return "instance metadata (IMDS)";
  }
  return "none";
}

bool read_small_file(const char* path, const char* what, char* out, size_t cap, size_t* len, bool* missing, char* err,
                     size_t err_cap) {
  if (missing != nullptr) *missing = false;
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait; the S_ISREG check then
  // refuses it (and devices) before any read.
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT && missing != nullptr) *missing = true;
    return error::fail(err, err_cap, "cannot open %s %s: %s", what, path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return error::fail(err, err_cap, "%s %s is not a regular file", what, path);
  }
  if (cap == 0 || static_cast<uint64_t>(st.st_size) >= cap) {
    close(fd);
    return error::fail(err, err_cap, "%s %s is larger than %zu bytes", what, path, cap == 0 ? 0 : cap - 1);
  }
  size_t n = 0, extra = 0;
  char probe;
  int e = sysfile::read_full(fd, out, cap - 1, &n);
  // Full: one more byte tells end-of-file from a file that grew after fstat (still bounded).
  if (e == 0 && n == cap - 1) e = sysfile::read_full(fd, &probe, 1, &extra);
  close(fd);
  if (e != 0) return error::fail(err, err_cap, "cannot read %s %s: %s", what, path, strerror(e));
  if (extra > 0) return error::fail(err, err_cap, "%s %s is larger than %zu bytes", what, path, cap - 1);
  out[n] = '\0';
  *len = n;
  return true;
}

// ---- Provider

Provider::~Provider() {
  if (base_ != nullptr) base_->cancel(this);
  if (client_ != nullptr && request_.valid()) client_->cancel(request_);
  if (loop_ != nullptr) {
    loop_->cancel_timer(deliver_timer_);
    loop_->cancel_timer(deadline_timer_);
  }
  crypto::secure_wipe(&cached_, sizeof cached_);
  crypto::secure_wipe(auth_token_, sizeof auth_token_);
}

uint64_t Provider::wall_now_ms() const { return clock_ != nullptr ? clock_(clock_ctx_) : default_clock(nullptr); }

bool Provider::cache_fresh() const {
  if (!have_cached_) return false;
  if (cached_.expires_epoch_ms == 0) return true;
  return wall_now_ms() < refresh_at_ms_;
}

bool Provider::cache_usable() const {
  if (!have_cached_) return false;
  if (cached_.expires_epoch_ms == 0) return true;
  return wall_now_ms() + kMinRemainingMs < cached_.expires_epoch_ms;
}

bool Provider::init_from_settings(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err,
                                  size_t cap) {
  loop_ = lp;
  client_ = client;
  const bool has_key = !s.access_key_id.empty(), has_secret = !s.secret_access_key.empty();
  if (has_key != has_secret) {
    return error::fail(err, cap, "partial credentials in the environment: %s is set but %s is not",
                       has_key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                       has_key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
  }
  if (has_key) {
    Creds c{};
    if (!copy_str(s.access_key_id, c.access_key_id, sizeof c.access_key_id) || !visible(s.access_key_id)) {
      return error::fail(err, cap, "AWS_ACCESS_KEY_ID is longer than %zu bytes or has spaces / control characters",
                         kMaxKeyBytes - 1);
    }
    if (!copy_str(s.secret_access_key, c.secret_access_key, sizeof c.secret_access_key) ||
        !visible(s.secret_access_key)) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(
          err, cap, "AWS_SECRET_ACCESS_KEY (value hidden) is longer than %zu bytes or has spaces / control characters",
          kMaxKeyBytes - 1);
    }
    if (!copy_str(s.session_token, c.session_token, sizeof c.session_token) || !visible(s.session_token)) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(err, cap,
                         "AWS_SESSION_TOKEN (value hidden) is longer than %zu bytes or has spaces / control characters",
                         kMaxTokenBytes - 1);
    }
    c.expires_epoch_ms = 0;
    source_ = Source::kEnvironment;  // before store(), which names the source
    store(c);
    crypto::secure_wipe(&c, sizeof c);
    return true;
  }
  if (s.container_credentials_full_uri.empty() && s.container_credentials_relative_uri.empty()) {
    source_ = Source::kNone;
    return true;
  }
  return init_container(lp, client, s, err, cap);
}

bool Provider::init_container(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err,
                              size_t cap) {
  loop_ = lp;
  client_ = client;
  std::string_view target;
  if (!s.container_credentials_full_uri.empty()) {
    char why[160];
    if (!endpoints::parse_url_target(s.container_credentials_full_uri, endpoint_, &target, why, sizeof why)) {
      return error::fail(err, cap, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not usable: %s", why);
    }
    if (!endpoint_.tls && !allowed_plain_http_host(endpoint_.host)) {
      return error::fail(
          err, cap,
          "AWS_CONTAINER_CREDENTIALS_FULL_URI uses http:// to %s: plain http is allowed only to loopback, "
          "169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; use https://",
          endpoint_.host);
    }
  } else if (!s.container_credentials_relative_uri.empty()) {
    std::string_view rel = s.container_credentials_relative_uri;
    if (rel.front() != '/' || !visible(rel)) {
      return error::fail(err, cap, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/' and have no spaces");
    }
    copy_str(kEcsHost, endpoint_.host, sizeof endpoint_.host);
    endpoint_.port = 80;
    endpoint_.tls = false;
    target = rel;
  } else {
    return error::fail(err, cap, "%s", "");
  }
  if (!copy_str(target, target_, sizeof target_)) {
    return error::fail(err, cap, "the container credentials URI is longer than %zu bytes", kMaxTargetBytes - 1);
  }
  // The SDKs prefer the token file over the token variable when both are set.
  if (!s.container_authorization_token_file.empty()) {
    if (!copy_str(s.container_authorization_token_file, auth_token_file_, sizeof auth_token_file_)) {
      return error::fail(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is longer than %zu bytes",
                         sizeof auth_token_file_ - 1);
    }
  } else if (!s.container_authorization_token.empty()) {
    for (char c : s.container_authorization_token) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        return error::fail(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN (value hidden) has control characters");
      }
    }
    if (!copy_str(s.container_authorization_token, auth_token_, sizeof auth_token_)) {
      return error::fail(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN (value hidden) is longer than %zu bytes",
                         kMaxTokenBytes - 1);
    }
  }
  source_ = Source::kContainer;
  return true;
}

bool Provider::get(Callback cb, void* ctx, uint64_t timeout_ms) {
  if (num_waiters_ >= kMaxWaiters || cb == nullptr || loop_ == nullptr) return false;
  uint64_t deadline = timeout_ms == 0 ? 0 : loop_->now_ms() + timeout_ms;
  waiters_[num_waiters_++] = Waiter{cb, ctx, deadline};
  if (source_ == Source::kNone) {
    fail("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE and "
         "AWS_ROLE_ARN, AWS_PROFILE, or AWS_CONTAINER_CREDENTIALS_FULL_URI");
    return true;
  }
  if (cache_fresh()) {
    arm_deliver();
    return true;
  }
  if (cache_usable() && !last_failed_) {
    // Due for refresh but still valid: hand these out now, refresh in the background.
    arm_deliver();
    if (!fetching_) start_fetch(kDefaultFetchTimeoutMs);
    return true;
  }
  if (deadline != 0) arm_deadline();
  if (!fetching_) start_fetch(timeout_ms);
  return true;
}

void Provider::cancel(void* ctx) {
  size_t j = 0;
  for (size_t i = 0; i < num_waiters_; ++i)
    if (waiters_[i].ctx != ctx) waiters_[j++] = waiters_[i];
  num_waiters_ = j;
}

void Provider::start_fetch(uint64_t timeout_ms) {
  fetching_ = true;
  last_failed_ = false;
  ++fetches_;
  fetch_timeout_ms_ = timeout_ms != 0 ? timeout_ms : kDefaultFetchTimeoutMs;
  switch (source_) {
    case Source::kContainer: fetch_container(fetch_timeout_ms_); break;
    case Source::kAssumeRole: fetch_assume_role(fetch_timeout_ms_); break;
    case Source::kWebIdentity: fetch_web_identity(fetch_timeout_ms_); break;
    case Source::kImds: fetch_imds(fetch_timeout_ms_); break;
    case Source::kNone:
    case Source::kEnvironment:
    case Source::kProfile: fail("%s credentials cannot be fetched", source_name(source_)); break;
  }
}

void Provider::fetch_container(uint64_t timeout_ms) {
  char why[kMaxErrorBytes / 2];
  const char* token = auth_token_;
  char file_token[kMaxTokenBytes];
  if (auth_token_file_[0] != '\0') {
    if (!read_token_file(auth_token_file_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file_token, sizeof file_token, why,
                         sizeof why)) {
      fail("container credentials: %s", why);
      return;
    }
    token = file_token;
  }
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  http_client::Header headers[3];
  size_t nh = 0;
  headers[nh++] = {"Host", host};
  headers[nh++] = {"Accept", "application/json"};
  if (token[0] != '\0') headers[nh++] = {"Authorization", token};
  const http_client::Request req{
      .method = "GET", .target = target_, .headers = headers, .num_headers = nh, .body = {}, .timeout_ms = timeout_ms};
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_container_cb, this);
  if (token == file_token) crypto::secure_wipe(file_token, sizeof file_token);
  if (!request_.valid()) fail("container credentials: the HTTP client has no free request slot");
}

void Provider::on_container_cb(void* ctx, const http_client::Result& r) {
  static_cast<Provider*>(ctx)->on_container_response(r);
}

void Provider::on_container_response(const http_client::Result& r) {
  request_ = {};
  char where[endpoints::kMaxHostBytes + 16];
  snprintf(where, sizeof where, "%s:%u", endpoint_.host, endpoint_.port);
  if (r.error != http_client::Error::kNone) {
    fail("container credentials from %s: %s", where, r.detail[0] != '\0' ? r.detail : http_client::error_message(r.error));
    return;
  }
  const http_client::Response& resp = *r.response;
  if (resp.status != 200) {
    char msg[200] = "";
    bool have = false;
    if (json::validate(resp.body).error == json::Error::kNone) {
      for (const char* key : {"Message", "message", "Code", "code"}) {
        auto v = json::find(resp.body, key);
        if (v && json::kind_of(*v) == json::Kind::kString) {
          long n = json::decode_string(*v, msg, sizeof msg - 1);
          if (n >= 0) {
            msg[n] = '\0';
            internal::blank_controls(msg, static_cast<size_t>(n));
            have = true;
            break;
          }
        }
      }
    }
    if (!have) quote_body(resp.body, msg, sizeof msg);
    fail("container credentials from %s: HTTP %d: %s", where, resp.status, msg);
    return;
  }
  Creds c{};
  char why[kMaxErrorBytes / 2];
  if (!parse_container_json(resp.body, c, why, sizeof why)) {
    fail("container credentials from %s: %s", where, why);
    return;
  }
  store(c);
  crypto::secure_wipe(&c, sizeof c);
}

void Provider::store(const Creds& fresh) {
  const uint64_t now = wall_now_ms();
  if (fresh.expires_epoch_ms != 0 && fresh.expires_epoch_ms <= now + kMinRemainingMs) {
    // Expired on arrival: our clock or theirs is wrong; AWS would reject them anyway.
    fail("%s credentials expire at %llu ms since the epoch, %lld ms from now: is the clock wrong?",
         source_name(source_), static_cast<unsigned long long>(fresh.expires_epoch_ms),
         static_cast<long long>(fresh.expires_epoch_ms) - static_cast<long long>(now));
    return;
  }
  crypto::secure_wipe(&cached_, sizeof cached_);
  cached_ = fresh;
  have_cached_ = true;
  if (fresh.expires_epoch_ms == 0) {
    refresh_at_ms_ = 0;
  } else {
    uint64_t lifetime = fresh.expires_epoch_ms - now;
    uint64_t margin = lifetime / 2 < kRefreshBeforeExpiryMs ? lifetime / 2 : kRefreshBeforeExpiryMs;
    refresh_at_ms_ = fresh.expires_epoch_ms - margin;
  }
  fetching_ = false;
  last_failed_ = false;
  if (source_ != Source::kEnvironment && source_ != Source::kProfile)
    LOG_DEBUG("credentials: new %s credentials, key %.4s..., valid for %llu s", source_name(source_),
              cached_.access_key_id,
              static_cast<unsigned long long>(fresh.expires_epoch_ms == 0 ? 0 : (fresh.expires_epoch_ms - now) / 1000));
  deliver_all();
}

void Provider::fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error::vfail(error_, sizeof error_, fmt, ap);
  va_end(ap);
  fetching_ = false;
  request_ = {};
  if (cache_usable()) {
    // Still valid for a while: keep serving, try again on the next get().
    LOG_WARN("credentials: refresh failed, using the current ones until they expire: %s", error_);
    last_failed_ = false;
  } else {
    last_failed_ = true;
  }
  // From inside get() (no source, no slot) the callbacks must still come from the loop.
  arm_deliver();
}

void Provider::arm_deliver() {
  if (!deliver_timer_.valid()) deliver_timer_ = loop_->add_timer(0, &Provider::on_deliver_timer, this);
}

void Provider::on_deliver_timer(void* ctx) {
  auto* self = static_cast<Provider*>(ctx);
  self->deliver_timer_ = {};
  self->deliver_all();
}

void Provider::deliver_all() {
  if (num_waiters_ == 0) return;
  const bool ok = !last_failed_ && cache_usable();
  if (!ok && !last_failed_) {
    // Nothing to hand out and no failure: a fetch is (or must be) under way.
    if (!fetching_) start_fetch(fetch_timeout_ms_ != 0 ? fetch_timeout_ms_ : kDefaultFetchTimeoutMs);
    return;
  }
  // Snapshot: callbacks may call get() / cancel() on this provider.
  Waiter batch[kMaxWaiters];
  size_t n = num_waiters_;
  memcpy(batch, waiters_, n * sizeof(Waiter));
  num_waiters_ = 0;
  char error_copy[kMaxErrorBytes];
  if (!ok) memcpy(error_copy, error_, sizeof error_copy);
  for (size_t i = 0; i < n; ++i) {
    if (ok) batch[i].cb(batch[i].ctx, &cached_, nullptr);
    else batch[i].cb(batch[i].ctx, nullptr, error_copy);
  }
  if (num_waiters_ == 0 && deadline_timer_.valid()) loop_->cancel_timer(deadline_timer_);
}

void Provider::arm_deadline() {
  uint64_t earliest = 0;
  for (size_t i = 0; i < num_waiters_; ++i)
    if (waiters_[i].deadline_ms != 0 && (earliest == 0 || waiters_[i].deadline_ms < earliest))
      earliest = waiters_[i].deadline_ms;
  if (earliest == 0) return;
  if (deadline_timer_.valid() && deadline_armed_ms_ <= earliest) return;
  loop_->cancel_timer(deadline_timer_);
  uint64_t now = loop_->now_ms();
  deadline_timer_ = loop_->add_timer(earliest > now ? earliest - now : 0, &Provider::on_deadline_timer, this);
  deadline_armed_ms_ = earliest;
}

void Provider::on_deadline_timer(void* ctx) {
  auto* self = static_cast<Provider*>(ctx);
  self->deadline_timer_ = {};
  self->expire_waiters();
}

void Provider::expire_waiters() {
  loop_->refresh_now();
  const uint64_t now = loop_->now_ms();
  Waiter expired[kMaxWaiters];
  size_t ne = 0, j = 0;
  for (size_t i = 0; i < num_waiters_; ++i) {
    if (waiters_[i].deadline_ms != 0 && waiters_[i].deadline_ms <= now) expired[ne++] = waiters_[i];
    else waiters_[j++] = waiters_[i];
  }
  num_waiters_ = j;
  arm_deadline();
  char msg[kMaxErrorBytes];
  const bool role = source_ == Source::kAssumeRole || source_ == Source::kWebIdentity;
  error::fail(msg, sizeof msg, "timed out waiting for %s credentials%s%.300s", source_name(source_),
              role ? " for " : "", role ? role_arn_ : "");
  for (size_t i = 0; i < ne; ++i) expired[i].cb(expired[i].ctx, nullptr, msg);
}

bool Provider::init_static(loop::Loop* lp, http_client::Client* client, const Creds& c, Source source) {
  loop_ = lp;
  client_ = client;
  Creds copy = c;
  copy.expires_epoch_ms = 0;
  source_ = source;  // before store(), which names the source
  store(copy);
  crypto::secure_wipe(&copy, sizeof copy);
  return true;
}

}  // namespace appconfig::credentials
