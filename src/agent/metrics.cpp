// metrics: see include/appconfig/agent/metrics.h and docs/metrics.md.
#include "appconfig/agent/metrics.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "appconfig/core/log.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/utf8.h"

namespace appconfig::metrics {

namespace detail {
bool g_on = false;
}

namespace {

// AppConfig names and IDs are 1..128 characters (spec §1); longer keys go to kOtherName.
constexpr size_t kMaxName = 128;

enum Counter : uint8_t {
  kCachedReads,
  kFirstReads,
  kStaleServes,
  kEvaluationErrors,
  kUpstreamChanged,
  kUpstreamUnchanged,
  kUpstreamThrottled,
  kUpstreamError,
  kNumCounters,
};

// EMF metric names, in Counter order.
constexpr const char* kEmfNames[kNumCounters] = {
    "CachedReads",     "FirstReads",        "StaleServes",       "EvaluationErrors",
    "UpstreamChanged", "UpstreamUnchanged", "UpstreamThrottled", "UpstreamErrors",
};

struct Slot {
  bool used;
  bool stale;  // the last upstream call for this key failed; reads get the cached copy
  uint8_t app_len, env_len, prof_len;
  uint64_t hash;
  char app[kMaxName], env[kMaxName], prof[kMaxName];
  uint64_t total[kNumCounters];    // since start (Prometheus)
  uint64_t emitted[kNumCounters];  // what EMF lines have reported so far
  uint64_t latency_count, latency_sum_ms;
  uint64_t buckets[kNumBuckets];   // calls with latency <= kLatencyBucketsMs[i] (not cumulative)
  uint32_t samples[kMaxLatencySamples];
  uint32_t num_samples;
  uint64_t last_line_seq;          // order of EMF lines: the oldest pending key goes first
};

settings::Metrics g_mode = settings::Metrics::kOff;
Slot g_slots[kMaxKeys + 1];  // [kMaxKeys] is kOtherName
size_t g_used = 0;
uint64_t g_line_seq = 0;
char* g_prom = nullptr;  // kMaxPrometheusBytes, reserved at init in Prometheus mode
bool g_prom_held = false;

Slot& other() { return g_slots[kMaxKeys]; }

uint64_t key_hash(const cache::Key& k) {
  uint64_t h = cache::fnv1a_64(cache::kFnvOffset, k.application);
  h = cache::fnv1a_64(h, std::string_view("\0", 1));  // "ab"+"c" must differ from "a"+"bc"
  h = cache::fnv1a_64(h, k.environment);
  h = cache::fnv1a_64(h, std::string_view("\0", 1));
  return cache::fnv1a_64(h, k.profile);
}

std::string_view app_of(const Slot& s) { return &s == &other() ? kOtherName : std::string_view(s.app, s.app_len); }
std::string_view env_of(const Slot& s) { return &s == &other() ? kOtherName : std::string_view(s.env, s.env_len); }
std::string_view prof_of(const Slot& s) { return &s == &other() ? kOtherName : std::string_view(s.prof, s.prof_len); }

// The key's slot; a new one only when allowed and room is left; else the kOtherName slot.
Slot& slot_for(const cache::Key& k, bool may_add) {
  if (k.application.size() > kMaxName || k.environment.size() > kMaxName || k.profile.size() > kMaxName)
    return other();
  uint64_t h = key_hash(k);
  for (size_t i = 0; i < g_used; ++i) {
    Slot& s = g_slots[i];
    if (s.hash == h && s.app_len == k.application.size() && s.env_len == k.environment.size() &&
        s.prof_len == k.profile.size() && memcmp(s.app, k.application.data(), s.app_len) == 0 &&
        memcmp(s.env, k.environment.data(), s.env_len) == 0 && memcmp(s.prof, k.profile.data(), s.prof_len) == 0)
      return s;
  }
  if (!may_add || g_used == kMaxKeys) return other();
  Slot& s = g_slots[g_used++];
  s.used = true;
  s.hash = h;
  s.app_len = static_cast<uint8_t>(k.application.size());
  s.env_len = static_cast<uint8_t>(k.environment.size());
  s.prof_len = static_cast<uint8_t>(k.profile.size());
  memcpy(s.app, k.application.data(), s.app_len);
  memcpy(s.env, k.environment.data(), s.env_len);
  memcpy(s.prof, k.profile.data(), s.prof_len);
  return s;
}

bool pending(const Slot& s) {
  if (s.num_samples > 0) return true;
  for (size_t c = 0; c < kNumCounters; ++c)
    if (s.total[c] != s.emitted[c]) return true;
  return false;
}

// Bounded appends into a fixed buffer; `ok` turns false (and stays) when something did not fit.
struct Out {
  char* p;
  size_t cap;
  size_t n = 0;
  bool ok = true;

  void raw(std::string_view s) {
    if (!ok || s.size() > cap - n) {
      ok = false;
      return;
    }
    memcpy(p + n, s.data(), s.size());
    n += s.size();
  }
  void fmt(const char* f, ...) __attribute__((format(printf, 2, 3))) {
    if (!ok) return;
    va_list ap;
    va_start(ap, f);
    int w = vsnprintf(p + n, cap - n, f, ap);
    va_end(ap);
    if (w < 0 || static_cast<size_t>(w) >= cap - n) {
      ok = false;
      return;
    }
    n += static_cast<size_t>(w);
  }
  void json_string(std::string_view s) {
    raw("\"");
    if (!ok) return;
    bool cut = false;
    n += log::json_text(s, p + n, cap - n, &cut);
    if (cut) ok = false;
    raw("\"");
  }
  // Prometheus label value (text format 0.0.4): \\, \" and \n escaped; not UTF-8 -> U+FFFD.
  void label_value(std::string_view s) {
    const auto* b = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size() && ok;) {
      uint32_t cp = 0;
      size_t len = utf8::decode(b, s.size(), i, cp);
      if (len == 0) {
        raw("\xef\xbf\xbd");
        ++i;
        continue;
      }
      if (cp == '\\') raw("\\\\");
      else if (cp == '"') raw("\\\"");
      else if (cp == '\n') raw("\\n");
      else raw(s.substr(i, len));
      i += len;
    }
  }
};

void write_all(int fd, const char* p, size_t n) {
  sysfile::write_full(fd, p, n);  // stdout gone: metrics are best effort, never a reason to stop serving
}

// One EMF document (CloudWatch embedded metric format specification): _aws.Timestamp, one
// MetricDirective with the namespace, one dimension set and every metric, then the target members.
bool emf_line(const Slot& s, uint64_t wall_ms, Out& o) {
  o.fmt("{\"_aws\":{\"Timestamp\":%llu,\"CloudWatchMetrics\":[{\"Namespace\":\"%.*s\",", 
        static_cast<unsigned long long>(wall_ms), static_cast<int>(kNamespace.size()), kNamespace.data());
  o.raw("\"Dimensions\":[[\"application\",\"environment\",\"profile\"]],\"Metrics\":[");
  for (size_t c = 0; c < kNumCounters; ++c) o.fmt("%s{\"Name\":\"%s\",\"Unit\":\"Count\"}", c ? "," : "", kEmfNames[c]);
  if (s.num_samples > 0) o.raw(",{\"Name\":\"UpstreamLatency\",\"Unit\":\"Milliseconds\"}");
  o.raw("]}]},\"application\":");
  o.json_string(app_of(s));
  o.raw(",\"environment\":");
  o.json_string(env_of(s));
  o.raw(",\"profile\":");
  o.json_string(prof_of(s));
  for (size_t c = 0; c < kNumCounters; ++c)
    o.fmt(",\"%s\":%llu", kEmfNames[c], static_cast<unsigned long long>(s.total[c] - s.emitted[c]));
  if (s.num_samples > 0) {
    o.raw(",\"UpstreamLatency\":[");
    for (uint32_t i = 0; i < s.num_samples; ++i) o.fmt("%s%u", i ? "," : "", s.samples[i]);
    o.raw("]");
  }
  o.raw("}\n");
  return o.ok;
}

void prom_labels(Out& o, const Slot& s) {
  o.raw("application=\"");
  o.label_value(app_of(s));
  o.raw("\",environment=\"");
  o.label_value(env_of(s));
  o.raw("\",profile=\"");
  o.label_value(prof_of(s));
  o.raw("\"");
}

// Visits the slots that have something to show: every keyed slot, and kOtherName once used.
template <class F>
void for_each_slot(F&& f) {
  for (size_t i = 0; i < g_used; ++i) f(g_slots[i]);
  const Slot& o = other();
  bool used = o.latency_count > 0;
  for (size_t c = 0; c < kNumCounters; ++c) used = used || o.total[c] > 0;
  if (used) f(o);
}

}  // namespace

bool init(settings::Metrics m) {
  memset(static_cast<void*>(g_slots), 0, sizeof g_slots);
  g_used = 0;
  g_line_seq = 0;
  g_prom_held = false;
  g_mode = m;
  detail::g_on = m != settings::Metrics::kOff;
  if (m == settings::Metrics::kPrometheus && g_prom == nullptr) {
    void* mem = mmap(nullptr, kMaxPrometheusBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (mem == MAP_FAILED) {
      detail::g_on = false;
      g_mode = settings::Metrics::kOff;
      return false;
    }
    g_prom = static_cast<char*>(mem);
  }
  return true;
}

settings::Metrics mode() { return g_mode; }

void configure_key(const cache::Key& key) {
  if (detail::g_on) slot_for(key, true);
}

void count_read(const cache::Key& key, Read kind) {
  if (!detail::g_on) return;
  Slot& s = slot_for(key, true);  // a 200 answer: the key has a configuration
  if (kind == Read::kFirst) {
    ++s.total[kFirstReads];
    return;
  }
  ++s.total[kCachedReads];
  if (s.stale) ++s.total[kStaleServes];
}

void count_evaluation_error(const cache::Key& key) {
  if (detail::g_on) ++slot_for(key, true).total[kEvaluationErrors];
}

void count_upstream(const cache::Key& key, Upstream outcome, uint64_t latency_ms, bool cached) {
  if (!detail::g_on) return;
  Slot& s = slot_for(key, cached);
  switch (outcome) {
    case Upstream::kChanged: ++s.total[kUpstreamChanged]; break;
    case Upstream::kUnchanged: ++s.total[kUpstreamUnchanged]; break;
    case Upstream::kThrottled: ++s.total[kUpstreamThrottled]; break;
    case Upstream::kError: ++s.total[kUpstreamError]; break;
  }
  if (&s != &other()) s.stale = cached && (outcome == Upstream::kThrottled || outcome == Upstream::kError);
  ++s.latency_count;
  s.latency_sum_ms += latency_ms;
  for (size_t b = 0; b < kNumBuckets; ++b) {
    if (latency_ms <= kLatencyBucketsMs[b]) {
      ++s.buckets[b];
      break;
    }
  }
  if (s.num_samples < kMaxLatencySamples)
    s.samples[s.num_samples++] = latency_ms > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(latency_ms);
}

bool emf_pending() {
  if (g_mode != settings::Metrics::kEmf) return false;
  bool any = false;
  for_each_slot([&](const Slot& s) { any = any || pending(s); });
  return any;
}

size_t write_emf(int fd, size_t max_lines, uint64_t wall_ms) {
  if (g_mode != settings::Metrics::kEmf) return 0;
  size_t lines = 0;
  while (lines < max_lines) {
    Slot* next = nullptr;
    for_each_slot([&](const Slot& cs) {
      Slot& s = const_cast<Slot&>(cs);
      if (pending(s) && (next == nullptr || s.last_line_seq < next->last_line_seq)) next = &s;
    });
    if (next == nullptr) break;
    char line[kMaxEmfLineBytes];
    Out o{line, sizeof line};
    if (emf_line(*next, wall_ms, o)) write_all(fd, line, o.n);
    // Even a line that could not be built (it cannot: names are bounded) must not be retried forever.
    memcpy(next->emitted, next->total, sizeof next->emitted);
    next->num_samples = 0;
    next->last_line_seq = ++g_line_seq;
    ++lines;
  }
  return lines;
}

std::string_view render_prometheus() {
  if (g_mode != settings::Metrics::kPrometheus || g_prom == nullptr || g_prom_held) return {};
  Out o{g_prom, kMaxPrometheusBytes};
  struct Family {
    const char* name;
    const char* help;
    Counter counter;
  };
  static constexpr Family kFamilies[] = {
      {"appconfig_cached_reads_total", "Reads answered from the cache.", kCachedReads},
      {"appconfig_first_reads_total", "Reads that waited for the first fetch of their configuration.", kFirstReads},
      {"appconfig_stale_serves_total", "Cached reads served while the last refresh of the key had failed.",
       kStaleServes},
      {"appconfig_evaluation_errors_total", "Reads of multi-variant flags whose rules could not be evaluated.",
       kEvaluationErrors},
  };
  for (const Family& f : kFamilies) {
    o.fmt("# HELP %s %s\n# TYPE %s counter\n", f.name, f.help, f.name);
    for_each_slot([&](const Slot& s) {
      o.fmt("%s{", f.name);
      prom_labels(o, s);
      o.fmt("} %llu\n", static_cast<unsigned long long>(s.total[f.counter]));
    });
  }
  static constexpr const char* kOutcomes[] = {"changed", "unchanged", "throttled", "error"};
  o.raw("# HELP appconfig_upstream_calls_total Calls to AWS AppConfig by outcome.\n"
        "# TYPE appconfig_upstream_calls_total counter\n");
  for_each_slot([&](const Slot& s) {
    for (size_t i = 0; i < 4; ++i) {
      o.raw("appconfig_upstream_calls_total{");
      prom_labels(o, s);
      o.fmt(",outcome=\"%s\"} %llu\n", kOutcomes[i], static_cast<unsigned long long>(s.total[kUpstreamChanged + i]));
    }
  });
  o.raw("# HELP appconfig_upstream_latency_seconds Time from a fetch's start to its answer.\n"
        "# TYPE appconfig_upstream_latency_seconds histogram\n");
  for_each_slot([&](const Slot& s) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kNumBuckets; ++b) {
      cumulative += s.buckets[b];
      o.raw("appconfig_upstream_latency_seconds_bucket{");
      prom_labels(o, s);
      o.fmt(",le=\"%llu.%03llu\"} %llu\n", static_cast<unsigned long long>(kLatencyBucketsMs[b] / 1000),
            static_cast<unsigned long long>(kLatencyBucketsMs[b] % 1000), static_cast<unsigned long long>(cumulative));
    }
    o.raw("appconfig_upstream_latency_seconds_bucket{");
    prom_labels(o, s);
    o.fmt(",le=\"+Inf\"} %llu\n", static_cast<unsigned long long>(s.latency_count));
    o.raw("appconfig_upstream_latency_seconds_sum{");
    prom_labels(o, s);
    o.fmt("} %llu.%03llu\n", static_cast<unsigned long long>(s.latency_sum_ms / 1000),
          static_cast<unsigned long long>(s.latency_sum_ms % 1000));
    o.raw("appconfig_upstream_latency_seconds_count{");
    prom_labels(o, s);
    o.fmt("} %llu\n", static_cast<unsigned long long>(s.latency_count));
  });
  if (!o.ok) return {};  // cannot happen within the bounds above; an empty answer is a 500 upstairs
  g_prom_held = true;
  return {g_prom, o.n};
}

void release_prometheus() { g_prom_held = false; }

}  // namespace appconfig::metrics
