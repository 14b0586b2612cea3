#include "appconfig/agent/retrieval.h"

#include <cstdio>
#include <cstring>
#include <sys/mman.h>

#include "appconfig/flags/flags.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/agent/metrics.h"
#include "appconfig/agent/store.h"

namespace appconfig::retrieval {

namespace {
constexpr size_t kMaxName = 128;
}

struct Retriever::KeyState {
  Retriever* owner;
  bool used;
  bool fetching;
  bool in_group;       // counted in the current group (invoke refresh or prefetch)
  bool error_logged;   // this failure streak has been logged
  uint8_t app_len, env_len, prof_len;
  char app[kMaxName], env[kMaxName], prof[kMaxName];
  appconfig_data::Session session;
  appconfig_data::FetchId fetch;
  credentials::Provider* creds;  // nullptr: the default provider
  uint64_t next_due_ms;      // when a refresh may run again
  uint64_t error_until_ms;   // uncached key: answer last_error until then
  uint64_t last_used_ms;
  uint64_t fetch_started_ms;  // upstream latency (metrics, logs)
  uint32_t failures;
  int last_status;
  char last_error[400];

  cache::Key key() const { return {{app, app_len}, {env, env_len}, {prof, prof_len}}; }
};

bool Retriever::init(loop::Loop* lp, cache::Cache* cache, appconfig_data::Client* data, credentials::Provider* creds,
                     uint64_t poll_interval_ms, uint64_t poll_timeout_ms) {
  loop_ = lp;
  cache_ = cache;
  data_ = data;
  creds_ = creds;
  interval_ms_ = poll_interval_ms;
  timeout_ms_ = poll_timeout_ms;
  rng_ ^= loop::wall_ms();
  // Each state holds a session token (2 KiB): reserve, touch only as used.
  void* mem = mmap(nullptr, sizeof(KeyState) * kMaxKeys, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  keys_ = static_cast<KeyState*>(mem);
  return true;
}

Retriever::KeyState* Retriever::find(const cache::Key& key) {
  for (size_t i = 0; i < num_keys_; ++i) {
    KeyState& k = keys_[i];
    if (k.used && k.app_len == key.application.size() && k.env_len == key.environment.size() &&
        k.prof_len == key.profile.size() && memcmp(k.app, key.application.data(), k.app_len) == 0 &&
        memcmp(k.env, key.environment.data(), k.env_len) == 0 && memcmp(k.prof, key.profile.data(), k.prof_len) == 0)
      return &k;
  }
  return nullptr;
}

Retriever::KeyState* Retriever::add(const cache::Key& key) {
  if (key.application.size() > kMaxName || key.environment.size() > kMaxName || key.profile.size() > kMaxName)
    return nullptr;
  KeyState* k = nullptr;
  if (num_keys_ < kMaxKeys) {
    k = &keys_[num_keys_++];
  } else {
    // Forget the least recently used key that is neither cached nor busy.
    for (size_t i = 0; i < num_keys_; ++i) {
      KeyState& c = keys_[i];
      if (c.fetching || c.creds != nullptr) continue;  // busy, or pinned by the manifest
      cache::Key ck = c.key();
      if (cache_->find(ck, loop_->now_ms()) != nullptr) continue;
      if (k == nullptr || c.last_used_ms < k->last_used_ms) k = &c;
    }
    if (k == nullptr) return nullptr;
  }
  memset(static_cast<void*>(k), 0, sizeof *k);
  k->owner = this;
  k->used = true;
  k->app_len = static_cast<uint8_t>(key.application.size());
  k->env_len = static_cast<uint8_t>(key.environment.size());
  k->prof_len = static_cast<uint8_t>(key.profile.size());
  memcpy(k->app, key.application.data(), k->app_len);
  memcpy(k->env, key.environment.data(), k->env_len);
  memcpy(k->prof, key.profile.data(), k->prof_len);
  return k;
}

uint64_t Retriever::backoff_ms(uint32_t failures) {
  // Never sooner than the interval; doubling per failure; capped; +-20 % jitter.
  uint64_t d = interval_ms_;
  for (uint32_t i = 1; i < failures && d < kMaxBackoffMs; ++i) d *= 2;
  if (d > kMaxBackoffMs) d = kMaxBackoffMs > interval_ms_ ? kMaxBackoffMs : interval_ms_;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  uint64_t jitter = d / 5 == 0 ? 0 : rng_ % (d / 5);
  uint64_t out = d + jitter;
  return out < interval_ms_ ? interval_ms_ : out;
}

bool Retriever::set_key_credentials(const cache::Key& key, credentials::Provider* creds) {
  KeyState* k = find(key);
  if (k == nullptr) k = add(key);
  if (k == nullptr) return false;
  if (k->creds != creds) k->session.reset();  // another account: another session
  k->creds = creds;
  return true;
}

bool Retriever::start_fetch(KeyState& k) {
  if (k.fetching) return true;
  cache::Key ck = k.key();
  appconfig_data::Key dk{ck.application, ck.environment, ck.profile};
  k.fetch = data_->fetch(dk, k.session, k.creds != nullptr ? k.creds : creds_, timeout_ms_, &Retriever::on_fetched, &k);
  if (!k.fetch.valid()) return false;
  k.fetching = true;
  k.fetch_started_ms = loop_->now_ms();
  ++stats_.fetches_started;
  return true;
}

int Retriever::wait_for(const cache::Key& key, http_server::ExchangeRef ref, ReaderDone done, void* ctx, char* err,
                        size_t err_cap) {
  uint64_t now = loop_->now_ms();
  KeyState* k = find(key);
  if (k != nullptr && !k->fetching && k->last_status != 0 && now < k->error_until_ms) {
    error::fail(err, err_cap, "%s", k->last_error);
    return k->last_status;
  }
  if (k == nullptr) k = add(key);
  if (k == nullptr) {
    error::fail(err, err_cap, "too many configurations are being retrieved at once (limit %zu)", kMaxKeys);
    return 503;
  }
  k->last_used_ms = now;
  Waiter* w = nullptr;
  for (Waiter& c : waiters_) {
    if (!c.used) {
      w = &c;
      break;
    }
  }
  if (w == nullptr) {
    error::fail(err, err_cap, "too many reads are waiting for AWS AppConfig (limit %zu)", kMaxWaiters);
    return 503;
  }
  if (!start_fetch(*k)) {
    error::fail(err, err_cap, "too many fetches from AWS AppConfig in flight (limit %zu)",
                appconfig_data::kMaxFetches);
    return 503;
  }
  *w = Waiter{.used = true, .key_index = static_cast<uint32_t>(k - keys_), .ref = ref, .done = done, .ctx = ctx};
  return 0;
}

void Retriever::prefetch(const cache::Key* keys, size_t n, Settled settled, void* ctx) {
  // Without a callback nobody waits: start the fetches and leave any group
  // (an invoke's refresh) alone.
  const bool grouped = settled != nullptr;
  if (grouped) {
    for (size_t i = 0; i < num_keys_; ++i) keys_[i].in_group = false;
    group_settled_ = settled;
    group_ctx_ = ctx;
    group_pending_ = 0;
  }
  for (size_t i = 0; i < n; ++i) {
    KeyState* k = find(keys[i]);
    if (k == nullptr) k = add(keys[i]);
    if (k == nullptr || !start_fetch(*k)) {
      LOG_WARN("prefetch: cannot start a fetch for %.*s:%.*s:%.*s", static_cast<int>(keys[i].application.size()),
               keys[i].application.data(), static_cast<int>(keys[i].environment.size()), keys[i].environment.data(),
               static_cast<int>(keys[i].profile.size()), keys[i].profile.data());
      continue;
    }
    if (grouped && !k->in_group) {
      k->in_group = true;
      ++group_pending_;
    }
  }
  if (grouped && group_pending_ == 0) {
    group_settled_ = nullptr;
    settled(ctx);
  }
}

size_t Retriever::refresh_due(Settled settled, void* ctx) {
  uint64_t now = loop_->now_ms();
  size_t started = 0;
  group_pending_ = 0;
  for (size_t i = 0; i < num_keys_; ++i) {
    KeyState& k = keys_[i];
    k.in_group = false;
    if (!k.used) continue;
    if (k.fetching) continue;  // a fetch from an earlier invoke is still running; it does not hold this one
    if (now < k.next_due_ms) continue;
    // Only cached keys are refreshed in the background; uncached ones are
    // fetched by the next read.
    if (cache_->find(k.key(), now) == nullptr) continue;
    if (!start_fetch(k)) continue;
    k.in_group = true;
    ++group_pending_;
    ++started;
  }
  group_settled_ = started > 0 ? settled : nullptr;
  group_ctx_ = ctx;
  return started;
}

void Retriever::settle_one(KeyState& k) {
  if (!k.in_group) return;
  k.in_group = false;
  if (group_pending_ > 0 && --group_pending_ == 0 && group_settled_ != nullptr) {
    Settled s = group_settled_;
    group_settled_ = nullptr;
    s(group_ctx_);
  }
}

void Retriever::on_fetched(void* ctx, const appconfig_data::Result& r) {
  KeyState& k = *static_cast<KeyState*>(ctx);
  Retriever& self = *k.owner;
  k.fetching = false;
  k.fetch = appconfig_data::FetchId{};
  uint64_t now = loop::monotonic_ms();
  cache::Key key = k.key();
  char message[400] = {};
  const uint64_t latency_ms = now - k.fetch_started_ms;
  log::Fields fields;
  fields.application = key.application;
  fields.environment = key.environment;
  fields.profile = key.profile;
  fields.ms = static_cast<int64_t>(latency_ms);
  int status = 0;
  if (r.outcome == appconfig_data::Outcome::kError) {
    fields.status = r.aws_status != 0 ? r.aws_status : r.status;
    status = self.fetch_failed(k, key, r, fields, now, message, sizeof message);
  } else {
    status = self.fetch_answered(k, key, r, fields, now, message, sizeof message);
  }
  if (metrics::on()) {
    metrics::Upstream outcome = r.outcome == appconfig_data::Outcome::kNew         ? metrics::Upstream::kChanged
                                : r.outcome == appconfig_data::Outcome::kUnchanged ? metrics::Upstream::kUnchanged
                                : r.aws_status == 429                              ? metrics::Upstream::kThrottled
                                                                                   : metrics::Upstream::kError;
    metrics::count_upstream(key, outcome, latency_ms, status == 0);  // 0: readers get bytes from the cache
  }
  // Hand the result to every reader waiting on this key.
  uint32_t index = static_cast<uint32_t>(&k - self.keys_);
  for (Waiter& w : self.waiters_) {
    if (!w.used || w.key_index != index) continue;
    w.used = false;
    w.done(w.ctx, w.ref, status, message);
  }
  self.settle_one(k);
}

// The fetch failed: readers keep the cached copy, else a backup copy, else get the error (the
// status returned; 0 when they are served from the cache).
int Retriever::fetch_failed(KeyState& k, const cache::Key& key, const appconfig_data::Result& r,
                            const log::Fields& fields, uint64_t now, char* message, size_t cap) {
  ++stats_.fetches_failed;
  ++k.failures;
  if (cache_->find(key, now) != nullptr) {
    // Readers keep the last good bytes; say so once per failure streak.
    if (!k.error_logged) {
      LOG_EVENT(kWarn, fields, "refresh failed, serving the cached copy: %s", r.message);
      k.error_logged = true;
    }
    k.next_due_ms = now + backoff_ms(k.failures);
    return 0;
  }
  if (r.retryable && fallback_ != nullptr && fallback_(fallback_ctx_, key)) {
    // Unreachable, but a backup copy is now in the cache: serve it.
    LOG_EVENT(kWarn, fields, "%s; serving the backup copy", r.message);
    k.next_due_ms = now + backoff_ms(k.failures);
    return 0;
  }
  snprintf(message, cap, "%s", r.message);
  k.last_status = r.status;
  snprintf(k.last_error, sizeof k.last_error, "%s", r.message);
  k.error_until_ms = now + (r.retryable ? kTransientErrorHoldMs : interval_ms_);
  k.next_due_ms = now + backoff_ms(k.failures);
  LOG_EVENT(kWarn, fields, "%s", r.message);
  return r.status;
}

// AppConfig answered (new bytes or unchanged): schedule the next poll and store what is new. The
// status for readers: 0 (served from the cache), or 502/507 when new bytes cannot be stored and
// nothing older is cached; message says why.
int Retriever::fetch_answered(KeyState& k, const cache::Key& key, const appconfig_data::Result& r,
                              log::Fields& fields, uint64_t now, char* message, size_t cap) {
  if (k.error_logged)
    LOG_EVENT(kInfo, fields, "%.*s:%.*s:%.*s: AWS AppConfig answers again", k.app_len, k.app, k.env_len, k.env,
              k.prof_len, k.prof);
  k.failures = 0;
  k.error_logged = false;
  k.last_status = 0;
  uint64_t wait = interval_ms_;
  if (static_cast<uint64_t>(k.session.next_poll_s) * 1000 > wait) wait = static_cast<uint64_t>(k.session.next_poll_s) * 1000;
  k.next_due_ms = now + wait;
  if (r.outcome == appconfig_data::Outcome::kUnchanged) {
    ++stats_.fetches_unchanged;
    return 0;
  }
  ++stats_.fetches_ok;
  store::Status st = store::put(*cache_, key, r.bytes, r.content_type, r.version_label, now, message, cap);
  if (st == store::Status::kStored) {
    fields.bytes = static_cast<int64_t>(r.bytes.size());
    LOG_EVENT(kInfo, fields, "%.*s:%.*s:%.*s: stored %zu bytes (%.*s%s%.*s)", k.app_len, k.app, k.env_len, k.env,
              k.prof_len, k.prof, r.bytes.size(), static_cast<int>(r.content_type.size()), r.content_type.data(),
              r.version_label.empty() ? "" : ", version ", static_cast<int>(r.version_label.size()),
              r.version_label.data());
    if (stored_ != nullptr) stored_(stored_ctx_, key, r.bytes, r.content_type, r.version_label);
    message[0] = '\0';
    return 0;
  }
  // The previous good version (if any) stays in service; readers without one get the error.
  LOG_EVENT(kError, fields, "%s", message);
  // Invalid or no room: either way the session has now "delivered" a version we do not hold, so
  // its next answer would be "unchanged" and hide it until the next deployment. A new session
  // answers with the full bytes again, to be stored once there is room.
  k.session.reset();
  if (cache_->find(key, now) == nullptr) return st == store::Status::kInvalid ? 502 : 507;
  return 0;
}

}  // namespace appconfig::retrieval
