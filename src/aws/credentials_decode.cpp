// credentials_decode: the answers of the credential sources, decoded (container / IMDS JSON, STS
// XML, ISO 8601 expirations) and the STS form encoding. See include/appconfig/aws/credentials.h.
#include <cstdio>
#include <cstring>

#include "appconfig/aws/credentials.h"
#include "appconfig/aws/credentials_internal.h"
#include "appconfig/aws/crypto.h"
#include "appconfig/aws/sigv4.h"
#include "appconfig/core/calendar.h"
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"
#include "appconfig/core/utf8.h"
#include "appconfig/formats/json.h"

namespace appconfig::credentials {

using internal::quote_body;
using internal::visible;

namespace internal {

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

}  // namespace internal

using internal::check_creds;

namespace {

// ---- dates

// Exactly n decimal digits at s[pos] (a fixed-width date-time field).
bool digits(std::string_view s, size_t pos, size_t n, uint32_t* v) {
  uint64_t r = 0;
  if (pos + n > s.size() || !text::parse_u64(s.substr(pos, n), &r)) return false;
  *v = static_cast<uint32_t>(r);
  return true;
}

// ---- XML (only what STS produces)

// The five predefined entities (XML 1.0 §4.6); char arrays keep the table free of relocations.
struct PredefinedEntity {
  char name[5];
  char c;
};
constexpr PredefinedEntity kPredefinedEntities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};

// The code point of a character reference ("#N" or "#xH", XML 1.0 §4.1), when it is a Char
// (§2.2: no NUL, no surrogates, at most U+10FFFF); 0 when it is malformed or not a Char.
uint32_t char_ref(std::string_view ref) {
  const bool hex = ref[1] == 'x';
  std::string_view num = ref.substr(hex ? 2 : 1);
  if (num.empty()) return 0;
  uint32_t cp = 0;
  for (char d : num) {
    const int v = hex ? text::hex_value(d) : (text::is_digit(d) ? d - '0' : -1);
    if (v < 0) return 0;
    cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
    if (cp > 0x10FFFF) return 0;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return cp;
}

// What the reference between '&' and ';' stands for, as UTF-8 in out[4]; 0 when unknown.
size_t decode_reference(std::string_view name, char* out) {
  for (const PredefinedEntity& e : kPredefinedEntities) {
    if (name == std::string_view(e.name)) {
      out[0] = e.c;
      return 1;
    }
  }
  if (name.size() < 2 || name[0] != '#') return 0;
  const uint32_t cp = char_ref(name);
  return cp == 0 ? 0 : utf8::encode(cp, out);
}

// Decodes XML character data with the five predefined entities and character references
// (XML 1.0 §4.1, §4.6) into out; false on an unknown / malformed entity, a '<' or overflow.
bool xml_decode(std::string_view in, char* out, size_t cap, size_t* out_len) {
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '<') return false;
    char bytes[4] = {in[i]};
    size_t len = 1;
    if (in[i] == '&') {
      size_t semi = in.find(';', i + 1);
      if (semi == std::string_view::npos || semi - i > 12) return false;
      len = decode_reference(in.substr(i + 1, semi - i - 1), bytes);
      if (len == 0) return false;
      i = semi;
    }
    if (n + len >= cap) return false;  // and room for the NUL
    memcpy(out + n, bytes, len);
    n += len;
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

}  // namespace

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
  internal::blank_controls(message, strlen(message));
  internal::blank_controls(code, strlen(code));
  if (code[0] == '\0' && message[0] == '\0') return false;
  if (code[0] != '\0' && message[0] != '\0') snprintf(out, cap, "%s: %s", code, message);
  else snprintf(out, cap, "%s", code[0] != '\0' ? code : message);
  return true;
}

}  // namespace appconfig::credentials
