// sigv4_internal: the stages of SigV4 signing, exposed for tests only.
//
// Each stage writes into a caller buffer and reports kBufferTooSmall on
// overflow; none allocates. sign() in sigv4.h composes them. Tests compare
// each stage with the AWS test suites (test/data/sigv4), so the stages are
// also enough to build a presigned (query-mode) request: put the X-Amz-*
// parameters into the query and leave the X-Amz-Date header out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/aws/crypto.h"
#include "appconfig/aws/sigv4.h"

namespace appconfig::sigv4::internal {

// Headers signed per request: AppConfig requests carry about six; the largest
// suite case carries five plus the signer's four. 32 leaves room for callers
// adding their own without a dynamic array.
constexpr size_t kMaxSignedHeaders = 32;
// Query parameters: AppConfig uses one; the suites at most three.
constexpr size_t kMaxQueryParams = 32;
// Canonical request: session tokens (~1-2 KiB) and AppConfig configuration
// tokens (~1 KiB, percent-encoded grows it up to 3x) dominate; 16 KiB is
// several times the largest we expect and still a modest stack frame.
constexpr size_t kMaxCanonicalRequestBytes = 16 * 1024;
// Scratch for decoded+re-encoded query keys and values (same reasoning).
constexpr size_t kMaxCanonicalQueryBytes = 8 * 1024;
// Request path before encoding: AppConfig paths are short fixed strings; 4 KiB
// is far beyond any AWS API path and bounds the normalisation scratch.
constexpr size_t kMaxPathBytes = 4096;
// SignedHeaders list: kMaxSignedHeaders names of typical length (< 64 bytes).
constexpr size_t kMaxSignedNamesBytes = 2048;
// String to sign: algorithm, date, scope and a hex digest, plus newlines.
constexpr size_t kMaxStringToSignBytes = 256;
// AWS secret access keys are 40 characters; allow generous headroom.
constexpr size_t kMaxSecretKeyBytes = 128;
// "YYYYMMDDTHHMMSSZ" (ISO 8601 basic format, the X-Amz-Date header).
constexpr size_t kAmzDateLen = 16;
// "YYYYMMDD", the date part of the credential scope.
constexpr size_t kDateLen = 8;
// Lowercase hex of a SHA-256 digest.
constexpr size_t kHexSha256Len = 64;
// Credential scope "<date>/<region>/<service>/aws4_request"; region and
// service names are short identifiers (longest regions ~ 20 bytes).
constexpr size_t kMaxScopeBytes = 128;
// The algorithm name for HMAC-SHA256 SigV4.
constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// A bounded append-only buffer. Overflow is sticky: once set, nothing more is
// written, and the stage reports kBufferTooSmall.
struct Writer {
  char* data;
  size_t cap;
  size_t len = 0;
  bool overflow = false;

  Writer(char* d, size_t c) : data(d), cap(c) {}
  void put(char c);
  void put(std::string_view s);
  std::string_view view() const { return {data, len}; }
};

// Formats unix_time_s as "YYYYMMDDTHHMMSSZ" (UTC). False for times before
// 1970 or after 9999-12-31 (the format has four year digits).
bool format_amz_date(int64_t unix_time_s, char out[kAmzDateLen]);

// Percent-encodes every byte except A-Z a-z 0-9 - . _ ~ (RFC 3986 §2.3
// unreserved), and '/' too when keep_slash is set; uppercase hex (§2.1).
void uri_encode(std::string_view in, bool keep_slash, Writer& w);

// Decodes %XX escapes ('+' stays '+': SigV4 query strings are not form
// encoding). False on a truncated or non-hex escape.
bool uri_decode(std::string_view in, Writer& w);

// Removes "." and ".." segments (RFC 3986 §5.2.4) and collapses repeated '/';
// empty becomes "/", a trailing slash is kept. Output never exceeds input+1.
void normalize_path(std::string_view path, Writer& w);

// Canonical URI: normalize (when asked) then encode once more, keeping '/'.
Error canonical_uri(std::string_view path, bool normalize, Writer& w);

// Canonical query: split on '&', then on the first '='; decode and re-encode
// keys and values; sort by key then value (bytewise); join "k=v" with '&'.
Error canonical_query(std::string_view query, Writer& w);

// Canonical headers block ("name:value\n" per distinct name, sorted) and the
// SignedHeaders list ("a;b;c"). Names are lowercased, values trimmed with
// inner whitespace runs collapsed, repeats joined with ',' in arrival order.
Error canonical_headers(const Header* headers, size_t num_headers, Writer& block,
                        Writer& signed_names);

struct CanonicalInput {
  std::string_view method, path, query;
  const Header* headers;  // every header to sign (including x-amz-date etc.)
  size_t num_headers;
  std::string_view payload_hash_hex;  // 64 lowercase hex chars (or UNSIGNED-PAYLOAD)
  bool normalize_path = false;        // as Params::normalize_path
};

// The canonical request (no trailing newline). signed_names receives the
// SignedHeaders list too, for the Authorization header.
Error canonical_request(const CanonicalInput& in, Writer& out, Writer& signed_names);

// "<date8>/<region>/<service>/aws4_request".
Error credential_scope(std::string_view date8, std::string_view region, std::string_view service,
                       Writer& out);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>".
Error string_to_sign(std::string_view amz_date, std::string_view scope,
                     std::string_view canonical_request, Writer& out);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service), "aws4_request").
// The "AWS4"+secret copy and the intermediate keys are wiped.
Error derive_signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                         std::string_view service, uint8_t key_out[crypto::kSha256Bytes]);

// Lowercase hex HMAC(signing_key, string_to_sign).
void signature(const uint8_t signing_key[crypto::kSha256Bytes], std::string_view string_to_sign,
               char hex_out[kHexSha256Len]);

}  // namespace appconfig::sigv4::internal
