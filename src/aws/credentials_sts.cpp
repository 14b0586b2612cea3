// credentials_sts: the STS sources of a Provider: AssumeRole over a base provider (signed) and
// AssumeRoleWithWebIdentity with a token file (unsigned). See include/appconfig/aws/credentials.h.
#include <cstdio>
#include <cstring>
#include <sys/random.h>
#include <unistd.h>

#include "appconfig/aws/credentials.h"
#include "appconfig/aws/credentials_internal.h"
#include "appconfig/aws/crypto.h"
#include "appconfig/aws/sigv4.h"
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"

namespace appconfig::credentials {

using internal::copy_str;
using internal::quote_body;
using internal::read_token_file;
using internal::visible;

namespace {

// Random bytes in the default RoleSessionName (hex-encoded: 16 characters).
constexpr size_t kSessionRandomBytes = 8;

bool valid_session_name(std::string_view s) {
  if (s.size() < 2 || s.size() > 64) return false;
  for (char c : s) {
    bool ok = text::is_alnum(c) || std::strchr("_+=,.@-", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

// "appconfig-extension-<16 hex>" into name[65].
std::string_view default_session_name(char* name) {
  uint8_t rnd[kSessionRandomBytes] = {};
  if (getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) {
    // No entropy is no reason to fail: the name only has to be unique enough for CloudTrail.
    uint64_t t = loop::monotonic_ms() ^ (loop::wall_ms() << 16) ^ static_cast<uint64_t>(getpid());
    memcpy(rnd, &t, sizeof rnd);
  }
  memcpy(name, "appconfig-extension-", 20);
  crypto::hex_lower(rnd, sizeof rnd, name + 20);
  name[20 + 2 * sizeof rnd] = '\0';
  return std::string_view(name, 20 + 2 * sizeof rnd);
}

// RoleArn as STS takes it: "arn:...", 20 to 2048 visible characters.
bool check_role_arn(std::string_view role_arn, char* err, size_t cap) {
  if (role_arn.size() >= 20 && role_arn.size() <= 2048 && role_arn.substr(0, 4) == "arn:" && visible(role_arn))
    return true;
  return error::fail(err, cap,
                     "role ARN \"%.*s\" is not valid: arn:aws:iam::123456789012:role/Name, 20 to 2048 characters",
                     static_cast<int>(role_arn.size() < 200 ? role_arn.size() : 200), role_arn.data());
}

// RoleSessionName: *session_name when valid, else an error; when empty, a default name written
// into name.
bool choose_session_name(std::string_view* session_name, char (&name)[65], char* err, size_t cap) {
  if (session_name->empty()) {
    *session_name = default_session_name(name);
    return true;
  }
  if (valid_session_name(*session_name)) return true;
  return error::fail(err, cap, "role session name \"%.*s\" is not valid: 2 to 64 of letters, digits and _+=,.@-",
                     static_cast<int>(session_name->size() < 64 ? session_name->size() : 64), session_name->data());
}

// STS Query API requests: a form body POSTed to "<base path>/" (STS API reference).
constexpr std::string_view kFormContentType = "application/x-www-form-urlencoded; charset=utf-8";
struct StsTarget {
  char host[endpoints::kMaxHostBytes + 8];  // the Host header value
  char path[endpoints::kMaxBasePathBytes + 2];
  explicit StsTarget(const endpoints::Endpoint& ep) {
    endpoints::host_header(ep, host, sizeof host);
    snprintf(path, sizeof path, "%s/", ep.base_path);
  }
};

}  // namespace

bool Provider::init_assume_role(loop::Loop* lp, http_client::Client* client, Provider* base,
                                std::string_view role_arn, std::string_view external_id,
                                std::string_view session_name, uint32_t duration_s, const endpoints::Endpoint& sts,
                                char* err, size_t cap) {
  loop_ = lp;
  client_ = client;
  if (base == nullptr || base == this) {
    return error::fail(err, cap, "AssumeRole needs a base credentials provider");
  }
  if (!check_role_arn(role_arn, err, cap)) return false;
  if (!external_id.empty() && (external_id.size() < 2 || external_id.size() > 1224 || !visible(external_id))) {
    return error::fail(err, cap, "role external ID (value hidden) must be 2 to 1224 visible characters");
  }
  char name[65];
  if (!choose_session_name(&session_name, name, err, cap)) return false;
  if (duration_s != 0 && (duration_s < kMinDurationS || duration_s > kMaxDurationS)) {
    return error::fail(err, cap, "credentials duration %u s is out of range: %u to %u seconds", duration_s,
                       kMinDurationS, kMaxDurationS);
  }
  // Form body, built once (RFC 1866 §8.2.1 form encoding with RFC 3986 unreserved bytes kept).
  if (!build_assume_role_form("AssumeRole", role_arn, session_name, err, cap, external_id, duration_s)) return false;
  copy_str(role_arn, role_arn_, sizeof role_arn_);
  endpoint_ = sts;
  base_ = base;
  source_ = Source::kAssumeRole;
  return true;
}

bool Provider::build_assume_role_form(std::string_view action, std::string_view role_arn, std::string_view session_name,
                                      char* err, size_t cap, std::string_view external_id, uint32_t duration_s) {
  size_t n = 0;
  auto append = [&](std::string_view literal) {
    if (n + literal.size() >= sizeof form_) return false;
    memcpy(form_ + n, literal.data(), literal.size());
    n += literal.size();
    form_[n] = '\0';
    return true;
  };
  auto append_value = [&](std::string_view v) {
    size_t w = form_encode(v, form_ + n, sizeof form_ - n);
    if (w == 0 && !v.empty()) return false;
    n += w;
    return true;
  };
  bool ok = append("Action=") && append(action) && append("&Version=2011-06-15&RoleArn=") && append_value(role_arn) &&
            append("&RoleSessionName=") && append_value(session_name);
  if (ok && !external_id.empty()) ok = append("&ExternalId=") && append_value(external_id);
  if (ok && duration_s != 0) {
    char num[16];
    snprintf(num, sizeof num, "%u", duration_s);
    ok = append("&DurationSeconds=") && append(num);
  }
  if (!ok) {
    return error::fail(err, cap, "the %.*s request body is longer than %zu bytes", static_cast<int>(action.size()),
                       action.data(), kMaxFormBytes);
  }
  form_len_ = n;
  return true;
}

bool Provider::init_web_identity(loop::Loop* lp, http_client::Client* client, std::string_view token_file,
                                 std::string_view role_arn, std::string_view session_name,
                                 const endpoints::Endpoint& sts, char* err, size_t cap) {
  loop_ = lp;
  client_ = client;
  if (!check_role_arn(role_arn, err, cap)) return false;
  char name[65];
  if (!choose_session_name(&session_name, name, err, cap)) return false;
  if (token_file.empty() || !copy_str(token_file, token_file_, sizeof token_file_)) {
    return error::fail(err, cap, "the web identity token file path is empty or longer than %zu bytes",
                       sizeof token_file_ - 1);
  }
  if (!build_assume_role_form("AssumeRoleWithWebIdentity", role_arn, session_name, err, cap)) return false;
  size_t n = form_len_;
  constexpr std::string_view kTokenParam = "&WebIdentityToken=";
  if (n + kTokenParam.size() >= sizeof form_) {
    return error::fail(err, cap, "the AssumeRoleWithWebIdentity request body is longer than %zu bytes", kMaxFormBytes);
  }
  memcpy(form_ + n, kTokenParam.data(), kTokenParam.size());
  form_prefix_len_ = form_len_ = n + kTokenParam.size();
  copy_str(role_arn, role_arn_, sizeof role_arn_);
  endpoint_ = sts;
  source_ = Source::kWebIdentity;
  return true;
}

void Provider::fetch_assume_role(uint64_t timeout_ms) {
  // The base calls back from the loop; it keeps its own cache.
  if (!base_->get(&Provider::on_base_cb, this, timeout_ms))
    fail("AssumeRole %s: the base credentials provider has too many waiters", role_arn_);
}

void Provider::on_base_cb(void* ctx, const Creds* creds, const char* error) {
  static_cast<Provider*>(ctx)->on_base_creds(creds, error);
}

void Provider::on_base_creds(const Creds* creds, const char* error) {
  if (creds == nullptr) {
    fail("AssumeRole %s: no base credentials: %s", role_arn_, error);
    return;
  }
  const StsTarget to(endpoint_);
  const std::string_view form(form_, form_len_);
  const sigv4::Header sh[2] = {{"Host", to.host}, {"Content-Type", kFormContentType}};
  const sigv4::Request sreq{"POST", to.path, "", sh, 2, form};
  sigv4::Credentials sc{creds->access_key_id, creds->secret_access_key, creds->session_token};
  const sigv4::Params params{.region = endpoint_.region,
                             .service = "sts",
                             .unix_time_s = static_cast<int64_t>(loop::wall_ms() / 1000),
                             .normalize_path = true,
                             .sign_body_header = false,
                             .omit_session_token = false};
  char sig_buf[1024];
  sigv4::Signed signed_headers{};
  sigv4::Error se = sigv4::sign(sreq, sc, params, sig_buf, sizeof sig_buf, signed_headers);
  if (se != sigv4::Error::kNone) {
    fail("AssumeRole %s: cannot sign the request: %s", role_arn_, sigv4::error_message(se));
    return;
  }
  http_client::Header headers[2 + sigv4::kMaxAddedHeaders];
  size_t nh = 0;
  headers[nh++] = {"Host", to.host};
  headers[nh++] = {"Content-Type", kFormContentType};
  for (size_t i = 0; i < signed_headers.num_added; ++i)
    headers[nh++] = {signed_headers.added[i].name, signed_headers.added[i].value};
  const http_client::Request req{.method = "POST",
                                 .target = to.path,
                                 .headers = headers,
                                 .num_headers = nh,
                                 .body = form,
                                 .timeout_ms = fetch_timeout_ms_};
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_sts_cb, this);
  crypto::secure_wipe(sig_buf, sizeof sig_buf);
  if (!request_.valid()) fail("AssumeRole %s: the HTTP client has no free request slot", role_arn_);
}

struct Provider::WebIdentityScratch {
  char token[kMaxWebIdentityTokenBytes + 2];  // the file's content (+ the newline we drop, + NUL)
  char body[kMaxWebIdentityFormBytes];        // form_'s prefix, then the encoded token
};
Provider::WebIdentityScratch Provider::web_identity_scratch_;

void Provider::fetch_web_identity(uint64_t timeout_ms) {
  // Read at every fetch: kubelet rotates the projected token (hourly, at 80% of its lifetime).
  auto& token = web_identity_scratch_.token;
  auto& body = web_identity_scratch_.body;
  char why[kMaxErrorBytes / 2];
  if (!read_token_file(token_file_, "AWS_WEB_IDENTITY_TOKEN_FILE", token, sizeof token, why, sizeof why)) {
    fail("AssumeRoleWithWebIdentity %s: %s", role_arn_, why);
    return;
  }
  memcpy(body, form_, form_prefix_len_);
  size_t w = form_encode(token, body + form_prefix_len_, sizeof body - form_prefix_len_);
  crypto::secure_wipe(token, sizeof token);
  if (w == 0) {
    fail("AssumeRoleWithWebIdentity %s: the token in %s does not fit the %zu-byte request body", role_arn_,
         token_file_, kMaxWebIdentityFormBytes);
    return;
  }
  const size_t body_len = form_prefix_len_ + w;
  const StsTarget to(endpoint_);
  // Unsigned: the token is the proof (STS API reference, AssumeRoleWithWebIdentity).
  const http_client::Header headers[2] = {{"Host", to.host}, {"Content-Type", kFormContentType}};
  const http_client::Request req{.method = "POST",
                                 .target = to.path,
                                 .headers = headers,
                                 .num_headers = 2,
                                 .body = std::string_view(body, body_len),
                                 .timeout_ms = timeout_ms};
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_sts_cb, this);  // copies the request at once
  crypto::secure_wipe(body, body_len);
  if (!request_.valid()) fail("AssumeRoleWithWebIdentity %s: the HTTP client has no free request slot", role_arn_);
}

void Provider::on_sts_cb(void* ctx, const http_client::Result& r) { static_cast<Provider*>(ctx)->on_sts_response(r); }

void Provider::on_sts_response(const http_client::Result& r) {
  request_ = {};
  const char* action = source_ == Source::kWebIdentity ? "AssumeRoleWithWebIdentity" : "AssumeRole";
  if (r.error != http_client::Error::kNone) {
    fail("%s %s via %s: %s", action, role_arn_, endpoint_.host,
         r.detail[0] != '\0' ? r.detail : http_client::error_message(r.error));
    return;
  }
  const http_client::Response& resp = *r.response;
  if (resp.status != 200) {
    char msg[400];
    if (!parse_sts_error_xml(resp.body, msg, sizeof msg)) quote_body(resp.body, msg, sizeof msg);
    fail("%s %s via %s: HTTP %d: %s", action, role_arn_, endpoint_.host, resp.status, msg);
    return;
  }
  Creds c{};
  char why[kMaxErrorBytes / 2];
  if (!parse_assume_role_xml(resp.body, c, why, sizeof why)) {
    fail("%s %s via %s: %s", action, role_arn_, endpoint_.host, why);
    return;
  }
  store(c);
  crypto::secure_wipe(&c, sizeof c);
}

}  // namespace appconfig::credentials
