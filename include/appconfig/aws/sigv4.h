// sigv4: AWS Signature Version 4, header mode (Authorization header).
//
// Owns: the canonical request, string to sign, signing-key derivation and the
// Authorization value (AWS SigV4 documentation; model: aws-c-auth aws_signing.c).
// Knows nothing of sockets, credentials sources or clocks: the caller passes the
// request as views, the credentials and the signing time in whole seconds.
// No heap: work buffers are bounded stack arrays (limits in sigv4_internal.h)
// and the output goes to a caller buffer. Secret material (the "AWS4"+secret
// key, the derived signing key, intermediate HMACs) is wiped before return;
// nothing is logged.
//
// Lifetimes: Signed::added[i].value views point into the caller's `out`
// buffer; the names are static strings. They are valid while `out` is.
// The session token value views creds.session_token itself (no copy).
//
// Path rule: `path` is the path as sent on the wire (already percent-encoded).
// It is normalised when Params::normalize_path is set and then percent-encoded
// once more, as every non-S3 AWS service expects (so "/a%20b" is signed as
// "/a%2520b"). S3's single-encoding rule is not supported.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::sigv4 {

struct Credentials {
  std::string_view access_key_id, secret_access_key, session_token;  // token may be empty
};

struct Header {
  std::string_view name, value;
};

struct Request {
  std::string_view method;
  std::string_view path;   // as it will be sent (already URI-encoded by the caller)
  std::string_view query;  // raw query without '?', e.g. "configuration_token=abc%2B"
  const Header* headers;   // must include host; the signer adds X-Amz-*/Authorization
  size_t num_headers;
  std::string_view body;
};

// Built with designated initializers so each flag is named where it is set (aws-c-auth's
// aws_signing_config_aws names them too): Params{.region = r, .service = "sts", .unix_time_s = t,
// .normalize_path = true, .sign_body_header = false, .omit_session_token = false}.
struct Params {
  std::string_view region, service;
  int64_t unix_time_s = 0;
  bool normalize_path = false;      // true for all services but S3
  bool sign_body_header = false;    // add and sign x-amz-content-sha256
  bool omit_session_token = false;  // add X-Amz-Security-Token after signing, unsigned (IoT-style)
};

// Headers the caller must add to the request, in this order:
// X-Amz-Date, [X-Amz-Security-Token], [x-amz-content-sha256], Authorization.
constexpr size_t kMaxAddedHeaders = 4;
struct Signed {
  Header added[kMaxAddedHeaders];
  size_t num_added;
};

enum class Error : uint8_t {
  kNone,
  kBufferTooSmall,   // `out` or an internal bounded buffer cannot hold the result
  kBadRequest,       // missing host, bad percent-encoding, header the signer owns, bad time...
  kTooManyHeaders,   // more than kMaxSignedHeaders headers or kMaxQueryParams parameters
};

// UriEncode of the SigV4 documentation, the one percent-encoder of the aws layer (the canonical
// request, AppConfig's configuration_token query value, STS form values): every byte except
// RFC 3986 §2.3 unreserved (A-Z a-z 0-9 - . _ ~) becomes %XX in upper-case hex (§2.1). Writes at
// most cap bytes, no NUL; returns the length, or 0 when it does not fit (an empty input also
// gives 0).
size_t uri_encode(std::string_view in, char* out, size_t cap);

// A short static description of an error (never null).
const char* error_message(Error e);

// Signs `req`. On success fills `result` (views into `out`) and returns kNone.
// On failure `result.num_added` is 0 and `out` holds nothing meaningful.
// Caller headers named Authorization, X-Amz-Date, X-Amz-Security-Token or
// X-Amz-Content-Sha256 are rejected (kBadRequest): the signer owns them.
// Headers that proxies rewrite (User-Agent, X-Amzn-Trace-Id, Connection,
// Expect, Transfer-Encoding, Upgrade) are sent but not signed.
Error sign(const Request& req, const Credentials& creds, const Params& p, char* out, size_t cap,
           Signed& result);

}  // namespace appconfig::sigv4
