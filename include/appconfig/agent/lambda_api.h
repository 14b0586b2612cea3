// lambda_api: the Lambda Extensions API conversation (spec §3).
//
// Owns: register (with our executable's basename), the /event/next long poll
// (no client timeout: the sandbox is frozen between invokes), INVOKE and
// SHUTDOWN decoding, the rule for when to ask for the next event (per-invoke
// work done, the poll timeout, or the invoke deadline minus a margin,
// whichever comes first), and /init/error and /exit/error reports.
// Uses http_client for every request (plain HTTP to AWS_LAMBDA_RUNTIME_API).
// Knows nothing of AppConfig or the local server: the owner supplies hooks.
// Lifetimes: strings in Registration and Event are valid during the hook call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"

namespace appconfig::lambda_api {

// /next is asked for no later than this before an invoke's deadline, so the
// platform never has to cut our post-invoke work short.
constexpr uint64_t kDeadlineMarginMs = 50;
// Register, init/error and exit/error answer at once on a healthy host; the
// whole Init phase has 10 s, so one request may not take most of it.
constexpr uint64_t kControlTimeoutMs = 2'000;
// After the Runtime API connection breaks while we wait on /next (it can after
// a thaw), ask again after this pause; give up after kMaxNextFailures in a row.
constexpr uint64_t kNextRetryDelayMs = 20;
constexpr int kMaxNextFailures = 50;

struct Registration {
  std::string_view identifier, function_name, function_version, handler, account_id;
};

enum class EventType : uint8_t { kInvoke, kShutdown };
struct Event {
  EventType type;
  uint64_t deadline_epoch_ms;
  std::string_view request_id;       // INVOKE
  std::string_view shutdown_reason;  // SHUTDOWN: spindown, timeout, failure (lower-cased)
};

struct Hooks {
  void* ctx = nullptr;
  void (*registered)(void* ctx, const Registration& r) = nullptr;
  // INVOKE: start the per-invoke work. Return true if work is pending; the
  // owner then calls Extension::work_done() when it settles.
  bool (*invoke)(void* ctx, const Event& e) = nullptr;
  // SHUTDOWN: stop; the owner exits 0.
  void (*shutdown)(void* ctx, const Event& e) = nullptr;
  // The conversation cannot go on (Runtime API error, registration refused):
  // log the message and exit non-zero.
  void (*fatal)(void* ctx, const char* message) = nullptr;
};

struct Options {
  std::string_view runtime_api;    // AWS_LAMBDA_RUNTIME_API: host:port
  std::string_view name;           // basename of our executable
  bool managed_instances = false;  // register for SHUTDOWN only
  uint64_t poll_timeout_ms = 3000;
};

enum class ErrorKind : uint8_t { kInit, kExit };

class Extension {
 public:
  // Returns false with a message when runtime_api is not host:port.
  bool init(loop::Loop* lp, http_client::Client* client, const Options& opt, const Hooks& hooks, char* err,
            size_t err_cap);
  void start_register();
  // Init work (prefetch) settled: the first /next ends our Init phase.
  void init_done();
  // The current invoke's work settled: ask for the next event now.
  void work_done();
  // Reports an error (Extension.<reason>) to /init/error or /exit/error, then
  // calls hooks.fatal with the message. Registers first when not registered
  // (an error before registration still reaches the platform).
  void report_error(ErrorKind kind, std::string_view reason, std::string_view message);
  bool registered() const { return !identifier_empty_; }
  uint64_t invokes() const { return invokes_; }

 private:
  static void on_register(void* ctx, const http_client::Result& r);
  static void on_next(void* ctx, const http_client::Result& r);
  static void on_report(void* ctx, const http_client::Result& r);
  static void on_next_timer(void* ctx);
  static void on_retry_timer(void* ctx);
  void ask_next();
  void send_report();
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

  loop::Loop* loop_ = nullptr;
  http_client::Client* client_ = nullptr;
  Hooks hooks_;
  Options opt_;
  char host_[256] = {};
  http_client::Endpoint ep_{};
  char identifier_[128] = {};
  bool identifier_empty_ = true;
  bool init_finished_ = false;
  bool waiting_next_ = false;   // a /next request is in flight
  bool invoke_open_ = false;    // an INVOKE is being worked on
  loop::TimerId next_timer_;
  loop::TimerId retry_timer_;
  int next_failures_ = 0;
  uint64_t invokes_ = 0;
  // A pending error report (sent once registered).
  bool report_pending_ = false;
  ErrorKind report_kind_ = ErrorKind::kInit;
  char report_reason_[64] = {};
  char report_message_[512] = {};
};

// Splits "host:port" or "[v6]:port". False when malformed.
bool split_host_port(std::string_view s, char* host, size_t host_cap, uint16_t* port);

}  // namespace appconfig::lambda_api
