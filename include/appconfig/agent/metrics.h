// metrics: opt-in counters of what the extension did, per configuration key (docs/metrics.md).
//
// Owns: the counters (cached reads, first reads, stale serves, evaluation errors, upstream calls
// by outcome, upstream latency), the bounded table of keys they are kept for, and the two ways
// out: CloudWatch Embedded Metric Format lines (one JSON object per line, written with one
// write(2) to the fd given) and the Prometheus text exposition format 0.0.4 (GET /metrics).
// Knows nothing of sockets, HTTP or the loop: callers count, main decides when EMF lines go out,
// service renders /metrics into the buffer this module owns.
//
// Bounds: kMaxKeys keys get their own dimension set / label set; every other key is counted under
// kOtherName, so a caller reading made-up paths cannot grow the metric cardinality. Keys get a
// slot when configured (prefetch list, manifest) or once their configuration is in the cache;
// reads that fail and keys AppConfig does not know go to kOtherName.
// Hot path: count_read() and friends take a key, hash it (FNV-1a) and scan at most kMaxKeys slots:
// no allocation, no system call. When metrics are off they return after one branch.
// Single-threaded; all state is static (about 40 KiB), the Prometheus buffer is reserved with
// mmap(MAP_NORESERVE) at init and touched only when rendered.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/agent/cache.h"
#include "appconfig/core/settings.h"

namespace appconfig::metrics {

// Keys with their own dimensions: far more than one function reads, few enough that a scrape or
// a round of EMF lines stays small (each key is one EMF line, ~30 Prometheus samples).
constexpr size_t kMaxKeys = 32;
// Dimension value used for every key beyond kMaxKeys or without a cached configuration.
constexpr std::string_view kOtherName = "(other)";
// Upstream latencies kept per key between two EMF lines (EMF allows 100 values per metric; a
// Lambda key is refreshed at most once per invoke). Later ones until the next line are dropped
// from EMF (the counters still count the calls).
constexpr size_t kMaxLatencySamples = 32;
// The CloudWatch namespace of the EMF metrics.
constexpr std::string_view kNamespace = "AppConfigExtension";
// One EMF line: fixed metadata (~700 bytes) + three escaped names (<= 128 bytes each, 6 bytes per
// escaped byte at worst) + values.
constexpr size_t kMaxEmfLineBytes = 8192;
// Prometheus histogram buckets for the upstream latency, in milliseconds (the le labels are
// seconds, as Prometheus expects). Above the last: +Inf.
constexpr uint64_t kLatencyBucketsMs[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
constexpr size_t kNumBuckets = sizeof kLatencyBucketsMs / sizeof kLatencyBucketsMs[0];
// The whole /metrics answer at worst: (kMaxKeys + 1) keys x ~40 lines x ~1 KiB with the longest
// escaped names; reserved, touched only as written.
constexpr size_t kMaxPrometheusBytes = (kMaxKeys + 1) * 40 * 1024;

enum class Read : uint8_t {
  kCached,  // answered from the cache
  kFirst,   // waited for a fetch (first read of a key), then answered
};
enum class Upstream : uint8_t { kChanged, kUnchanged, kThrottled, kError };

// Turns metrics on (kEmf / kPrometheus) or off. False when the Prometheus buffer cannot be
// reserved. Calling it again resets every counter (tests).
bool init(settings::Metrics mode);
settings::Metrics mode();
inline bool on();

// A key listed in the configuration (prefetch list, manifest): gets a slot now, if any is left.
void configure_key(const cache::Key& key);
// A read answered 200. A cached read of a key whose last refresh failed is also a stale serve.
void count_read(const cache::Key& key, Read kind);
// A multi-variant profile whose rules could not be evaluated for a read (answered 500).
void count_evaluation_error(const cache::Key& key);
// One GetLatestConfiguration (or session start) settled after latency_ms. `cached` says whether the
// key has a configuration in the cache now (else it is counted under kOtherName). A failed call
// marks a cached key stale until the next success.
void count_upstream(const cache::Key& key, Upstream outcome, uint64_t latency_ms, bool cached);

// EMF: writes at most max_lines lines to fd, one per key with something new since its last line
// (oldest first), each with the counts since then. wall_ms is the _aws.Timestamp. Returns the
// number of lines written. Keys not written keep their counts for the next call.
size_t write_emf(int fd, size_t max_lines, uint64_t wall_ms);
// True when some key has counts not yet written as EMF.
bool emf_pending();

// Prometheus text format 0.0.4 of the cumulative counters into the module's one buffer. The view
// stays valid until release_prometheus(); while it is held (a reply still being written) another
// render returns an empty view, as it does when metrics are not in Prometheus mode.
std::string_view render_prometheus();
void release_prometheus();

// ---- internals for the inline fast check
namespace detail {
extern bool g_on;
}
inline bool on() { return detail::g_on; }

}  // namespace appconfig::metrics
