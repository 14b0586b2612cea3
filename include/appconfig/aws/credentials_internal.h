// credentials_internal: what the files of the credentials module share (see credentials.h). The
// module is split by source: credentials.cpp (the Provider's cache, waiters and delivery; the
// environment, static and container sources; read_small_file), credentials_decode.cpp (the answer
// decoders), credentials_sts.cpp (AssumeRole and web identity), credentials_imds.cpp (instance
// metadata) and credentials_profile.cpp (the shared files and the Chain). Not for other modules.
#pragma once
#include <cstddef>
#include <string_view>

#include "appconfig/aws/credentials.h"

namespace appconfig::credentials::internal {

// Bytes of a non-2xx answer quoted in an error message when it has no recognisable message.
constexpr size_t kMaxQuotedBodyBytes = 120;

// Copies v NUL-terminated into out[cap]; false (and nothing copied) when it does not fit.
bool copy_str(std::string_view v, char* out, size_t cap);

// Printable ASCII without spaces: what access keys, secrets and tokens consist of. It also keeps
// CR/LF out of the headers we build from them.
bool visible(std::string_view v);

// Copies a body excerpt (at most kMaxQuotedBodyBytes) for an error message with control bytes
// replaced (the log escapes too, but the error text also reaches HTTP responses).
void quote_body(std::string_view body, char* out, size_t cap);

// Turns the control bytes below 0x20 of s[0, n) into spaces: decoded text (JSON "\n", XML
// "&#10;") quoted in an error keeps the error one line.
void blank_controls(char* s, size_t n);

// Checks the decoded fields are usable in headers and the signer.
bool check_creds(const Creds& c, char* err, size_t cap);

// Reads a token file (re-read at every fetch: EKS rotates it). Trailing whitespace (a final
// newline) is dropped; any other control byte is an error. out is wiped on failure.
bool read_token_file(const char* path, const char* what, char* out, size_t cap, char* err, size_t err_cap);

}  // namespace appconfig::credentials::internal
