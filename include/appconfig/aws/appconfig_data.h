// appconfig_data: the AppConfig Data API (spec §4) for one configuration at a time.
//
// Owns: StartConfigurationSession and GetLatestConfiguration requests (JSON
// body, percent-encoded token, SigV4 with signing name "appconfig"), the
// single-use token chain kept in a caller-owned Session, session restarts when a
// token is rejected or nearly 24 h old, and decoding of answers and errors
// (x-amzn-ErrorType cut at ':', JSON Message/message).
// Uses credentials (async), http_client and sigv4. Knows nothing of the cache
// or the local server: it reports bytes (or "unchanged", or an error) to a callback.
// Lifetimes: a Session must outlive any fetch using it; the views in Result are
// valid only during the callback.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/aws/credentials.h"
#include "appconfig/aws/endpoints.h"
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"

namespace appconfig::appconfig_data {

// Configuration tokens are opaque; the service's are a few hundred bytes.
constexpr size_t kMaxTokenBytes = 2048;
// Fetches in flight at once (each holds one upstream request at a time).
constexpr size_t kMaxFetches = 32;
// Tokens live 24 h (spec §4); a session older than this starts afresh.
constexpr uint64_t kSessionMaxAgeMs = 23ull * 3600 * 1000;
// The service's bounds for RequiredMinimumPollIntervalInSeconds.
constexpr uint32_t kMinServicePollS = 15, kMaxServicePollS = 86400;

struct Session {
  char token[kMaxTokenBytes] = {};
  size_t token_len = 0;
  uint64_t started_ms = 0;       // monotonic time of StartConfigurationSession
  uint32_t next_poll_s = 0;      // Next-Poll-Interval-In-Seconds of the last answer
  void reset() { token_len = 0; started_ms = 0; next_poll_s = 0; }
};

enum class Outcome : uint8_t { kNew, kUnchanged, kError };
struct Result {
  Outcome outcome;
  std::string_view bytes, content_type, version_label;  // kNew
  int status;             // kError: HTTP status to show readers (404, 400, 403, 502, 504)
  bool retryable;         // kError: throttling, 5xx, network, timeout
  uint16_t aws_status;    // kError: the status AWS answered (429 = throttled); 0 when AWS never answered
  char message[400];      // kError: names the configuration and what AWS said
};
using Callback = void (*)(void* ctx, const Result& r);

struct Key {
  std::string_view application, environment, profile;
};

struct FetchId {
  uint32_t slot = 0, generation = 0;
  bool valid() const { return generation != 0; }
};

class Client {
 public:
  bool init(loop::Loop* lp, http_client::Client* http, const endpoints::Endpoint& ep, uint32_t poll_interval_s,
            std::string_view user_agent);
  // Starts (or continues) the session for key and gets the latest configuration.
  // creds supplies credentials (the default provider, or a per-key AssumeRole one).
  FetchId fetch(const Key& key, Session& session, credentials::Provider* creds, uint64_t timeout_ms, Callback cb,
                void* ctx);
  void cancel(FetchId id);
  size_t in_flight() const { return in_flight_; }
  uint64_t api_calls() const { return api_calls_; }

 private:
  struct Op;
  static void on_creds(void* ctx, const credentials::Creds* c, const char* error);
  static void on_http(void* ctx, const http_client::Result& r);
  void on_session_started(Op& op, const http_client::Response& resp);
  void on_configuration(Op& op, const http_client::Response& resp);
  void on_error_answer(Op& op, const http_client::Response& resp, const char* api);
  static void on_timeout(void* ctx);
  void start_session(Op& op);
  void get_configuration(Op& op);
  void send_signed(Op& op, std::string_view method, std::string_view path, std::string_view query,
                   std::string_view body);
  void finish_error(Op& op, int status, bool retryable, const char* fmt, ...) __attribute__((format(printf, 5, 6)));
  void finish(Op& op, const Result& r);
  void release(Op& op);

  loop::Loop* loop_ = nullptr;
  http_client::Client* http_ = nullptr;
  endpoints::Endpoint ep_{};
  char host_header_[300] = {};
  uint32_t poll_interval_s_ = 45;
  char user_agent_[64] = {};
  Op* ops_ = nullptr;
  size_t in_flight_ = 0;
  // Bytes for the signed request's extra header values (X-Amz-Date, X-Amz-Security-Token,
  // Authorization): sign_buf_ is send_signed()'s alone. sigv4::sign fills it, http_client::send
  // copies the request at once and send_signed wipes it before returning, so one buffer serves
  // every fetch (the loop runs one send_signed at a time).
  static constexpr size_t kSignBufferBytes = credentials::kMaxTokenBytes + 1024;
  char sign_buf_[kSignBufferBytes];
  uint64_t api_calls_ = 0;
};

// Maps an AppConfig Data error answer to what readers see (spec §1).
int reader_status_for(int http_status, std::string_view error_type);

}  // namespace appconfig::appconfig_data
