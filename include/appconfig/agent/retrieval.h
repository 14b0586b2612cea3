// retrieval: keeping configurations from AWS AppConfig fresh and available.
//
// Owns: the per-key retrieval state (the AppConfig Data session and its token
// chain, when the key is next due, failure count and backoff, the fetch in
// flight, the readers waiting on it), the refresh rule (our poll interval, never
// sooner than the service's Next-Poll-Interval-In-Seconds, exponential backoff
// with jitter after failures), prefetch, and storing results in the cache.
// Once a key is cached, failures never reach readers: they keep the last good
// bytes and the failure is logged once per streak (spec §1).
// Knows nothing of HTTP parsing or sockets: waiting readers are opaque refs
// handed back through a callback.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/aws/appconfig_data.h"
#include "appconfig/agent/cache.h"
#include "appconfig/aws/credentials.h"
#include "appconfig/net/http_server.h"
#include "appconfig/core/log.h"
#include "appconfig/core/loop.h"

namespace appconfig::retrieval {

// Keys with retrieval state at once (cached or being fetched); far above what
// one function reads. When full, the oldest uncached idle key is forgotten.
constexpr size_t kMaxKeys = 256;
// Readers parked at once across all keys: the agent's default connection
// count (MAX_CLIENT_CONNECTIONS may be higher; past this a first read of an
// uncached key gets 503 "too many reads are waiting"). Not the 16,384
// maximum: the table is zeroed at start and would cost 512 KiB of RSS.
constexpr size_t kMaxWaiters = http_server::kDefaultMaxConnectionsAgent;
// Backoff after failures: doubles from the poll interval, capped here.
constexpr uint64_t kMaxBackoffMs = 30ull * 60 * 1000;
// A first fetch that failed for a transient reason (network, 5xx, timeout) is
// retried by the next read after this long; permanent ones (404, 400, 403)
// are remembered for the poll interval.
constexpr uint64_t kTransientErrorHoldMs = 1000;

// status 0: the cache now holds the key; else the HTTP status and message.
using ReaderDone = void (*)(void* ctx, http_server::ExchangeRef ref, int status, const char* message);
using Settled = void (*)(void* ctx);
// Called after new bytes were stored for a key (writeTo files, backups).
using Stored = void (*)(void* ctx, const cache::Key& key, std::string_view bytes, std::string_view content_type,
                        std::string_view version_label);

struct Stats {
  uint64_t fetches_started, fetches_ok, fetches_unchanged, fetches_failed;
};

class Retriever {
 public:
  bool init(loop::Loop* lp, cache::Cache* cache, appconfig_data::Client* data, credentials::Provider* creds,
            uint64_t poll_interval_ms, uint64_t poll_timeout_ms);
  // A read missed the cache: join the key's fetch (starting one if needed).
  // Returns 0 when parked (done is called later), else an HTTP status with
  // the message in err (a remembered recent failure, or tables full).
  int wait_for(const cache::Key& key, http_server::ExchangeRef ref, ReaderDone done, void* ctx, char* err,
               size_t err_cap);
  // Starts fetches for keys (prefetch list); `settled` runs once all settle.
  void prefetch(const cache::Key* keys, size_t n, Settled settled, void* ctx);
  // Starts refreshes of every cached key whose time has come. Returns how many
  // started; `settled` runs once they all settle (only when > 0).
  size_t refresh_due(Settled settled, void* ctx);
  const Stats& stats() const { return stats_; }
  void on_stored(Stored cb, void* ctx) { stored_ = cb; stored_ctx_ = ctx; }
  // When a first fetch fails for a transient reason, `fallback` may put a
  // copy into the cache (backups used only when the service is unreachable);
  // it returns true when it did.
  using Fallback = bool (*)(void* ctx, const cache::Key& key);
  void on_unreachable(Fallback cb, void* ctx) { fallback_ = cb; fallback_ctx_ = ctx; }
  // Credentials for one key (manifest AssumeRole); nullptr = the default ones.
  bool set_key_credentials(const cache::Key& key, credentials::Provider* creds);

 private:
  struct KeyState;
  struct Waiter {
    bool used;
    uint32_t key_index;
    http_server::ExchangeRef ref;
    ReaderDone done;
    void* ctx;
  };
  KeyState* find(const cache::Key& key);
  KeyState* add(const cache::Key& key);
  bool start_fetch(KeyState& k);
  static void on_fetched(void* ctx, const appconfig_data::Result& r);
  // on_fetched's two cases (retrieval.cpp, used only there); each returns the status for waiting
  // readers (0: the cache serves them).
  inline int fetch_failed(KeyState& k, const cache::Key& key, const appconfig_data::Result& r,
                          const log::Fields& fields, uint64_t now, char* message, size_t cap);
  inline int fetch_answered(KeyState& k, const cache::Key& key, const appconfig_data::Result& r, log::Fields& fields,
                            uint64_t now, char* message, size_t cap);
  void settle_one(KeyState& k);
  uint64_t backoff_ms(uint32_t failures);

  loop::Loop* loop_ = nullptr;
  cache::Cache* cache_ = nullptr;
  appconfig_data::Client* data_ = nullptr;
  credentials::Provider* creds_ = nullptr;
  uint64_t interval_ms_ = 45000;
  uint64_t timeout_ms_ = 3000;
  KeyState* keys_ = nullptr;
  size_t num_keys_ = 0;
  Waiter waiters_[kMaxWaiters] = {};
  // One group of fetches whose end someone waits for (an invoke or the prefetch).
  size_t group_pending_ = 0;
  Settled group_settled_ = nullptr;
  void* group_ctx_ = nullptr;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  Stored stored_ = nullptr;
  void* stored_ctx_ = nullptr;
  Fallback fallback_ = nullptr;
  void* fallback_ctx_ = nullptr;
  Stats stats_{};
};

}  // namespace appconfig::retrieval
