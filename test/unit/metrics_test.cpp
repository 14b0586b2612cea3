// metrics: counting rules (first/cached/stale reads, upstream outcomes), the key bound, EMF lines
// (one per call when asked, oldest key first, deltas, valid JSON) and the Prometheus text.
#include "appconfig/agent/metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "appconfig/formats/json.h"

namespace m = appconfig::metrics;
using appconfig::cache::Key;
using appconfig::settings::Metrics;

namespace {

class Emf : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(fds_), 0);
    ASSERT_EQ(fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);
    ASSERT_TRUE(m::init(Metrics::kEmf));
  }
  void TearDown() override {
    m::init(Metrics::kOff);
    close(fds_[0]);
    close(fds_[1]);
  }
  std::vector<std::string> lines(size_t max) {
    m::write_emf(fds_[1], max, 1'700'000'000'123ull);
    std::string all;
    char buf[65536];
    ssize_t n;
    while ((n = read(fds_[0], buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    std::vector<std::string> out;
    size_t start = 0;
    while (start < all.size()) {
      size_t nl = all.find('\n', start);
      EXPECT_NE(nl, std::string::npos);
      out.push_back(all.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }
  int fds_[2] = {-1, -1};
};

std::string raw(const std::string& obj, const char* key) {
  auto v = appconfig::json::find(obj, key);
  return v ? std::string(*v) : std::string();
}

const Key kA{"App", "Env", "A"};
const Key kB{"App", "Env", "B"};

}  // namespace

TEST(MetricsOff, CountsNothing) {
  ASSERT_TRUE(m::init(Metrics::kOff));
  EXPECT_FALSE(m::on());
  m::count_read(kA, m::Read::kCached);
  m::count_upstream(kA, m::Upstream::kChanged, 5, true);
  EXPECT_FALSE(m::emf_pending());
  EXPECT_EQ(m::write_emf(1, 10, 0), 0u);
  EXPECT_TRUE(m::render_prometheus().empty());
}

TEST_F(Emf, OneLineHoldsTheDeltasAndIsValidEmf) {
  m::configure_key(kA);
  for (int i = 0; i < 5; ++i) m::count_read(kA, m::Read::kCached);
  m::count_read(kA, m::Read::kFirst);
  m::count_upstream(kA, m::Upstream::kChanged, 42, true);
  m::count_upstream(kA, m::Upstream::kUnchanged, 7, true);
  auto out = lines(1);
  ASSERT_EQ(out.size(), 1u);
  const std::string& l = out[0];
  ASSERT_EQ(appconfig::json::validate(l).error, appconfig::json::Error::kNone) << l;
  std::string aws = raw(l, "_aws");
  EXPECT_EQ(raw(aws, "Timestamp"), "1700000000123");
  std::string directives = raw(aws, "CloudWatchMetrics");
  ASSERT_FALSE(directives.empty());
  EXPECT_NE(directives.find("\"Namespace\":\"AppConfigExtension\""), std::string::npos);
  EXPECT_NE(directives.find("\"Dimensions\":[[\"application\",\"environment\",\"profile\"]]"), std::string::npos);
  EXPECT_EQ(raw(l, "application"), "\"App\"");
  EXPECT_EQ(raw(l, "profile"), "\"A\"");
  EXPECT_EQ(raw(l, "CachedReads"), "5");
  EXPECT_EQ(raw(l, "FirstReads"), "1");
  EXPECT_EQ(raw(l, "UpstreamChanged"), "1");
  EXPECT_EQ(raw(l, "UpstreamUnchanged"), "1");
  EXPECT_EQ(raw(l, "UpstreamThrottled"), "0");
  EXPECT_EQ(raw(l, "UpstreamLatency"), "[42,7]");
  // Reported once: nothing new, no line.
  EXPECT_FALSE(m::emf_pending());
  EXPECT_TRUE(lines(5).empty());
  m::count_read(kA, m::Read::kCached);
  out = lines(5);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(raw(out[0], "CachedReads"), "1");
  EXPECT_EQ(raw(out[0], "UpstreamLatency"), "");  // no calls: the metric is neither declared nor present
  EXPECT_EQ(out[0].find("\"Name\":\"UpstreamLatency\""), std::string::npos);
}

TEST_F(Emf, AtMostMaxLinesOldestKeyFirstNothingLost) {
  m::count_read(kA, m::Read::kCached);
  m::count_read(kB, m::Read::kCached);
  auto first = lines(1);
  ASSERT_EQ(first.size(), 1u);
  m::count_read(kA, m::Read::kCached);
  auto second = lines(1);  // B has waited longer than A
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(raw(first[0], "profile"), raw(second[0], "profile"));
  auto third = lines(1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(raw(third[0], "profile"), "\"A\"");
  EXPECT_EQ(raw(third[0], "CachedReads"), "1");
  EXPECT_TRUE(lines(1).empty());
}

TEST_F(Emf, StaleServesWhileTheLastRefreshFailed) {
  m::count_upstream(kA, m::Upstream::kChanged, 3, true);
  m::count_read(kA, m::Read::kCached);
  m::count_upstream(kA, m::Upstream::kThrottled, 3, true);
  m::count_read(kA, m::Read::kCached);
  m::count_read(kA, m::Read::kCached);
  m::count_upstream(kA, m::Upstream::kError, 3000, true);
  m::count_read(kA, m::Read::kCached);
  m::count_upstream(kA, m::Upstream::kUnchanged, 3, true);
  m::count_read(kA, m::Read::kCached);
  m::count_evaluation_error(kA);
  auto out = lines(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(raw(out[0], "CachedReads"), "5");
  EXPECT_EQ(raw(out[0], "StaleServes"), "3");
  EXPECT_EQ(raw(out[0], "UpstreamThrottled"), "1");
  EXPECT_EQ(raw(out[0], "UpstreamErrors"), "1");
  EXPECT_EQ(raw(out[0], "EvaluationErrors"), "1");
}

TEST_F(Emf, KeysAreBoundedOthersShareOneDimensionSet) {
  std::vector<std::string> names;
  for (size_t i = 0; i < m::kMaxKeys + 10; ++i) names.push_back("P" + std::to_string(i));
  for (const std::string& n : names) m::count_read(Key{"App", "Env", n}, m::Read::kCached);
  // A key AppConfig does not know (no cached copy) never gets its own dimensions.
  m::count_upstream(Key{"App", "Env", "made-up"}, m::Upstream::kError, 1, false);
  auto out = lines(m::kMaxKeys + 20);
  ASSERT_EQ(out.size(), m::kMaxKeys + 1);
  size_t other = 0;
  for (const std::string& l : out) {
    ASSERT_EQ(appconfig::json::validate(l).error, appconfig::json::Error::kNone) << l;
    if (raw(l, "profile") == "\"(other)\"") {
      ++other;
      EXPECT_EQ(raw(l, "CachedReads"), "10");
      EXPECT_EQ(raw(l, "UpstreamErrors"), "1");
    }
  }
  EXPECT_EQ(other, 1u);
}

TEST_F(Emf, HostileNamesStayValidJson) {
  const std::string name = std::string("a\"b\\c\n\x01\xff", 8) + std::string(120, '\x02');
  Key k{name, name, name};
  m::count_read(k, m::Read::kCached);
  m::count_upstream(k, m::Upstream::kChanged, 1, true);
  auto out = lines(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(appconfig::json::validate(out[0]).error, appconfig::json::Error::kNone) << out[0];
  EXPECT_LE(out[0].size() + 1, m::kMaxEmfLineBytes);
}

TEST(Prometheus, TextFormatOneBufferAtATime) {
  ASSERT_TRUE(m::init(Metrics::kPrometheus));
  m::count_read(kA, m::Read::kCached);
  m::count_read(kA, m::Read::kCached);
  m::count_upstream(kA, m::Upstream::kChanged, 7, true);
  m::count_upstream(kA, m::Upstream::kThrottled, 300, true);
  m::count_read(Key{"q\"x", "e\\v", "n\nl"}, m::Read::kFirst);
  std::string_view text = m::render_prometheus();
  std::string t(text);
  ASSERT_FALSE(t.empty());
  EXPECT_NE(t.find("# TYPE appconfig_cached_reads_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("appconfig_cached_reads_total{application=\"App\",environment=\"Env\",profile=\"A\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("appconfig_stale_serves_total{application=\"App\",environment=\"Env\",profile=\"A\"} 0\n"),
            std::string::npos);
  EXPECT_NE(t.find("appconfig_upstream_calls_total{application=\"App\",environment=\"Env\",profile=\"A\","
                   "outcome=\"throttled\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE appconfig_upstream_latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("appconfig_upstream_latency_seconds_bucket{application=\"App\",environment=\"Env\",profile=\"A\","
                   "le=\"0.010\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("appconfig_upstream_latency_seconds_bucket{application=\"App\",environment=\"Env\",profile=\"A\","
                   "le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("appconfig_upstream_latency_seconds_sum{application=\"App\",environment=\"Env\",profile=\"A\"} "
                   "0.307\n"),
            std::string::npos);
  EXPECT_NE(t.find("appconfig_first_reads_total{application=\"q\\\"x\",environment=\"e\\\\v\",profile=\"n\\nl\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(t.back(), '\n');
  // Every line is a comment or "name{labels} value".
  size_t start = 0;
  while (start < t.size()) {
    size_t nl = t.find('\n', start);
    std::string line = t.substr(start, nl - start);
    EXPECT_TRUE(line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0 ||
                (line.rfind("appconfig_", 0) == 0 && line.find("} ") != std::string::npos))
        << line;
    start = nl + 1;
  }
  EXPECT_TRUE(m::render_prometheus().empty());  // held until the reply is written
  m::release_prometheus();
  EXPECT_FALSE(m::render_prometheus().empty());
  m::release_prometheus();
  m::init(Metrics::kOff);
}
