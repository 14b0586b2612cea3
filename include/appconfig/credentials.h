// credentials: what we sign AWS requests with, and keeping it fresh.
//
// Owns: the credential sources (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN]; the
// container endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI with its authorization
// token, as used under SnapStart; STS AssumeRole on top of another provider), their order, the
// cache of the current credentials, refresh ahead of Expiration, the bounded list of callers
// waiting for a fetch, and the decoding of the container JSON and the STS XML answers.
// Knows nothing of AppConfig, the cache or the local server; it uses http_client to fetch,
// sigv4 to sign the STS call, endpoints for URLs. Behaviour and limits: docs/credentials.md.
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
// Single-threaded; no heap: every buffer is inside the Provider (about 24 KiB each).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/endpoints.h"
#include "appconfig/http_client.h"
#include "appconfig/loop.h"
#include "appconfig/settings.h"

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

enum class Source : uint8_t { kNone, kEnvironment, kContainer, kAssumeRole };
// "none", "environment", "container endpoint", "AssumeRole".
const char* source_name(Source s);

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

  // Calls cb with valid credentials: from the loop at once when cached and not due for refresh,
  // else after one fetch shared by every waiting get(). timeout_ms bounds this caller's wait
  // (0 = until the fetch ends; the fetch itself is bounded by the first waiter's timeout or
  // kDefaultFetchTimeoutMs). If a refresh fails while the cached credentials still have more than
  // kMinRemainingMs left, those are delivered instead (the failure is logged).
  // Returns false (and never calls back) when kMaxWaiters callers are already waiting.
  bool get(Callback cb, void* ctx, uint64_t timeout_ms);
  // Drops every waiting get() with this ctx (a caller going away). A fetch in flight continues.
  void cancel(void* ctx);

  bool configured() const { return source_ != Source::kNone; }
  Source source() const { return source_; }
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

  // AssumeRole source.
  char role_arn_[2049] = "";
  char form_[kMaxFormBytes] = "";
  size_t form_len_ = 0;

  uint64_t (*clock_)(void*) = nullptr;
  void* clock_ctx_ = nullptr;
};

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
