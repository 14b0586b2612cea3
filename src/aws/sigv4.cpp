// sigv4: AWS Signature Version 4 (header mode). See include/appconfig/aws/sigv4.h
// and include/appconfig/aws/sigv4_internal.h. Stage order follows the AWS SigV4
// documentation ("Create a canonical request", "Create a string to sign",
// "Calculate the signature").
#include "appconfig/aws/sigv4.h"

#include <cstdio>
#include <cstring>
#include <ctime>

#include "appconfig/aws/crypto.h"
#include "appconfig/aws/sigv4_internal.h"
#include "appconfig/core/text.h"

namespace appconfig::sigv4 {
namespace internal {
namespace {

using text::lower;

// RFC 3986 §2.3 unreserved characters: the bytes UriEncode keeps.
bool is_unreserved(char c) { return text::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// Whitespace collapsed inside header values: SP and HTAB (RFC 9110 §5.6.3),
// plus CR/LF left over from obs-fold continuation lines (RFC 9112 §5.2).
bool is_header_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Case-insensitive bytewise comparison of header names (after lowercasing).
int compare_names(std::string_view a, std::string_view b) {
  size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    auto ca = static_cast<unsigned char>(lower(a[i]));
    auto cb = static_cast<unsigned char>(lower(b[i]));
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

// A header name must be a non-empty RFC 9110 §5.6.2 token-ish string: we
// reject only what would corrupt the canonical form (controls, space, ':').
bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == ':' || c == ';') return false;
  }
  return true;
}

// Writes a value trimmed, with each inner whitespace run collapsed to one SP.
void put_trimmed(std::string_view v, Writer& w) {
  size_t b = 0, e = v.size();
  while (b < e && is_header_space(v[b])) ++b;
  while (e > b && is_header_space(v[e - 1])) --e;
  bool in_space = false;
  for (size_t i = b; i < e; ++i) {
    if (is_header_space(v[i])) {
      in_space = true;
      continue;
    }
    if (in_space) w.put(' ');
    in_space = false;
    w.put(v[i]);
  }
}

struct Span {
  size_t off, len;
};

}  // namespace

void Writer::put(char c) {
  if (overflow || len >= cap) {
    overflow = true;
    return;
  }
  data[len++] = c;
}

void Writer::put(std::string_view s) {
  if (overflow || s.size() > cap - len) {
    overflow = true;
    return;
  }
  if (!s.empty()) std::memcpy(data + len, s.data(), s.size());
  len += s.size();
}

bool format_amz_date(int64_t unix_time_s, char out[kAmzDateLen]) {
  // 253402300799 = 9999-12-31T23:59:59Z, the last time with four year digits.
  if (unix_time_s < 0 || unix_time_s > 253402300799LL) return false;
  // The calendar is gmtime_r's (include/appconfig/core/calendar.h: formatting stays with it).
  const auto t = static_cast<time_t>(unix_time_s);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return false;
  char tmp[32];
  int n = std::snprintf(tmp, sizeof tmp, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n != static_cast<int>(kAmzDateLen)) return false;
  std::memcpy(out, tmp, kAmzDateLen);
  return true;
}

void uri_encode(std::string_view in, bool keep_slash, Writer& w) {
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(ch) || (keep_slash && c == '/')) {
      w.put(ch);
    } else {
      w.put('%');
      w.put(text::kHexUpper[c >> 4]);
      w.put(text::kHexUpper[c & 0x0f]);
    }
  }
}

bool uri_decode(std::string_view in, Writer& w) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      w.put(in[i]);
      continue;
    }
    if (in.size() - i < 3) return false;  // "%" or "%X" at the end
    int hi = text::hex_value(in[i + 1]);
    int lo = text::hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    w.put(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

void normalize_path(std::string_view path, Writer& w) {
  const size_t start = w.len;
  bool trailing_slash = false;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    bool last = (j == path.size());
    if (seg.empty()) {
      // Repeated '/' collapse; a final empty segment means a trailing slash.
      if (last) trailing_slash = true;
    } else if (seg == ".") {
      if (last) trailing_slash = true;  // "/a/." -> "/a/" (RFC 3986 §5.2.4)
    } else if (seg == "..") {
      if (!w.overflow) {
        size_t k = w.len;
        while (k > start && w.data[k - 1] != '/') --k;
        w.len = (k > start) ? k - 1 : start;
      }
      if (last) trailing_slash = true;
    } else {
      w.put('/');
      w.put(seg);
      trailing_slash = false;
    }
    i = j + 1;
  }
  if (w.len == start || trailing_slash) w.put('/');
}

Error canonical_uri(std::string_view path, bool normalize, Writer& w) {
  if (path.size() > kMaxPathBytes) return Error::kBufferTooSmall;
  if (!normalize) {
    if (path.empty()) {
      w.put('/');
    } else {
      uri_encode(path, true, w);
    }
    return w.overflow ? Error::kBufferTooSmall : Error::kNone;
  }
  char tmp[kMaxPathBytes + 1];
  Writer n(tmp, sizeof tmp);
  normalize_path(path, n);
  if (n.overflow) return Error::kBufferTooSmall;
  uri_encode(n.view(), true, w);
  return w.overflow ? Error::kBufferTooSmall : Error::kNone;
}

Error canonical_query(std::string_view query, Writer& w) {
  char decoded_buf[kMaxCanonicalQueryBytes];
  char scratch_buf[kMaxCanonicalQueryBytes];
  Writer scratch(scratch_buf, sizeof scratch_buf);
  Span keys[kMaxQueryParams];
  Span values[kMaxQueryParams];
  size_t order[kMaxQueryParams];
  size_t n = 0;

  size_t i = 0;
  while (i < query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(i, amp - i);
    i = amp + 1;
    if (pair.empty()) continue;  // "a=1&&b=2": an empty piece names no parameter
    if (n == kMaxQueryParams) return Error::kTooManyHeaders;
    size_t eq = pair.find('=');
    std::string_view raw_key = pair.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    for (int part = 0; part < 2; ++part) {
      Writer dec(decoded_buf, sizeof decoded_buf);
      if (!uri_decode(part == 0 ? raw_key : raw_value, dec)) return Error::kBadRequest;
      if (dec.overflow) return Error::kBufferTooSmall;
      size_t off = scratch.len;
      uri_encode(dec.view(), false, scratch);
      if (scratch.overflow) return Error::kBufferTooSmall;
      (part == 0 ? keys : values)[n] = Span{off, scratch.len - off};
    }
    order[n] = n;
    ++n;
  }
  auto view = [&](const Span& s) { return std::string_view(scratch_buf + s.off, s.len); };
  // Stable insertion sort by (key, value); n is at most kMaxQueryParams.
  for (size_t a = 1; a < n; ++a) {
    size_t cur = order[a];
    size_t b = a;
    while (b > 0) {
      size_t prev = order[b - 1];
      int c = view(keys[prev]).compare(view(keys[cur]));
      if (c == 0) c = view(values[prev]).compare(view(values[cur]));
      if (c <= 0) break;
      order[b] = prev;
      --b;
    }
    order[b] = cur;
  }
  for (size_t a = 0; a < n; ++a) {
    if (a > 0) w.put('&');
    w.put(view(keys[order[a]]));
    w.put('=');
    w.put(view(values[order[a]]));
  }
  return w.overflow ? Error::kBufferTooSmall : Error::kNone;
}

Error canonical_headers(const Header* headers, size_t num_headers, Writer& block,
                        Writer& signed_names) {
  if (num_headers > kMaxSignedHeaders) return Error::kTooManyHeaders;
  size_t order[kMaxSignedHeaders];
  for (size_t i = 0; i < num_headers; ++i) {
    if (!valid_name(headers[i].name)) return Error::kBadRequest;
    order[i] = i;
  }
  // Stable insertion sort by lowercased name, so repeated headers keep their
  // arrival order when joined (suite case get-header-value-order).
  for (size_t a = 1; a < num_headers; ++a) {
    size_t cur = order[a];
    size_t b = a;
    while (b > 0 && compare_names(headers[order[b - 1]].name, headers[cur].name) > 0) {
      order[b] = order[b - 1];
      --b;
    }
    order[b] = cur;
  }
  for (size_t a = 0; a < num_headers;) {
    const Header& first = headers[order[a]];
    if (a > 0) signed_names.put(';');
    for (char c : first.name) {
      block.put(lower(c));
      signed_names.put(lower(c));
    }
    block.put(':');
    size_t b = a;
    while (b < num_headers && compare_names(headers[order[b]].name, first.name) == 0) {
      if (b > a) block.put(',');
      put_trimmed(headers[order[b]].value, block);
      ++b;
    }
    block.put('\n');
    a = b;
  }
  if (block.overflow || signed_names.overflow) return Error::kBufferTooSmall;
  return Error::kNone;
}

Error canonical_request(const CanonicalInput& in, Writer& out, Writer& signed_names) {
  if (in.method.empty()) return Error::kBadRequest;
  out.put(in.method);
  out.put('\n');
  if (Error e = canonical_uri(in.path, in.normalize_path, out); e != Error::kNone) return e;
  out.put('\n');
  if (Error e = canonical_query(in.query, out); e != Error::kNone) return e;
  out.put('\n');
  if (Error e = canonical_headers(in.headers, in.num_headers, out, signed_names); e != Error::kNone)
    return e;
  out.put('\n');
  out.put(signed_names.view());
  out.put('\n');
  out.put(in.payload_hash_hex);
  return out.overflow ? Error::kBufferTooSmall : Error::kNone;
}

Error credential_scope(std::string_view date8, std::string_view region, std::string_view service,
                       Writer& out) {
  // A '/' or whitespace would change the scope's structure.
  for (std::string_view part : {date8, region, service}) {
    if (part.empty()) return Error::kBadRequest;
    for (char c : part) {
      if (c == '/' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Error::kBadRequest;
    }
  }
  out.put(date8);
  out.put('/');
  out.put(region);
  out.put('/');
  out.put(service);
  out.put("/aws4_request");
  return out.overflow ? Error::kBufferTooSmall : Error::kNone;
}

Error string_to_sign(std::string_view amz_date, std::string_view scope,
                     std::string_view canonical_request, Writer& out) {
  uint8_t digest[crypto::kSha256Bytes];
  crypto::sha256(canonical_request, digest);
  char hex[kHexSha256Len];
  crypto::hex_lower(digest, sizeof digest, hex);
  out.put(kAlgorithm);
  out.put('\n');
  out.put(amz_date);
  out.put('\n');
  out.put(scope);
  out.put('\n');
  out.put(std::string_view(hex, sizeof hex));
  return out.overflow ? Error::kBufferTooSmall : Error::kNone;
}

Error derive_signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                         std::string_view service, uint8_t key_out[crypto::kSha256Bytes]) {
  if (secret.empty() || secret.size() > kMaxSecretKeyBytes) return Error::kBadRequest;
  uint8_t k_secret[4 + kMaxSecretKeyBytes];
  std::memcpy(k_secret, "AWS4", 4);
  std::memcpy(k_secret + 4, secret.data(), secret.size());
  uint8_t k_a[crypto::kSha256Bytes];
  uint8_t k_b[crypto::kSha256Bytes];
  crypto::hmac_sha256({k_secret, 4 + secret.size()}, date8, k_a);      // kDate
  crypto::hmac_sha256({k_a, sizeof k_a}, region, k_b);                 // kRegion
  crypto::hmac_sha256({k_b, sizeof k_b}, service, k_a);                // kService
  crypto::hmac_sha256({k_a, sizeof k_a}, std::string_view("aws4_request"), key_out);  // kSigning
  crypto::secure_wipe(k_secret, sizeof k_secret);
  crypto::secure_wipe(k_a, sizeof k_a);
  crypto::secure_wipe(k_b, sizeof k_b);
  return Error::kNone;
}

void signature(const uint8_t signing_key[crypto::kSha256Bytes], std::string_view string_to_sign,
               char hex_out[kHexSha256Len]) {
  uint8_t mac[crypto::kSha256Bytes];
  crypto::hmac_sha256({signing_key, crypto::kSha256Bytes}, string_to_sign, mac);
  crypto::hex_lower(mac, sizeof mac, hex_out);
}

}  // namespace internal

namespace {

using internal::Writer;

constexpr std::string_view kDateHeader = "X-Amz-Date";
constexpr std::string_view kTokenHeader = "X-Amz-Security-Token";
constexpr std::string_view kContentShaHeader = "x-amz-content-sha256";
constexpr std::string_view kAuthorizationHeader = "Authorization";

using text::iequals;

// Sent but never signed: intermediaries add or rewrite these (aws-c-auth's
// skip list keeps the same ones out of the signature).
bool is_unsigned_header(std::string_view name) {
  for (std::string_view n : {"user-agent", "x-amzn-trace-id", "connection", "expect",
                             "transfer-encoding", "upgrade"}) {
    if (iequals(name, n)) return true;
  }
  return false;
}

bool is_signer_header(std::string_view name) {
  return iequals(name, kDateHeader) || iequals(name, kTokenHeader) ||
         iequals(name, kContentShaHeader) || iequals(name, kAuthorizationHeader);
}

// Both keys present, and the key id one token: it is written into "Credential=<id>/<scope>".
bool usable_credentials(const Credentials& creds) {
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) return false;
  for (char c : creds.access_key_id) {
    if (c == '/' || c == ',' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// The caller's headers (minus the skip list) plus ours: X-Amz-Date, the session token unless
// omitted, the body hash when asked. A caller header the signer owns, or no host, is kBadRequest.
Error headers_to_sign(const Request& req, const Credentials& creds, const Params& p, std::string_view amz_date,
                      std::string_view payload_hex, Header (&to_sign)[internal::kMaxSignedHeaders], size_t* count) {
  size_t n = 0;
  bool has_host = false;
  for (size_t i = 0; i < req.num_headers; ++i) {
    const Header& h = req.headers[i];
    if (is_signer_header(h.name)) return Error::kBadRequest;
    if (iequals(h.name, "host")) has_host = true;
    if (is_unsigned_header(h.name)) continue;
    if (n == internal::kMaxSignedHeaders) return Error::kTooManyHeaders;
    to_sign[n++] = h;
  }
  if (!has_host) return Error::kBadRequest;
  const bool sign_token = !creds.session_token.empty() && !p.omit_session_token;
  const size_t ours = 1 + (sign_token ? 1 : 0) + (p.sign_body_header ? 1 : 0);
  if (n + ours > internal::kMaxSignedHeaders) return Error::kTooManyHeaders;
  to_sign[n++] = Header{kDateHeader, amz_date};
  if (sign_token) to_sign[n++] = Header{kTokenHeader, creds.session_token};
  if (p.sign_body_header) to_sign[n++] = Header{kContentShaHeader, payload_hex};
  *count = n;
  return Error::kNone;
}

// Canonical request -> credential scope -> string to sign -> signing key -> signature (hex, into
// sig). scope and signed_names receive what the Authorization value quotes. The canonical request
// (it may hold the session token) and the signing key are wiped.
Error compute_signature(const internal::CanonicalInput& in, std::string_view secret, const Params& p,
                        std::string_view amz_date, Writer& scope, Writer& signed_names,
                        char (&sig)[internal::kHexSha256Len]) {
  const std::string_view date8 = amz_date.substr(0, internal::kDateLen);
  char creq_buf[internal::kMaxCanonicalRequestBytes];
  Writer creq(creq_buf, sizeof creq_buf);
  Error err = internal::canonical_request(in, creq, signed_names);
  if (err == Error::kNone) err = internal::credential_scope(date8, p.region, p.service, scope);
  char sts_buf[internal::kMaxStringToSignBytes];
  Writer sts(sts_buf, sizeof sts_buf);
  if (err == Error::kNone) err = internal::string_to_sign(amz_date, scope.view(), creq.view(), sts);
  crypto::secure_wipe(creq_buf, creq.len);
  if (err != Error::kNone) return err;
  uint8_t key[crypto::kSha256Bytes];
  err = internal::derive_signing_key(secret, date8, p.region, p.service, key);
  if (err == Error::kNone) internal::signature(key, sts.view(), sig);
  crypto::secure_wipe(key, sizeof key);
  return err;
}

// What the added headers are written from.
struct Pieces {
  std::string_view amz_date, payload_hex, scope, signed_names, signature;
};

// Output: the X-Amz-Date value, [the content hash], the Authorization value, into out; result
// views them (and the session token itself) in the order sigv4.h promises.
Error write_result(const Credentials& creds, const Params& p, const Pieces& x, char* out, size_t cap,
                   Signed& result) {
  Writer w(out, cap);
  size_t date_off = w.len;
  w.put(x.amz_date);
  size_t sha_off = w.len;
  if (p.sign_body_header) w.put(x.payload_hex);
  size_t auth_off = w.len;
  w.put(internal::kAlgorithm);
  w.put(" Credential=");
  w.put(creds.access_key_id);
  w.put('/');
  w.put(x.scope);
  w.put(", SignedHeaders=");
  w.put(x.signed_names);
  w.put(", Signature=");
  w.put(x.signature);
  if (w.overflow) return Error::kBufferTooSmall;

  size_t k = 0;
  result.added[k++] = Header{kDateHeader, std::string_view(out + date_off, sha_off - date_off)};
  if (!creds.session_token.empty()) result.added[k++] = Header{kTokenHeader, creds.session_token};
  if (p.sign_body_header)
    result.added[k++] = Header{kContentShaHeader, std::string_view(out + sha_off, auth_off - sha_off)};
  result.added[k++] = Header{kAuthorizationHeader, std::string_view(out + auth_off, w.len - auth_off)};
  result.num_added = k;
  return Error::kNone;
}

}  // namespace

size_t uri_encode(std::string_view in, char* out, size_t cap) {
  Writer w(out, cap);
  internal::uri_encode(in, false, w);
  return w.overflow ? 0 : w.len;
}

const char* error_message(Error e) {
  switch (e) {
    case Error::kNone: return "ok";
    case Error::kBufferTooSmall: return "sigv4: output or internal buffer too small for the request";
    case Error::kBadRequest:
      return "sigv4: request cannot be signed (missing host, bad escape, empty credential, "
             "signer-owned header or time out of range)";
    case Error::kTooManyHeaders: return "sigv4: too many headers or query parameters to sign";
  }
  return "sigv4: unknown error";
}

Error sign(const Request& req, const Credentials& creds, const Params& p, char* out, size_t cap,
           Signed& result) {
  result.num_added = 0;
  if (!usable_credentials(creds)) return Error::kBadRequest;
  if (req.num_headers > 0 && req.headers == nullptr) return Error::kBadRequest;

  char amz_date[internal::kAmzDateLen];
  if (!internal::format_amz_date(p.unix_time_s, amz_date)) return Error::kBadRequest;
  const std::string_view date_view(amz_date, sizeof amz_date);

  uint8_t digest[crypto::kSha256Bytes];
  crypto::sha256(req.body, digest);
  char payload_hex[internal::kHexSha256Len];
  crypto::hex_lower(digest, sizeof digest, payload_hex);
  const std::string_view payload_view(payload_hex, sizeof payload_hex);

  Header to_sign[internal::kMaxSignedHeaders];
  size_t n = 0;
  if (Error e = headers_to_sign(req, creds, p, date_view, payload_view, to_sign, &n); e != Error::kNone) return e;

  char names_buf[internal::kMaxSignedNamesBytes];
  char scope_buf[internal::kMaxScopeBytes];
  Writer names(names_buf, sizeof names_buf);
  Writer scope(scope_buf, sizeof scope_buf);
  const internal::CanonicalInput in{.method = req.method,
                                    .path = req.path,
                                    .query = req.query,
                                    .headers = to_sign,
                                    .num_headers = n,
                                    .payload_hash_hex = payload_view,
                                    .normalize_path = p.normalize_path};
  char sig[internal::kHexSha256Len];
  if (Error e = compute_signature(in, creds.secret_access_key, p, date_view, scope, names, sig); e != Error::kNone)
    return e;
  const Pieces pieces{.amz_date = date_view,
                      .payload_hex = payload_view,
                      .scope = scope.view(),
                      .signed_names = names.view(),
                      .signature = std::string_view(sig, sizeof sig)};
  return write_result(creds, p, pieces, out, cap, result);
}

}  // namespace appconfig::sigv4
