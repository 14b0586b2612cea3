// credentials: what we sign AWS requests with, and keeping it fresh.
//
// Owns: the credential sources and the AWS SDKs' default chain over them (class Chain): the
// environment keys; web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> STS
// AssumeRoleWithWebIdentity, EKS IRSA); the shared files (AWS_PROFILE, ~/.aws/credentials,
// ~/.aws/config: static keys, role_arn over source_profile / credential_source); the container
// endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI with its authorization token, ECS
// and SnapStart); instance metadata (IMDSv2, class Imds); STS AssumeRole on top of another
// provider. Also the cache of the current credentials, refresh ahead of Expiration (in the
// background while the current ones stay valid), the bounded list of callers waiting for a fetch,
// and the decoding of the container / IMDS JSON and the STS XML answers.
// Knows nothing of AppConfig, the cache or the local server; it uses http_client to fetch,
// sigv4 to sign the STS call, endpoints for URLs. Behaviour and limits: docs/credentials.md.
// Source files, one per source: src/aws/credentials.cpp (Provider core, environment, static,
// container), credentials_sts.cpp, credentials_imds.cpp, credentials_profile.cpp (shared files,
// Chain), credentials_decode.cpp (answer decoders); what they share: credentials_internal.h.
//
// Lifetimes and rules:
//  - A Provider must outlive every get() it accepted unless cancel(ctx) was called for that ctx;
//    an AssumeRole provider's base must outlive it. Do not destroy a Provider from inside one
//    of its callbacks. The Loop and Client passed to init must outlive the Provider.
//  - The Creds pointer given to a callback is valid only during the callback: copy what you keep
//    (and wipe your copy with crypto::secure_wipe when done). The error text likewise.
//  - Callbacks always come from the loop, never from inside get().
//  - Secrets (secret key, session token, container authorization token) are never logged and are
//    wiped when replaced or when the Provider is destroyed.
// Single-threaded; no heap: every buffer is inside the Provider (about 26 KiB each) or the Chain,
// plus one web identity request scratch shared by every Provider (Provider::WebIdentityScratch).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/aws/endpoints.h"
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"
#include "appconfig/core/settings.h"

namespace appconfig::credentials {

// Session tokens are ~1-2 KB today (STS documents no maximum; container tokens are similar).
constexpr size_t kMaxTokenBytes = 4096;
// Access key ids are 16-128 characters (IAM API AccessKeyIdType); secrets are 40 in practice.
constexpr size_t kMaxKeyBytes = 128;
// Callers that may wait for one fetch at once: one per parked local request plus the refresh
// path; the local server's connection cap keeps real use far below this.
constexpr size_t kMaxWaiters = 64;
// Refresh this long before Expiration (AWS SDK for Java v2 prefetches 5 min ahead too), but never
// earlier than half the credentials' lifetime, so short-lived credentials are not refetched on
// every call.
constexpr uint64_t kRefreshBeforeExpiryMs = 5 * 60 * 1000;
// Cached credentials closer than this to Expiration are not handed out even when a refresh fails:
// a request signed now must still reach AWS before they expire.
constexpr uint64_t kMinRemainingMs = 10 * 1000;
// Fetch timeout when get() is called with timeout_ms == 0 (no caller deadline).
constexpr uint64_t kDefaultFetchTimeoutMs = 10 * 1000;
// One-line error texts (they name the source and the cause; AWS messages are quoted in them).
constexpr size_t kMaxErrorBytes = 512;
// STS form body: RoleArn (<= 2048) and ExternalId (<= 1224) may triple when percent-encoded.
constexpr size_t kMaxFormBytes = 12 * 1024;
// The container endpoint URI (origin-form target) kept for every fetch.
constexpr size_t kMaxTargetBytes = 2048;
// STS DurationSeconds range (AssumeRole API reference); 0 means "omit, STS default 1 h".
constexpr uint32_t kMinDurationS = 900;
constexpr uint32_t kMaxDurationS = 43200;

struct Creds {
  char access_key_id[kMaxKeyBytes];
  char secret_access_key[kMaxKeyBytes];
  char session_token[kMaxTokenBytes];  // "" when none
  uint64_t expires_epoch_ms;           // 0 = never
};

using Callback = void (*)(void* ctx, const Creds* creds /* null on error */, const char* error /* names source + cause */);

enum class Source : uint8_t { kNone, kEnvironment, kContainer, kAssumeRole, kWebIdentity, kProfile, kImds };
// "none", "environment", "container endpoint", "AssumeRole", "web identity", "shared profile",
// "instance metadata (IMDS)".
const char* source_name(Source s);

// Files we read for credentials (web identity token, container token, shared files) are read with
// O_NONBLOCK and must be regular files (a FIFO or a device would stall the loop); larger than the
// caller's cap is an error. The web identity token is a JWT; STS takes up to 20,000 characters.
constexpr size_t kMaxWebIdentityTokenBytes = 20000;
// The AssumeRoleWithWebIdentity body: the form above plus the token (a JWT is base64url and '.',
// sent as is). Built at each fetch in the one Provider::WebIdentityScratch (single-threaded; the
// HTTP client copies the request at once), so a Provider does not carry 50 KB it never uses.
constexpr size_t kMaxWebIdentityFormBytes = kMaxFormBytes + kMaxWebIdentityTokenBytes + 64;
// Shared credentials / config files: real ones are a few KiB even with hundreds of profiles.
constexpr size_t kMaxSharedFileBytes = 256 * 1024;
// role_arn -> source_profile hops followed at most (botocore has no limit but detects cycles; a
// longer chain is a mistake, and each hop is one more STS call per refresh).
constexpr size_t kMaxProfileChainDepth = 4;
// Providers one Chain may stack: one per hop plus its base, plus the base of a credential_source.
constexpr size_t kMaxChainProviders = kMaxProfileChainDepth + 2;
// IMDS: session token lifetime asked for (the maximum, 6 h), per-request timeout (the SDKs use
// 1 s), the pause before the one retry, and the role-name / token sizes accepted.
constexpr uint32_t kImdsTokenTtlS = 21600;
constexpr uint64_t kImdsRequestTimeoutMs = 1000;
constexpr uint64_t kImdsRetryBackoffMs = 250;
constexpr size_t kMaxImdsTokenBytes = 512;
constexpr size_t kMaxImdsPathBytes = 256;
// The IMDS token is renewed this long before its TTL ends (a request in flight must not carry a
// token that expires on the way).
constexpr uint64_t kImdsTokenMarginMs = 60 * 1000;

// Reads a small file for credentials: O_RDONLY|O_NONBLOCK|O_CLOEXEC, regular files only, at most
// cap-1 bytes (NUL-terminated). ENOENT sets *missing (when given) and returns false. `what` names
// the file in err ("AWS_WEB_IDENTITY_TOKEN_FILE").
bool read_small_file(const char* path, const char* what, char* out, size_t cap, size_t* len, bool* missing, char* err,
                     size_t err_cap);

// IMDS client (IMDSv2 as the SDKs do it): PUT /latest/api/token with a TTL, then GET with the
// token; the token is reused until kImdsTokenMarginMs before its TTL and renewed after a 401.
// Without a token only when the token call is refused with 403, 404 or 405 (IMDSv1 instances);
// any other failure (timeout, refused connection, 5xx) is retried once after kImdsRetryBackoffMs.
// One request at a time. Endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254
// (http://[fd00:ec2::254] with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).
using ImdsCallback = void (*)(void* ctx, std::string_view body /* 200 answer */, const char* error /* null = ok */);
class Imds {
 public:
  Imds() = default;
  Imds(const Imds&) = delete;
  Imds& operator=(const Imds&) = delete;
  ~Imds();
  bool init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap);
  // GET `path` (origin form); cb from the loop with the body or an error naming the path, the
  // endpoint and the cause. timeout_ms bounds the whole exchange (token, retry, answer). false when
  // a request is already in flight or the path is too long.
  bool get(std::string_view path, uint64_t timeout_ms, ImdsCallback cb, void* ctx);
  void cancel();
  const char* where() const { return where_; }
  uint64_t token_requests() const { return token_requests_; }

 private:
  enum class Step : uint8_t { kIdle, kToken, kGet, kBackoff };
  void send_token();
  void send_get();
  void retry_or_fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void finish(std::string_view body, const char* error);
  uint64_t remaining_ms() const;
  // One request's timeout: kImdsRequestTimeoutMs, cut to what is left of the exchange (>= 1 ms).
  uint64_t request_timeout_ms() const;
  static void on_token_cb(void* ctx, const http_client::Result& r);
  static void on_get_cb(void* ctx, const http_client::Result& r);
  static void on_backoff(void* ctx);

  loop::Loop* loop_ = nullptr;
  http_client::Client* client_ = nullptr;
  endpoints::Endpoint endpoint_{};
  char base_path_[endpoints::kMaxBasePathBytes + 1] = "";
  char where_[endpoints::kMaxHostBytes + 16] = "";
  Step step_ = Step::kIdle;
  bool v1_ = false;           // this exchange goes without a token (the token call was refused)
  bool retried_ = false;      // the one retry is used
  bool renewed_ = false;      // a 401 already made us fetch a new token
  char path_[kMaxImdsPathBytes] = "";
  uint64_t deadline_ms_ = 0;  // loop monotonic
  ImdsCallback cb_ = nullptr;
  void* cb_ctx_ = nullptr;
  char token_[kMaxImdsTokenBytes] = "";  // secret: wiped when replaced
  uint64_t token_expires_ms_ = 0;        // loop monotonic
  uint64_t token_requests_ = 0;
  http_client::RequestId request_{};
  loop::TimerId backoff_timer_{};
  loop::TimerId deliver_timer_{};  // an error found inside get() still comes from the loop
  bool in_get_ = false;
  char error_[kMaxErrorBytes] = "";
  static void on_deliver(void* ctx);
};

class Provider {
 public:
  Provider() = default;
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;
  ~Provider();

  // The base provider from settings: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
  // if set, else AWS_CONTAINER_CREDENTIALS_FULL_URI, else AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  // (http://169.254.170.2<uri>), else none (configured() false; init still succeeds). It does NOT
  // apply AWS_APPCONFIG_EXTENSION_ROLE_ARN: wrap it with a second Provider and init_assume_role().
  // Errors: only one of the two key variables; a FULL_URI over plain http to a host that is not
  // loopback / 169.254.170.2 / 169.254.170.23 / [fd00:ec2::23] (the token would travel in clear).
  bool init_from_settings(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err,
                          size_t cap);
  // AssumeRole with `base`'s credentials. session_name "" picks "appconfig-extension-<16 hex>";
  // duration_s 0 omits DurationSeconds (STS default 3600), else kMinDurationS..kMaxDurationS.
  // Strings are copied. Errors: bad ARN / external id / session name / duration, base null.
  bool init_assume_role(loop::Loop* lp, http_client::Client* client, Provider* base, std::string_view role_arn,
                        std::string_view external_id, std::string_view session_name, uint32_t duration_s,
                        const endpoints::Endpoint& sts, char* err, size_t cap);

  // Static keys (a shared profile's aws_access_key_id / aws_secret_access_key): never expire.
  bool init_static(loop::Loop* lp, http_client::Client* client, const Creds& c, Source source);
  // AssumeRoleWithWebIdentity (unsigned) with the token read from token_file at every fetch
  // (kubelet rotates it). session_name "" picks "appconfig-extension-<16 hex>".
  bool init_web_identity(loop::Loop* lp, http_client::Client* client, std::string_view token_file,
                         std::string_view role_arn, std::string_view session_name, const endpoints::Endpoint& sts,
                         char* err, size_t cap);
  // Instance metadata: the role name, then its credentials (Imds above).
  bool init_imds(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap);
  // The container endpoint alone (init_from_settings without the environment keys); false with
  // err "" when no container variable is set.
  bool init_container(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap);

  // Calls cb with valid credentials: from the loop at once when cached and not due for refresh,
  // else after one fetch shared by every waiting get(). timeout_ms bounds this caller's wait
  // (0 = until the fetch ends; the fetch itself is bounded by the first waiter's timeout or
  // kDefaultFetchTimeoutMs). Due for refresh but still valid for more than kMinRemainingMs: the
  // cached credentials are delivered at once and the refresh runs in the background. If a refresh
  // fails while the cached credentials are still valid, they stay in use (the failure is logged).
  // Returns false (and never calls back) when kMaxWaiters callers are already waiting.
  bool get(Callback cb, void* ctx, uint64_t timeout_ms);
  // Drops every waiting get() with this ctx (a caller going away). A fetch in flight continues.
  void cancel(void* ctx);

  bool configured() const { return source_ != Source::kNone; }
  Source source() const { return source_; }
  // Where an IMDS source asks ("169.254.169.254:80"); "" for other sources.
  const char* imds_where() const { return imds_.where(); }
  // Fetches started so far (observability and tests).
  uint64_t fetch_count() const { return fetches_; }
  // Tests: replaces the wall clock used for expiry decisions (not for signing, which uses the
  // real clock because AWS checks it).
  void set_clock_for_tests(uint64_t (*now_ms)(void*), void* ctx) { clock_ = now_ms; clock_ctx_ = ctx; }

 private:
  struct Waiter {
    Callback cb;
    void* ctx;
    uint64_t deadline_ms;  // loop monotonic; 0 = none
  };

  uint64_t wall_now_ms() const;
  bool cache_fresh() const;
  bool cache_usable() const;
  void start_fetch(uint64_t timeout_ms);
  void fetch_container(uint64_t timeout_ms);
  void fetch_assume_role(uint64_t timeout_ms);
  void fetch_web_identity(uint64_t timeout_ms);
  void fetch_imds(uint64_t timeout_ms);
  void on_imds_answer(std::string_view body, const char* error);
  static void on_imds_cb(void* ctx, std::string_view body, const char* error);
  bool build_assume_role_form(std::string_view action, std::string_view role_arn, std::string_view session_name,
                              char* err, size_t cap,
                              std::string_view external_id = {}, uint32_t duration_s = 0);
  void on_container_response(const http_client::Result& r);
  void on_sts_response(const http_client::Result& r);
  void on_base_creds(const Creds* creds, const char* error);
  void store(const Creds& fresh);
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void deliver_all();
  void arm_deliver();
  void arm_deadline();
  void expire_waiters();

  static void on_container_cb(void* ctx, const http_client::Result& r);
  static void on_sts_cb(void* ctx, const http_client::Result& r);
  static void on_base_cb(void* ctx, const Creds* creds, const char* error);
  static void on_deliver_timer(void* ctx);
  static void on_deadline_timer(void* ctx);

  loop::Loop* loop_ = nullptr;
  http_client::Client* client_ = nullptr;
  Source source_ = Source::kNone;
  Provider* base_ = nullptr;

  Creds cached_{};
  bool have_cached_ = false;
  uint64_t refresh_at_ms_ = 0;  // wall clock; 0 with expires 0 = never

  Waiter waiters_[kMaxWaiters]{};
  size_t num_waiters_ = 0;
  bool fetching_ = false;
  uint64_t fetch_timeout_ms_ = 0;
  http_client::RequestId request_{};
  loop::TimerId deliver_timer_{};
  loop::TimerId deadline_timer_{};
  uint64_t deadline_armed_ms_ = 0;
  uint64_t fetches_ = 0;
  char error_[kMaxErrorBytes] = "";
  bool last_failed_ = false;  // the last fetch failed: waiters get error_

  // Container source.
  endpoints::Endpoint endpoint_{};  // container endpoint or STS
  char target_[kMaxTargetBytes] = "";
  char auth_token_[kMaxTokenBytes] = "";       // AWS_CONTAINER_AUTHORIZATION_TOKEN (secret)
  char auth_token_file_[512] = "";             // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE path

  // Web identity source: the token file, and where the form's token starts (appended per fetch).
  char token_file_[4096] = "";
  size_t form_prefix_len_ = 0;
  // IMDS source: the role name between the two calls.
  Imds imds_;
  bool imds_have_role_ = false;
  char imds_role_[kMaxKeyBytes] = "";

  // AssumeRole source.
  char role_arn_[2049] = "";
  char form_[kMaxFormBytes] = "";
  size_t form_len_ = 0;

  uint64_t (*clock_)(void*) = nullptr;
  void* clock_ctx_ = nullptr;

  // The token and form body of the AssumeRoleWithWebIdentity request fetch_web_identity() builds
  // (~52 KiB). One for all Providers: the loop is single-threaded and a fetch reads, sends (the
  // HTTP client copies the request at once) and wipes both before it returns, so no two fetches
  // hold it at the same time; a Provider (up to six in a Chain, one per manifest role) does not
  // carry it.
  struct WebIdentityScratch;
  static WebIdentityScratch web_identity_scratch_;
};

// The default chain, in the AWS SDKs' order (docs/credentials.md): environment keys -> web
// identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN) -> shared files (the AWS_PROFILE profile,
// else "default", when it exists in either file) -> container endpoint -> IMDS (agent mode only,
// unless AWS_EC2_METADATA_DISABLED). A source is chosen by its configuration at start-up, as the
// SDKs do; IMDS is the fallback and its failures show at the first fetch. Profiles:
// aws_access_key_id / aws_secret_access_key [/ aws_session_token]; role_arn with source_profile
// (chains of up to kMaxProfileChainDepth hops, cycles refused) or credential_source (Environment,
// EcsContainer, Ec2InstanceMetadata) or web_identity_token_file; external_id, role_session_name,
// duration_seconds. credential_process and SSO profiles are refused at start-up ("not
// supported"). Needs Settings::service_region for STS (web identity and profile roles).
class Chain {
 public:
  Chain() = default;
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;
  bool init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap);
  // The provider to sign with (the last of the stack); never null after a successful init (its
  // configured() is false when nothing is configured).
  Provider* top() { return used_ == 0 ? &providers_[0] : &providers_[used_ - 1]; }
  // "shared profile dev: AssumeRole arn:... over static keys" (names, never secrets).
  const char* description() const { return description_; }

 private:
  // The steps of init (credentials_profile.cpp).
  struct ProfileKeys;  // the keys of one profile that choose its source
  Provider* add();
  Provider* add_for(std::string_view profile, char* err, size_t cap);  // add(), or "too many providers"
  void describe(const char* fmt, std::string_view name);               // appends to description_
  bool profile_get(std::string_view profile, const char* key, std::string_view* value) const;
  bool from_web_identity_variables(const settings::Settings& s, char* err, size_t cap);
  bool from_shared_files(const settings::Settings& s, bool* chosen, char* err, size_t cap);
  bool from_profile(const settings::Settings& s, std::string_view name, size_t depth, Provider** out, char* err,
                    size_t cap);
  bool from_role(const settings::Settings& s, std::string_view name, const ProfileKeys& k, size_t depth,
                 Provider** out, char* err, size_t cap);
  bool role_base(const settings::Settings& s, std::string_view name, const ProfileKeys& k, size_t depth,
                 Provider** base, char* err, size_t cap);
  bool add_static_keys(std::string_view name, const ProfileKeys& k, const char* keys, Provider** out, char* err,
                       size_t cap);
  bool refuse_profile(std::string_view name, const ProfileKeys& k, char* err, size_t cap) const;

  Provider providers_[kMaxChainProviders];
  size_t used_ = 0;
  char description_[512] = "";
  // init's loop and client, handed to the providers it adds.
  loop::Loop* lp_ = nullptr;
  http_client::Client* client_ = nullptr;
  // The shared files, read once at init and wiped before init returns.
  char credentials_file_[kMaxSharedFileBytes];
  char config_file_[kMaxSharedFileBytes];
  size_t credentials_len_ = 0, config_len_ = 0;
};

// The region of the AWS_PROFILE (else "default") profile in the config file (AWS_CONFIG_FILE,
// else $HOME/.aws/config). true with out "" when there is none; false with err on a bad file or
// an invalid region value. `buf` (kMaxSharedFileBytes) holds the file while it is scanned.
bool profile_region(const settings::Settings& s, char* buf, char* out, size_t cap, char* err, size_t err_cap);

// ---- shared file syntax (INI as the AWS CLI writes it), exposed for tests.
enum class SharedFile : uint8_t {
  kCredentials,  // sections are [name]
  kConfig,       // sections are [profile name], and [default] (also [profile default])
};
// True when `file` has a section for `profile`.
bool profile_exists(std::string_view file, SharedFile kind, std::string_view profile);
// The value of `key` (case-insensitive) in `profile`'s sections; the last assignment wins, as in
// the SDKs. Lines: "key = value", "# ..." / "; ..." comments, indented continuation lines of a
// nested block (ignored). Values are trimmed; "" is a present, empty value.
bool profile_value(std::string_view file, SharedFile kind, std::string_view profile, std::string_view key,
                   std::string_view* value);

// ---- decoders, exposed for tests. `err` gets one line; Creds fields are NUL-terminated.

// Container endpoint JSON: {"AccessKeyId","SecretAccessKey","Token","Expiration"} (Token and
// Expiration optional: absent Expiration = never expires). Strict RFC 8259 JSON.
bool parse_container_json(std::string_view body, Creds& out, char* err, size_t cap);
// STS AssumeRoleResponse XML: AccessKeyId, SecretAccessKey, SessionToken, Expiration inside
// <Credentials>. Only what STS produces is understood: plain <Name>text</Name> elements and the
// entities &amp; &lt; &gt; &quot; &apos; &#N; &#xH; (no CDATA, no attributes on these elements).
bool parse_assume_role_xml(std::string_view body, Creds& out, char* err, size_t cap);
// STS error XML: <Error><Code>..</Code><Message>..</Message></Error>, entities decoded. Writes
// "Code: Message" (or what is present) into out; false when there is no <Error> element.
bool parse_sts_error_xml(std::string_view body, char* out, size_t cap);
// ISO 8601 / RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), 'T'/'Z' any case.
bool parse_iso8601_ms(std::string_view text, uint64_t* epoch_ms);
// application/x-www-form-urlencoded value encoding: RFC 3986 unreserved bytes kept, all others
// %XX (upper case). Returns the length, or 0 when it does not fit (an empty input also gives 0).
size_t form_encode(std::string_view in, char* out, size_t cap);

}  // namespace appconfig::credentials
