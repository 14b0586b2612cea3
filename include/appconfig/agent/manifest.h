// manifest: the AWS_APPCONFIG_EXTENSION_MANIFEST document (spec §7, docs/manifest-and-backups.md).
//
// Owns: strict validation of the manifest JSON (a top-level object keyed by configuration key,
// each value {} or {"credentials": {...}, "writeTo": {...}}), the per-key AssumeRole parameters
// and writeTo paths, and one-line error messages that name the key and the problem.
// Knows nothing of where the bytes came from (file or AppConfig: the caller fetches them), of
// STS, of the cache, or of writing files (backup::write_atomic does that).
//
// Lifetimes: every std::string_view in an Entry points into Manifest::storage (decoded copies):
// valid while that Manifest is, independent of the JSON text passed to parse(). Manifest is large
// (~265 KiB): keep it static or heap-allocated at start-up, never on the stack. parse() never
// allocates; load_file() allocates one read buffer for the duration of the call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::manifest {

// Keys one manifest may describe: the same bound as the prefetch list (settings::kMaxPrefetch);
// each key costs a session (and maybe an AssumeRole) at init.
constexpr size_t kMaxEntries = 64;
// A manifest is a few hundred bytes per key; 256 KiB is ~4 KiB per key at kMaxEntries and keeps
// Manifest::storage (which must hold every decoded string) a fixed, modest size.
constexpr size_t kMaxManifestBytes = 256 * 1024;
// STS AssumeRole: RoleArn is 20..2048 characters.
constexpr size_t kMaxRoleArnBytes = 2048;
// STS AssumeRole: ExternalId is 2..1224 characters of [\w+=,.@:/-].
constexpr size_t kMinExternalIdBytes = 2;
constexpr size_t kMaxExternalIdBytes = 1224;
// STS AssumeRole: RoleSessionName is 2..64 characters of [\w+=,.@-].
constexpr size_t kMinSessionNameBytes = 2;
constexpr size_t kMaxSessionNameBytes = 64;
// STS AssumeRole: DurationSeconds is 900 (15 min) .. 43200 (12 h, the role's maximum ceiling).
constexpr uint32_t kMinDurationS = 900;
constexpr uint32_t kMaxDurationS = 43200;
// writeTo paths: PATH_MAX (4096 with the NUL) minus room for the temporary file name that
// backup::write_atomic creates next to the target.
constexpr size_t kMaxWritePathBytes = 4000;

struct Entry {
  // The configuration key, decoded (JSON escapes, then percent-escapes), 1..128 bytes each.
  std::string_view application, environment, profile;

  bool has_role;                   // "credentials" present: AssumeRole for this key only
  std::string_view role_arn;       // validated IAM role ARN
  std::string_view external_id;    // "" when absent. A secret-ish value: never log it
  std::string_view session_name;   // "" when absent (the caller picks its default)
  uint32_t duration_s;             // 0 = absent (STS default, 1 h); else 900..43200

  bool has_write_to;               // "writeTo" present
  std::string_view write_to_path;  // absolute, no NUL, no "." or ".." segment, no trailing '/'
};

struct Manifest {
  Entry entries[kMaxEntries];  // document order
  size_t num_entries;
  char storage[kMaxManifestBytes];  // decoded strings; every view above points here
  size_t used;
};

// Parses and validates the whole manifest. Keys are "App:Env:Profile" or
// "/applications/A/environments/E/configurations/P" (both as settings::parse_key_ref, so segments
// are percent-decoded: a ':' inside a name is written %3A). Rejected, each with a one-line message
// in err (NUL-terminated, truncated to err_cap) naming the key and the problem:
//   not valid JSON (with the byte offset); larger than kMaxManifestBytes; top level not an
//   object; a key that is not a configuration key; a value that is not an object; an unknown
//   member (at any level); a duplicate member (at any level) or a duplicate configuration key
//   (after decoding, so both spellings of one key collide); credentials without roleArn; a
//   roleArn that is not arn:aws[-cn|-us-gov]:iam::<12 digits>:role/<name>; a bad external ID or
//   session name (STS character sets and lengths); a credentialsDuration outside 15m..12h or not
//   one of "2h", "90m", "3600s", "3600", "1h30m", or an integer number of seconds; writeTo without
//   path; a relative path, a path with NUL, a "." or ".." segment, or a trailing '/'; two keys with
//   the same writeTo path; more than kMaxEntries keys. String members must be JSON strings.
// json_text must not point into out. On failure out.num_entries is 0.
bool parse(std::string_view json_text, Manifest& out, char* err, size_t err_cap);

// For MANIFEST=file:/path. Reads the file (a regular file of at most kMaxManifestBytes; the read
// is bounded, a longer file is an error, not a truncation) and parses it. Errors name the path
// and the errno text, or carry parse()'s message prefixed by the path.
bool load_file(const char* path, Manifest& out, char* err, size_t err_cap);

// For MANIFEST={...} (the JSON in the variable itself): parse() with its messages prefixed by
// "inline manifest" where load_file() names the path; the same kMaxManifestBytes bound.
bool load_inline(std::string_view json_text, Manifest& out, char* err, size_t err_cap);

}  // namespace appconfig::manifest
