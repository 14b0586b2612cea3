// credentials: see include/appconfig/aws/credentials.h and docs/credentials.md.
#include "appconfig/aws/credentials.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appconfig/aws/crypto.h"
#include "appconfig/aws/sigv4.h"
#include "appconfig/core/calendar.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/text.h"
#include "appconfig/formats/json.h"

namespace appconfig::credentials {
namespace {

// The container endpoint used with AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS, AWS SDKs).
constexpr std::string_view kEcsHost = "169.254.170.2";
// Bytes of a non-2xx answer quoted in an error message when it has no recognisable message.
constexpr size_t kMaxQuotedBodyBytes = 120;
// Random bytes in the default RoleSessionName (hex-encoded: 16 characters).
constexpr size_t kSessionRandomBytes = 8;

bool copy_str(std::string_view v, char* out, size_t cap) {
  if (v.size() >= cap) return false;
  if (!v.empty()) memcpy(out, v.data(), v.size());
  out[v.size()] = '\0';
  return true;
}

// Printable ASCII without spaces: what access keys, secrets and tokens consist of. It also keeps
// CR/LF out of the headers we build from them.
bool visible(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// Copies a body excerpt for an error message with control bytes replaced (the log escapes too,
// but the error text also reaches HTTP responses).
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

// ---- dates

// Exactly n decimal digits at s[pos] (a fixed-width date-time field).
bool digits(std::string_view s, size_t pos, size_t n, uint32_t* v) {
  uint64_t r = 0;
  if (pos + n > s.size() || !text::parse_u64(s.substr(pos, n), &r)) return false;
  *v = static_cast<uint32_t>(r);
  return true;
}

// ---- XML (only what STS produces)

// Decodes XML character data with the five predefined entities and character references
// (XML 1.0 §4.1, §4.6) into out; false on an unknown / malformed entity, a '<' or overflow.
bool xml_decode(std::string_view in, char* out, size_t cap, size_t* out_len) {
  size_t n = 0;
  auto emit = [&](char c) {
    if (n + 1 >= cap) return false;
    out[n++] = c;
    return true;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '<') return false;
    if (c != '&') {
      if (!emit(c)) return false;
      continue;
    }
    size_t semi = in.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) return false;
    std::string_view name = in.substr(i + 1, semi - i - 1);
    i = semi;
    if (name == "amp") {
      if (!emit('&')) return false;
    } else if (name == "lt") {
      if (!emit('<')) return false;
    } else if (name == "gt") {
      if (!emit('>')) return false;
    } else if (name == "quot") {
      if (!emit('"')) return false;
    } else if (name == "apos") {
      if (!emit('\'')) return false;
    } else if (name.size() >= 2 && name[0] == '#') {
      uint32_t cp = 0;
      bool hex = name[1] == 'x';
      std::string_view num = name.substr(hex ? 2 : 1);
      if (num.empty()) return false;
      for (char d : num) {
        const int v = hex ? text::hex_value(d) : (text::is_digit(d) ? d - '0' : -1);
        if (v < 0) return false;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) return false;
      }
      // XML 1.0 §2.2 Char: no NUL, no surrogates.
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      if (cp < 0x80) {
        if (!emit(static_cast<char>(cp))) return false;
      } else if (cp < 0x800) {
        if (!emit(static_cast<char>(0xC0 | (cp >> 6))) || !emit(static_cast<char>(0x80 | (cp & 0x3F)))) return false;
      } else if (cp < 0x10000) {
        if (!emit(static_cast<char>(0xE0 | (cp >> 12))) || !emit(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) ||
            !emit(static_cast<char>(0x80 | (cp & 0x3F))))
          return false;
      } else {
        if (!emit(static_cast<char>(0xF0 | (cp >> 18))) || !emit(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))) ||
            !emit(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) || !emit(static_cast<char>(0x80 | (cp & 0x3F))))
          return false;
      }
    } else {
      return false;
    }
  }
  if (cap == 0) return false;
  out[n] = '\0';
  *out_len = n;
  return true;
}

// The text between <name> and </name> inside `scope` (first occurrence); nullopt-like false
// when absent. The element must be written exactly "<name>" (STS never adds attributes).
bool xml_element(std::string_view scope, std::string_view name, std::string_view* text) {
  char open[48], close[48];
  if (name.size() + 3 >= sizeof close) return false;
  snprintf(open, sizeof open, "<%.*s>", static_cast<int>(name.size()), name.data());
  snprintf(close, sizeof close, "</%.*s>", static_cast<int>(name.size()), name.data());
  size_t a = scope.find(open);
  if (a == std::string_view::npos) return false;
  a += name.size() + 2;
  size_t b = scope.find(close, a);
  if (b == std::string_view::npos) return false;
  *text = scope.substr(a, b - a);
  return true;
}

bool xml_field(std::string_view scope, std::string_view name, char* out, size_t cap, bool required, char* err,
               size_t err_cap) {
  std::string_view text;
  if (!xml_element(scope, name, &text)) {
    out[0] = '\0';
    if (required)
      error::fail(err, err_cap, "the answer has no <%.*s> in <Credentials>", static_cast<int>(name.size()),
                  name.data());
    return !required;
  }
  size_t len = 0;
  if (!xml_decode(text, out, cap, &len)) {
    return error::fail(err, err_cap, "<%.*s> is malformed or longer than %zu bytes", static_cast<int>(name.size()),
                       name.data(), cap - 1);
  }
  return true;
}

bool json_field(std::string_view obj, std::string_view key, char* out, size_t cap, bool required, char* err,
                size_t err_cap) {
  auto v = json::find(obj, key);
  if (!v) {
    out[0] = '\0';
    if (required) error::fail(err, err_cap, "the answer has no \"%.*s\"", static_cast<int>(key.size()), key.data());
    return !required;
  }
  if (json::kind_of(*v) != json::Kind::kString) {
    return error::fail(err, err_cap, "\"%.*s\" is not a string", static_cast<int>(key.size()), key.data());
  }
  long n = json::decode_string(*v, out, cap - 1);
  if (n < 0) {
    return error::fail(err, err_cap, "\"%.*s\" is malformed or longer than %zu bytes", static_cast<int>(key.size()),
                       key.data(), cap - 1);
  }
  out[n] = '\0';
  return true;
}

// Checks the decoded fields are usable in headers and the signer.
bool check_creds(const Creds& c, char* err, size_t cap) {
  if (c.access_key_id[0] == '\0' || !visible(c.access_key_id)) {
    return error::fail(err, cap, "the access key id is empty or has spaces / control characters");
  }
  if (c.secret_access_key[0] == '\0' || !visible(c.secret_access_key)) {
    return error::fail(err, cap, "the secret access key is empty or has spaces / control characters");
  }
  if (!visible(c.session_token)) {
    return error::fail(err, cap, "the session token has spaces / control characters");
  }
  return true;
}

// Reads a token file (re-read at every fetch: EKS rotates it). Trailing whitespace (a final
// newline) is dropped; any other control byte is an error.
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

bool valid_session_name(std::string_view s) {
  if (s.size() < 2 || s.size() > 64) return false;
  for (char c : s) {
    bool ok = text::is_alnum(c) || std::strchr("_+=,.@-", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

uint64_t default_clock(void*) { return loop::wall_ms(); }

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
  size_t n = 0;
  for (;;) {
    char probe;
    // Full: one more byte tells end-of-file from a file that grew after fstat (still bounded).
    const bool full = n + 1 >= cap;
    ssize_t r = full ? read(fd, &probe, 1) : read(fd, out + n, cap - 1 - n);
    if (full && r > 0) {
      close(fd);
      return error::fail(err, err_cap, "%s %s is larger than %zu bytes", what, path, cap - 1);
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      error::fail(err, err_cap, "cannot read %s %s: %s", what, path, strerror(errno));
      close(fd);
      return false;
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  close(fd);
  out[n] = '\0';
  *len = n;
  return true;
}

// ---- decoders

bool parse_iso8601_ms(std::string_view t, uint64_t* epoch_ms) {
  uint32_t y, mo, d, h, mi, s;
  if (!digits(t, 0, 4, &y) || t.size() < 19 || t[4] != '-' || !digits(t, 5, 2, &mo) || t[7] != '-' ||
      !digits(t, 8, 2, &d) || (t[10] != 'T' && t[10] != 't') || !digits(t, 11, 2, &h) || t[13] != ':' ||
      !digits(t, 14, 2, &mi) || t[16] != ':' || !digits(t, 17, 2, &s))
    return false;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > calendar::days_in_month(y, mo)) return false;
  if (h > 23 || mi > 59 || s > 60) return false;  // 60: a leap second, counted as :59 + 1 s
  size_t pos = 19;
  uint64_t frac_ms = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    size_t start = pos;
    uint64_t scale = 100;
    while (pos < t.size() && text::is_digit(t[pos])) {
      frac_ms += static_cast<uint64_t>(t[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return false;
  }
  int64_t offset_s = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    uint32_t oh, om;
    if (!digits(t, pos + 1, 2, &oh) || pos + 3 >= t.size() || t[pos + 3] != ':' || !digits(t, pos + 4, 2, &om) ||
        oh > 23 || om > 59)
      return false;
    offset_s = static_cast<int64_t>(oh * 3600 + om * 60) * (t[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != t.size()) return false;
  int64_t secs = calendar::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
  if (secs < 0) return false;
  *epoch_ms = static_cast<uint64_t>(secs) * 1000 + frac_ms;
  return true;
}

size_t form_encode(std::string_view in, char* out, size_t cap) {
  if (cap == 0) return 0;
  const size_t n = sigv4::uri_encode(in, out, cap - 1);  // the same byte set; one byte kept for the NUL
  out[n] = '\0';
  return n;
}

bool parse_container_json(std::string_view body, Creds& out, char* err, size_t cap) {
  json::ValidateResult v = json::validate(body);
  if (v.error != json::Error::kNone) {
    return error::fail(err, cap, "the answer is not valid JSON (%s at byte %zu)", json::error_message(v.error),
                       v.offset);
  }
  if (json::kind_of(body) != json::Kind::kObject) {
    return error::fail(err, cap, "the answer is not a JSON object");
  }
  Creds c{};
  char expiration[64];
  bool ok = json_field(body, "AccessKeyId", c.access_key_id, sizeof c.access_key_id, true, err, cap) &&
            json_field(body, "SecretAccessKey", c.secret_access_key, sizeof c.secret_access_key, true, err, cap) &&
            json_field(body, "Token", c.session_token, sizeof c.session_token, false, err, cap) &&
            json_field(body, "Expiration", expiration, sizeof expiration, false, err, cap) &&
            check_creds(c, err, cap);
  if (ok && expiration[0] != '\0' && !parse_iso8601_ms(expiration, &c.expires_epoch_ms)) {
    error::fail(err, cap, "\"Expiration\" is not an ISO 8601 date-time: \"%s\"", expiration);
    ok = false;
  }
  if (ok) out = c;
  crypto::secure_wipe(&c, sizeof c);
  return ok;
}

bool parse_assume_role_xml(std::string_view body, Creds& out, char* err, size_t cap) {
  std::string_view scope;
  if (!xml_element(body, "Credentials", &scope)) {
    return error::fail(err, cap, "the answer has no <Credentials> element");
  }
  Creds c{};
  char expiration[64];
  bool ok = xml_field(scope, "AccessKeyId", c.access_key_id, sizeof c.access_key_id, true, err, cap) &&
            xml_field(scope, "SecretAccessKey", c.secret_access_key, sizeof c.secret_access_key, true, err, cap) &&
            xml_field(scope, "SessionToken", c.session_token, sizeof c.session_token, true, err, cap) &&
            xml_field(scope, "Expiration", expiration, sizeof expiration, true, err, cap) && check_creds(c, err, cap);
  if (ok && !parse_iso8601_ms(expiration, &c.expires_epoch_ms)) {
    error::fail(err, cap, "<Expiration> is not an ISO 8601 date-time: \"%s\"", expiration);
    ok = false;
  }
  if (ok) out = c;
  crypto::secure_wipe(&c, sizeof c);
  return ok;
}

bool parse_sts_error_xml(std::string_view body, char* out, size_t cap) {
  std::string_view scope;
  if (cap == 0 || !xml_element(body, "Error", &scope)) return false;
  char code[128] = "", message[384] = "";
  std::string_view t;
  size_t len = 0;
  if (xml_element(scope, "Code", &t) && !xml_decode(t, code, sizeof code, &len)) quote_body(t, code, sizeof code);
  if (xml_element(scope, "Message", &t) && !xml_decode(t, message, sizeof message, &len))
    quote_body(t, message, sizeof message);
  // Decoded text may hold control characters from &#10; etc.: keep the error one line.
  for (char* p = message; *p != '\0'; ++p)
    if (static_cast<unsigned char>(*p) < 0x20) *p = ' ';
  for (char* p = code; *p != '\0'; ++p)
    if (static_cast<unsigned char>(*p) < 0x20) *p = ' ';
  if (code[0] == '\0' && message[0] == '\0') return false;
  if (code[0] != '\0' && message[0] != '\0') snprintf(out, cap, "%s: %s", code, message);
  else snprintf(out, cap, "%s", code[0] != '\0' ? code : message);
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

bool Provider::init_assume_role(loop::Loop* lp, http_client::Client* client, Provider* base,
                                std::string_view role_arn, std::string_view external_id,
                                std::string_view session_name, uint32_t duration_s, const endpoints::Endpoint& sts,
                                char* err, size_t cap) {
  loop_ = lp;
  client_ = client;
  if (base == nullptr || base == this) {
    return error::fail(err, cap, "AssumeRole needs a base credentials provider");
  }
  if (role_arn.size() < 20 || role_arn.size() > 2048 || role_arn.substr(0, 4) != "arn:" || !visible(role_arn)) {
    return error::fail(err, cap,
                       "role ARN \"%.*s\" is not valid: arn:aws:iam::123456789012:role/Name, 20 to 2048 characters",
                       static_cast<int>(role_arn.size() < 200 ? role_arn.size() : 200), role_arn.data());
  }
  if (!external_id.empty() && (external_id.size() < 2 || external_id.size() > 1224 || !visible(external_id))) {
    return error::fail(err, cap, "role external ID (value hidden) must be 2 to 1224 visible characters");
  }
  char name[65];
  if (session_name.empty()) {
    session_name = default_session_name(name);
  } else if (!valid_session_name(session_name)) {
    return error::fail(err, cap, "role session name \"%.*s\" is not valid: 2 to 64 of letters, digits and _+=,.@-",
                       static_cast<int>(session_name.size() < 64 ? session_name.size() : 64), session_name.data());
  }
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
  http_client::Request req{};
  req.method = "GET";
  req.target = target_;
  req.headers = headers;
  req.num_headers = nh;
  req.timeout_ms = timeout_ms;
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_container_cb, this);
  if (token == file_token) crypto::secure_wipe(file_token, sizeof file_token);
  if (!request_.valid()) fail("container credentials: the HTTP client has no free request slot");
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
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  char path[endpoints::kMaxBasePathBytes + 2];
  snprintf(path, sizeof path, "%s/", endpoint_.base_path);
  constexpr std::string_view kContentType = "application/x-www-form-urlencoded; charset=utf-8";
  sigv4::Header sh[2] = {{"Host", host}, {"Content-Type", kContentType}};
  sigv4::Request sreq{"POST", path, "", sh, 2, std::string_view(form_, form_len_)};
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
  headers[nh++] = {"Host", host};
  headers[nh++] = {"Content-Type", kContentType};
  for (size_t i = 0; i < signed_headers.num_added; ++i)
    headers[nh++] = {signed_headers.added[i].name, signed_headers.added[i].value};
  http_client::Request req{};
  req.method = "POST";
  req.target = path;
  req.headers = headers;
  req.num_headers = nh;
  req.body = std::string_view(form_, form_len_);
  req.timeout_ms = fetch_timeout_ms_;
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_sts_cb, this);
  crypto::secure_wipe(sig_buf, sizeof sig_buf);
  if (!request_.valid()) fail("AssumeRole %s: the HTTP client has no free request slot", role_arn_);
}

void Provider::on_container_cb(void* ctx, const http_client::Result& r) {
  static_cast<Provider*>(ctx)->on_container_response(r);
}
void Provider::on_sts_cb(void* ctx, const http_client::Result& r) { static_cast<Provider*>(ctx)->on_sts_response(r); }

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
            for (long i = 0; i < n; ++i)
              if (static_cast<unsigned char>(msg[i]) < 0x20) msg[i] = ' ';
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


// ---- IMDS

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
  http_client::Request req{};
  req.method = "PUT";
  req.target = target;
  req.headers = headers;
  req.num_headers = 2;
  uint64_t left = remaining_ms();
  req.timeout_ms = left < kImdsRequestTimeoutMs ? (left == 0 ? 1 : left) : kImdsRequestTimeoutMs;
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Imds::on_token_cb, this);
  if (!request_.valid()) finish({}, "the HTTP client has no free request slot");
}

void Imds::send_get() {
  step_ = Step::kGet;
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  http_client::Header headers[2] = {{"Host", host}, {"X-aws-ec2-metadata-token", token_}};
  http_client::Request req{};
  req.method = "GET";
  req.target = path_;
  req.headers = headers;
  req.num_headers = v1_ ? 1 : 2;
  uint64_t left = remaining_ms();
  req.timeout_ms = left < kImdsRequestTimeoutMs ? (left == 0 ? 1 : left) : kImdsRequestTimeoutMs;
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

// ---- more Provider sources

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
  if (role_arn.size() < 20 || role_arn.size() > 2048 || role_arn.substr(0, 4) != "arn:" || !visible(role_arn)) {
    return error::fail(err, cap,
                       "role ARN \"%.*s\" is not valid: arn:aws:iam::123456789012:role/Name, 20 to 2048 characters",
                       static_cast<int>(role_arn.size() < 200 ? role_arn.size() : 200), role_arn.data());
  }
  char name[65];
  if (session_name.empty()) {
    session_name = default_session_name(name);
  } else if (!valid_session_name(session_name)) {
    return error::fail(err, cap, "role session name \"%.*s\" is not valid: 2 to 64 of letters, digits and _+=,.@-",
                       static_cast<int>(session_name.size() < 64 ? session_name.size() : 64), session_name.data());
  }
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

bool Provider::init_imds(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err,
                         size_t cap) {
  loop_ = lp;
  client_ = client;
  if (!imds_.init(lp, client, s, err, cap)) return false;
  source_ = Source::kImds;
  return true;
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
  char host[endpoints::kMaxHostBytes + 8];
  endpoints::host_header(endpoint_, host, sizeof host);
  char path[endpoints::kMaxBasePathBytes + 2];
  snprintf(path, sizeof path, "%s/", endpoint_.base_path);
  // Unsigned: the token is the proof (STS API reference, AssumeRoleWithWebIdentity).
  http_client::Header headers[2] = {{"Host", host}, {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  http_client::Request req{};
  req.method = "POST";
  req.target = path;
  req.headers = headers;
  req.num_headers = 2;
  req.body = std::string_view(body, body_len);
  req.timeout_ms = timeout_ms;
  const http_client::Endpoint ep{.host = endpoint_.host, .port = endpoint_.port, .tls = endpoint_.tls};
  request_ = client_->send(ep, req, &Provider::on_sts_cb, this);  // copies the request at once
  crypto::secure_wipe(body, body_len);
  if (!request_.valid()) fail("AssumeRoleWithWebIdentity %s: the HTTP client has no free request slot", role_arn_);
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
        for (char* c = text; *c != '\0'; ++c)
          if (static_cast<unsigned char>(*c) < 0x20) *c = ' ';
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

// ---- shared files

namespace {

// Blanks around names and values in the shared files: SP, HTAB, and the CR of CRLF lines.
constexpr std::string_view kIniSpace = " \t\r";

bool section_matches(std::string_view header, SharedFile kind, std::string_view profile) {
  header = text::trim(header, kIniSpace);
  if (kind == SharedFile::kCredentials) return header == profile;
  if (header == "default") return profile == "default";
  constexpr std::string_view kProfile = "profile";
  if (header.size() > kProfile.size() && header.substr(0, kProfile.size()) == kProfile &&
      (header[kProfile.size()] == ' ' || header[kProfile.size()] == '\t'))
    return text::trim(header.substr(kProfile.size()), kIniSpace) == profile;
  return false;
}

// Calls fn(key, value) for every assignment in `profile`'s sections; fn returns false to stop.
// Also reports whether a section was found.
template <typename Fn>
bool scan_profile(std::string_view file, SharedFile kind, std::string_view profile, Fn fn) {
  bool found = false, in = false;
  size_t pos = 0;
  while (pos < file.size()) {
    size_t nl = file.find('\n', pos);
    std::string_view line = file.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? file.size() : nl + 1;
    if (line.empty()) continue;
    // Indented lines continue a nested block ("s3 =\n  max_concurrent_requests = 20"): ignored.
    if (line.front() == ' ' || line.front() == '\t') continue;
    std::string_view t = text::trim(line, kIniSpace);
    if (t.empty() || t.front() == '#' || t.front() == ';') continue;
    if (t.front() == '[') {
      size_t close = t.find(']');
      in = close != std::string_view::npos && section_matches(t.substr(1, close - 1), kind, profile);
      found = found || in;
      continue;
    }
    if (!in) continue;
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) continue;
    if (!fn(text::trim(t.substr(0, eq), kIniSpace), text::trim(t.substr(eq + 1), kIniSpace))) break;
  }
  return found;
}

}  // namespace

bool profile_exists(std::string_view file, SharedFile kind, std::string_view profile) {
  return scan_profile(file, kind, profile, [](std::string_view, std::string_view) { return true; });
}

bool profile_value(std::string_view file, SharedFile kind, std::string_view profile, std::string_view key,
                   std::string_view* value) {
  bool have = false;
  scan_profile(file, kind, profile, [&](std::string_view k, std::string_view v) {
    if (text::iequals(k, key)) {
      *value = v;
      have = true;
    }
    return true;
  });
  return have;
}

namespace {

// $HOME/.aws/<name>, or the variable's value with a leading "~/" expanded. false: no path (no HOME).
bool shared_path(std::string_view configured, std::string_view home, const char* default_name, char* out, size_t cap) {
  if (!configured.empty()) {
    if (configured.size() >= 2 && configured[0] == '~' && configured[1] == '/') {
      if (home.empty()) return false;
      return snprintf(out, cap, "%.*s%.*s", static_cast<int>(home.size()), home.data(),
                      static_cast<int>(configured.size() - 1), configured.data() + 1) < static_cast<int>(cap);
    }
    return snprintf(out, cap, "%.*s", static_cast<int>(configured.size()), configured.data()) < static_cast<int>(cap);
  }
  if (home.empty()) return false;
  return snprintf(out, cap, "%.*s/.aws/%s", static_cast<int>(home.size()), home.data(), default_name) <
         static_cast<int>(cap);
}

// Reads a shared file; a missing one (or no path at all) is empty, not an error.
bool load_shared(const char* path, const char* what, char* buf, size_t* len, char* err, size_t cap) {
  *len = 0;
  buf[0] = '\0';
  if (path[0] == '\0') return true;
  bool missing = false;
  if (read_small_file(path, what, buf, kMaxSharedFileBytes, len, &missing, err, cap)) return true;
  *len = 0;
  return missing;
}

}  // namespace

bool profile_region(const settings::Settings& s, char* buf, char* out, size_t cap, char* err, size_t err_cap) {
  out[0] = '\0';
  char path[4200] = "";
  if (!shared_path(s.config_file, s.home, "config", path, sizeof path)) path[0] = '\0';
  size_t len = 0;
  if (!load_shared(path, "AWS_CONFIG_FILE", buf, &len, err, err_cap)) return false;
  std::string_view profile = s.profile.empty() ? std::string_view("default") : s.profile;
  std::string_view v;
  bool ok = true;
  if (profile_value(std::string_view(buf, len), SharedFile::kConfig, profile, "region", &v) && !v.empty()) {
    bool valid = v.size() <= endpoints::kMaxRegionBytes && v.front() >= 'a' && v.front() <= 'z' && v.back() != '-';
    for (char c : v) valid = valid && ((c >= 'a' && c <= 'z') || text::is_digit(c) || c == '-');
    if (!valid) {
      error::fail(err, err_cap, "profile %.*s in %s has region \"%.*s\": not a valid AWS region (us-east-1)",
                  static_cast<int>(profile.size()), profile.data(), path,
                  static_cast<int>(v.size() < 40 ? v.size() : 40), v.data());
      ok = false;
    } else {
      copy_str(v, out, cap);
    }
  }
  crypto::secure_wipe(buf, len);
  return ok;
}

// ---- Chain

Provider* Chain::add() { return used_ < kMaxChainProviders ? &providers_[used_++] : nullptr; }

bool Chain::init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap) {
  used_ = 0;
  description_[0] = '\0';
  // 1. Environment keys (a partial pair is an error there).
  if (!s.access_key_id.empty() || !s.secret_access_key.empty()) {
    if (!add()->init_from_settings(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "environment (AWS_ACCESS_KEY_ID)");
    return true;
  }
  // 2. Web identity (EKS IRSA). AWS_ROLE_ARN alone is left alone (other tools read it); a token
  // file without a role is a mistake (aws-sdk-go-v2 refuses it too).
  if (!s.web_identity_token_file.empty()) {
    if (s.aws_role_arn.empty()) {
      return error::fail(
          err, cap, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: both are needed for web identity");
    }
    endpoints::Endpoint sts;
    if (!endpoints::sts(s, sts, err, cap)) return false;
    if (!add()->init_web_identity(lp, client, s.web_identity_token_file, s.aws_role_arn, s.aws_role_session_name, sts,
                                  err, cap))
      return false;
    snprintf(description_, sizeof description_, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, role %.*s)",
             static_cast<int>(s.aws_role_arn.size() < 300 ? s.aws_role_arn.size() : 300), s.aws_role_arn.data());
    return true;
  }
  // 3. Shared files.
  char cred_path[4200] = "", config_path[4200] = "";
  if (!shared_path(s.shared_credentials_file, s.home, "credentials", cred_path, sizeof cred_path)) cred_path[0] = '\0';
  if (!shared_path(s.config_file, s.home, "config", config_path, sizeof config_path)) config_path[0] = '\0';
  if (!load_shared(cred_path, "AWS_SHARED_CREDENTIALS_FILE", credentials_file_, &credentials_len_, err, cap) ||
      !load_shared(config_path, "AWS_CONFIG_FILE", config_file_, &config_len_, err, cap)) {
    crypto::secure_wipe(credentials_file_, credentials_len_ + 1);
    return false;
  }
  std::string_view name = s.profile.empty() ? std::string_view("default") : s.profile;
  std::string_view cf(credentials_file_, credentials_len_), kf(config_file_, config_len_);
  bool exists = profile_exists(cf, SharedFile::kCredentials, name) || profile_exists(kf, SharedFile::kConfig, name);
  bool has_credentials = false;
  for (const char* key : {"aws_access_key_id", "aws_secret_access_key", "role_arn", "credential_process",
                          "sso_start_url", "sso_session", "credential_source", "source_profile",
                          "web_identity_token_file"}) {
    std::string_view v;
    has_credentials = has_credentials || profile_value(cf, SharedFile::kCredentials, name, key, &v) ||
                      profile_value(kf, SharedFile::kConfig, name, key, &v);
  }
  bool ok = true, chosen = false;
  if (exists && has_credentials) {
    Provider* top = nullptr;
    int n = snprintf(description_, sizeof description_, "shared profile %.*s", static_cast<int>(name.size()),
                     name.data());
    (void)n;
    ok = from_profile(lp, client, s, name, 0, &top, err, cap);
    chosen = ok;
  } else if (s.profile_explicit && !exists) {
    error::fail(err, cap, "AWS_PROFILE=%.*s: no such profile in %s or %s", static_cast<int>(name.size()), name.data(),
                cred_path[0] != '\0' ? cred_path : "(no credentials file)",
                config_path[0] != '\0' ? config_path : "(no config file)");
    ok = false;
  }
  crypto::secure_wipe(credentials_file_, credentials_len_ + 1);
  crypto::secure_wipe(config_file_, config_len_ + 1);
  credentials_len_ = config_len_ = 0;
  if (!ok || chosen) return ok;
  // 4. Container endpoint.
  if (!s.container_credentials_full_uri.empty() || !s.container_credentials_relative_uri.empty()) {
    if (!add()->init_container(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "container endpoint (%s)",
             s.container_credentials_full_uri.empty() ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                                                      : "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    return true;
  }
  // 5. Instance metadata: the agent only (Lambda has none).
  if (s.mode == settings::Mode::kAgent && !s.ec2_metadata_disabled) {
    Provider* p = add();
    if (!p->init_imds(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "instance metadata (IMDS at %s)", p->imds_where());
    return true;
  }
  add()->init_from_settings(lp, client, s, err, cap);  // source none: get() reports it
  snprintf(description_, sizeof description_, "none");
  return true;
}

bool Chain::from_profile(loop::Loop* lp, http_client::Client* client, const settings::Settings& s,
                         std::string_view name, size_t depth, Provider** out, char* err, size_t cap) {
  std::string_view cf(credentials_file_, credentials_len_), kf(config_file_, config_len_);
  const int nl = static_cast<int>(name.size() < 128 ? name.size() : 128);
  if (depth > kMaxProfileChainDepth) {
    return error::fail(err, cap, "profile %.*s: the role chain is longer than %zu source_profile hops (a cycle?)", nl,
                       name.data(), kMaxProfileChainDepth);
  }
  if (!profile_exists(cf, SharedFile::kCredentials, name) && !profile_exists(kf, SharedFile::kConfig, name)) {
    return error::fail(err, cap,
                       "profile %.*s (a source_profile) does not exist in the shared credentials or config file", nl,
                       name.data());
  }
  auto get = [&](const char* key, std::string_view* v) {
    return profile_value(cf, SharedFile::kCredentials, name, key, v) || profile_value(kf, SharedFile::kConfig, name, key, v);
  };
  auto append = [&](const char* fmt, std::string_view a) {
    size_t len = strlen(description_);
    if (len < sizeof description_)
      snprintf(description_ + len, sizeof description_ - len, fmt, static_cast<int>(a.size() < 200 ? a.size() : 200),
               a.data());
  };
  std::string_view role_arn, source_profile, credential_source, token_file, key, secret, token, v;
  get("role_arn", &role_arn);
  get("source_profile", &source_profile);
  get("credential_source", &credential_source);
  get("web_identity_token_file", &token_file);
  get("aws_access_key_id", &key);
  get("aws_secret_access_key", &secret);
  get("aws_session_token", &token);
  std::string_view session_name, external_id, duration;
  get("role_session_name", &session_name);
  get("external_id", &external_id);
  get("duration_seconds", &duration);
  const bool has_static = !key.empty() && !secret.empty();
  if (!role_arn.empty()) {
    endpoints::Endpoint sts;
    if (!endpoints::sts(s, sts, err, cap)) return false;
    Provider* base = nullptr;
    if (!source_profile.empty() && !credential_source.empty()) {
      return error::fail(err, cap, "profile %.*s sets both source_profile and credential_source: keep one", nl,
                         name.data());
    }
    if (!source_profile.empty()) {
      if (source_profile == name && has_static) {
        // A profile may assume a role with its own keys (botocore allows this one self-reference).
        Creds c{};
        if (!copy_str(key, c.access_key_id, sizeof c.access_key_id) ||
            !copy_str(secret, c.secret_access_key, sizeof c.secret_access_key) ||
            !copy_str(token, c.session_token, sizeof c.session_token) || !check_creds(c, err, cap)) {
          crypto::secure_wipe(&c, sizeof c);
          return error::fail(err, cap,
                             "profile %.*s: aws_access_key_id / aws_secret_access_key are too long or not printable",
                             nl, name.data());
        }
        base = add();
        if (base == nullptr) {
          crypto::secure_wipe(&c, sizeof c);
          return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
        }
        base->init_static(lp, client, c, Source::kProfile);
        crypto::secure_wipe(&c, sizeof c);
        append(" (static keys of %.*s)", name);
      } else {
        if (!from_profile(lp, client, s, source_profile, depth + 1, &base, err, cap)) return false;
      }
    } else if (!credential_source.empty()) {
      base = add();
      if (base == nullptr) {
        return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
      }
      if (credential_source == "Environment") {
        if (s.access_key_id.empty() || !base->init_from_settings(lp, client, s, err, cap)) {
          if (s.access_key_id.empty())
            error::fail(err, cap, "profile %.*s: credential_source = Environment but AWS_ACCESS_KEY_ID is not set", nl,
                        name.data());
          return false;
        }
      } else if (credential_source == "EcsContainer") {
        if (!base->init_container(lp, client, s, err, cap)) {
          if (err != nullptr && cap > 0 && err[0] == '\0')
            error::fail(err, cap,
                        "profile %.*s: credential_source = EcsContainer but no AWS_CONTAINER_CREDENTIALS_* is set", nl,
                        name.data());
          return false;
        }
      } else if (credential_source == "Ec2InstanceMetadata") {
        if (!base->init_imds(lp, client, s, err, cap)) return false;
      } else {
        return error::fail(
            err, cap,
            "profile %.*s: credential_source \"%.*s\" is not one of Environment, EcsContainer, Ec2InstanceMetadata", nl,
            name.data(), static_cast<int>(credential_source.size() < 40 ? credential_source.size() : 40),
            credential_source.data());
      }
      append(" (credential_source %.*s)", credential_source);
    } else if (!token_file.empty()) {
      Provider* p = add();
      if (p == nullptr) {
        return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
      }
      if (!p->init_web_identity(lp, client, token_file, role_arn, session_name, sts, err, cap)) return false;
      append(" -> web identity %.*s", role_arn);
      *out = p;
      return true;
    } else {
      return error::fail(
          err, cap, "profile %.*s has role_arn but no source_profile, credential_source or web_identity_token_file", nl,
          name.data());
    }
    uint32_t duration_s = 0;
    if (!duration.empty()) {
      uint64_t d = 0;
      if (duration.size() > 6 || !text::parse_u64(duration, &d) || d < kMinDurationS || d > kMaxDurationS) {
        return error::fail(err, cap, "profile %.*s: duration_seconds must be %u to %u", nl, name.data(), kMinDurationS,
                           kMaxDurationS);
      }
      duration_s = static_cast<uint32_t>(d);
    }
    Provider* p = add();
    if (p == nullptr) {
      return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
    }
    char why[kMaxErrorBytes];
    if (!p->init_assume_role(lp, client, base, role_arn, external_id, session_name, duration_s, sts, why, sizeof why)) {
      return error::fail(err, cap, "profile %.*s: %s", nl, name.data(), why);
    }
    append(" -> AssumeRole %.*s", role_arn);
    *out = p;
    return true;
  }
  if (has_static) {
    Creds c{};
    if (!copy_str(key, c.access_key_id, sizeof c.access_key_id) ||
        !copy_str(secret, c.secret_access_key, sizeof c.secret_access_key) ||
        !copy_str(token, c.session_token, sizeof c.session_token) || !check_creds(c, err, cap)) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(
          err, cap,
          "profile %.*s: aws_access_key_id / aws_secret_access_key / aws_session_token are too long or not "
          "printable",
          nl, name.data());
    }
    Provider* p = add();
    if (p == nullptr) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
    }
    p->init_static(lp, client, c, Source::kProfile);
    crypto::secure_wipe(&c, sizeof c);
    append(depth == 0 ? " (static keys)" : " (static keys of %.*s)", name);
    *out = p;
    return true;
  }
  if (!key.empty() || !secret.empty()) {
    return error::fail(err, cap, "profile %.*s has only one of aws_access_key_id and aws_secret_access_key", nl,
                       name.data());
  }
  if (get("credential_process", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s uses credential_process, which is not supported (running a program would block the agent): "
        "use a role, static keys or web identity",
        nl, name.data());
  }
  if (get("sso_start_url", &v) || get("sso_session", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s is an IAM Identity Center (SSO) profile, which is not supported: run `aws configure "
        "export-credentials` or use a role",
        nl, name.data());
  }
  return error::fail(err, cap, "profile %.*s has no credentials (aws_access_key_id, role_arn, ...)", nl, name.data());
}

}  // namespace appconfig::credentials
