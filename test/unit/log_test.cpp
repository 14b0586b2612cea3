// log: level filtering, line format, truncation at UTF-8 boundaries, control-byte escaping,
// one write(2) per line, observed through a real pipe.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/core/log.h"

#include "appconfig/formats/json.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <random>
#include <string>

using appconfig::settings::LogLevel;
namespace alog = appconfig::log;

namespace {

const LogLevel kLevels[] = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                            LogLevel::kError, LogLevel::kFatal, LogLevel::kNone};

// A non-blocking pipe the logger writes into; drain() returns everything written so far.
class LogPipe : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(fds_), 0);
    ASSERT_EQ(fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);
  }
  void TearDown() override {
    alog::init(LogLevel::kInfo, 2, alog::Timestamp::kNone);
    close(fds_[0]);
    close(fds_[1]);
  }
  int wfd() const { return fds_[1]; }
  std::string drain() {
    std::string out;
    char buf[8192];
    while (true) {
      ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads exactly one write's worth: a pipe read returns at most what one write put in when the
  // writer wrote once and nothing else is queued.
  int fds_[2] = {-1, -1};
};

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

}  // namespace

TEST_F(LogPipe, LambdaFormatHasNoTimestamp) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone);
  LOG_INFO("hello %s %d", "world", 42);
  LOG_WARN("careful");
  LOG_ERROR("broken: %s", "x");
  LOG_FATAL("dead");
  EXPECT_EQ(drain(),
            "[appconfig-extension] INFO hello world 42\n"
            "[appconfig-extension] WARN careful\n"
            "[appconfig-extension] ERROR broken: x\n"
            "[appconfig-extension] FATAL dead\n");
}

TEST_F(LogPipe, AgentFormatHasIso8601UtcTimestamp) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kIso8601Utc);
  time_t before = time(nullptr);
  LOG_INFO("stamped");
  time_t after = time(nullptr);
  std::string line = drain();
  // "YYYY-MM-DDTHH:MM:SS.mmmZ [appconfig-extension] INFO stamped\n", checked character class by class.
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ ";
  ASSERT_GT(line.size(), shape.size()) << line;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd') {
      ASSERT_TRUE(line[i] >= '0' && line[i] <= '9') << line;
    } else {
      ASSERT_EQ(line[i], shape[i]) << line;
    }
  }
  EXPECT_EQ(line.substr(shape.size()), "[appconfig-extension] INFO stamped\n");
  tm t{};
  t.tm_year = std::stoi(line.substr(0, 4)) - 1900;
  t.tm_mon = std::stoi(line.substr(5, 2)) - 1;
  t.tm_mday = std::stoi(line.substr(8, 2));
  t.tm_hour = std::stoi(line.substr(11, 2));
  t.tm_min = std::stoi(line.substr(14, 2));
  t.tm_sec = std::stoi(line.substr(17, 2));
  time_t stamped = timegm(&t);
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, after);
}

TEST_F(LogPipe, BoolInitOverloadMeansTimestamps) {
  alog::init(LogLevel::kInfo, wfd(), true);
  LOG_INFO("x");
  std::string a = drain();
  EXPECT_EQ(a.find("[appconfig-extension]"), 25u) << a;  // "YYYY-MM-DDTHH:MM:SS.mmmZ " is 25 bytes
  alog::init(LogLevel::kInfo, wfd(), false);
  LOG_INFO("x");
  EXPECT_EQ(drain(), "[appconfig-extension] INFO x\n");
}

TEST_F(LogPipe, LevelFilteringEveryPair) {
  for (LogLevel configured : kLevels) {
    alog::init(configured, wfd(), alog::Timestamp::kNone);
    for (LogLevel line : kLevels) {
      bool want = configured != LogLevel::kNone && line != LogLevel::kNone &&
                  static_cast<int>(line) >= static_cast<int>(configured);
      EXPECT_EQ(alog::enabled(line), want) << static_cast<int>(configured) << " " << static_cast<int>(line);
      alog::write(line, "m");
      std::string out = drain();
      if (want) {
        EXPECT_EQ(out, std::string("[appconfig-extension] ") + alog::level_label(line) + " m\n");
      } else {
        EXPECT_EQ(out, "");
      }
    }
  }
}

TEST_F(LogPipe, MacrosDoNotEvaluateArgumentsWhenDisabled) {
  alog::init(LogLevel::kError, wfd(), alog::Timestamp::kNone);
  int evaluated = 0;
  auto side = [&] { return ++evaluated; };
  LOG_TRACE("%d", side());
  LOG_DEBUG("%d", side());
  LOG_INFO("%d", side());
  LOG_WARN("%d", side());
  EXPECT_EQ(evaluated, 0);
  LOG_ERROR("%d", side());
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(drain(), "[appconfig-extension] ERROR 1\n");
  // Usable as a single statement in an unbraced if/else.
  if (evaluated == 1)
    LOG_FATAL("a");
  else
    LOG_FATAL("b");
  EXPECT_EQ(drain(), "[appconfig-extension] FATAL a\n");
}

TEST_F(LogPipe, ControlBytesBecomeSpaces) {
  alog::init(LogLevel::kTrace, wfd(), alog::Timestamp::kNone);
  LOG_INFO("a\nb\r\nc%sd\te\x1b[31mf", "\n[appconfig-extension] FATAL forged\n");
  EXPECT_EQ(drain(), "[appconfig-extension] INFO a b  c [appconfig-extension] FATAL forged d\te [31mf\n");
  // An embedded NUL from %c does not end the line early.
  LOG_INFO("x%cy", 0);
  EXPECT_EQ(drain(), "[appconfig-extension] INFO x y\n");
  LOG_INFO("%s", "");
  EXPECT_EQ(drain(), "[appconfig-extension] INFO \n");
}

TEST_F(LogPipe, LongLinesTruncatedWithEllipsisInOneWrite) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kIso8601Utc);
  std::string big(10000, 'x');
  LOG_INFO("%s", big.c_str());
  // One write: a single read of the pipe returns the whole line and nothing else is queued.
  char buf[8192];
  ssize_t n = read(fds_[0], buf, sizeof buf);
  ASSERT_EQ(n, static_cast<ssize_t>(alog::kMaxLineBytes));
  std::string line(buf, static_cast<size_t>(n));
  EXPECT_EQ(drain(), "");
  EXPECT_EQ(line.substr(line.size() - 4), "\xe2\x80\xa6\n");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST_F(LogPipe, ExactFitIsNotTruncated) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone);
  const std::string prefix = "[appconfig-extension] INFO ";
  // The message may use everything except the room kept for "…\n".
  size_t room = alog::kMaxLineBytes - prefix.size() - 3 - 1;
  std::string fits(room, 'y');
  LOG_INFO("%s", fits.c_str());
  EXPECT_EQ(drain(), prefix + fits + "\n");
  std::string over(room + 1, 'y');
  LOG_INFO("%s", over.c_str());
  EXPECT_EQ(drain(), prefix + fits + "\xe2\x80\xa6\n");
}

TEST_F(LogPipe, TruncationNeverSplitsUtf8Random) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const char* chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};  // 1..4-byte sequences
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone);
  for (int iter = 0; iter < 300; ++iter) {
    std::string msg;
    size_t target = 1900 + rng() % 400;
    while (msg.size() < target) msg += chars[rng() % 4];
    LOG_INFO("%s", msg.c_str());
    std::string line = drain();
    ASSERT_LE(line.size(), alog::kMaxLineBytes);
    ASSERT_TRUE(valid_utf8(line)) << "iteration " << iter;
    ASSERT_EQ(line.back(), '\n');
    std::string body = line.substr(27, line.size() - 28);  // after "[appconfig-extension] INFO "
    constexpr std::string_view kEll = "\xe2\x80\xa6";
    if (body.size() >= 3 && std::string_view(body).substr(body.size() - 3) == kEll &&
        msg.substr(0, body.size()) != body) {
      body.resize(body.size() - 3);
      ASSERT_LT(body.size(), msg.size());
      // The kept part is a prefix of the message and loses at most one character (< 4 bytes)
      // beyond what fits.
      ASSERT_EQ(msg.compare(0, body.size(), body), 0);
      ASSERT_GE(body.size() + 3, alog::kMaxLineBytes - 27 - 4 - 3);
    } else {
      ASSERT_EQ(body, msg);
    }
  }
}

TEST_F(LogPipe, LevelNoneAndLabels) {
  alog::init(LogLevel::kNone, wfd(), alog::Timestamp::kNone);
  LOG_FATAL("never");
  alog::write(LogLevel::kFatal, "never");
  EXPECT_EQ(drain(), "");
  alog::init(LogLevel::kTrace, wfd(), alog::Timestamp::kNone);
  alog::write(LogLevel::kNone, "never");  // kNone is not a line level
  EXPECT_EQ(drain(), "");
  EXPECT_STREQ(alog::level_label(LogLevel::kTrace), "TRACE");
  EXPECT_STREQ(alog::level_label(LogLevel::kNone), "NONE");
}

TEST_F(LogPipe, BadFdIsSilentlyDropped) {
  alog::init(LogLevel::kInfo, -1, alog::Timestamp::kNone);
  LOG_INFO("nowhere");  // EBADF: dropped, no crash
  int closed = dup(wfd());
  ASSERT_GE(closed, 0);
  close(closed);
  alog::init(LogLevel::kInfo, closed, alog::Timestamp::kNone);
  LOG_ERROR("nowhere either");
  SUCCEED();
}

TEST_F(LogPipe, ManyLinesStayWhole) {
  // Lines written back to back never interleave or merge: each ends in exactly one '\n'.
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kIso8601Utc);
  std::string all;
  for (int i = 0; i < 200; ++i) {
    LOG_INFO("line %d %s", i, std::string(static_cast<size_t>(i) * 7, 'z').c_str());
    all += drain();
  }
  size_t lines = 0, pos = 0;
  while ((pos = all.find('\n', pos)) != std::string::npos) {
    ++lines;
    ++pos;
  }
  EXPECT_EQ(lines, 200u);
  EXPECT_NE(all.find("INFO line 199 "), std::string::npos);
}

// ---------------------------------------------------------------- JSON lines

namespace {

using appconfig::settings::LogFormat;

// The string value of a top-level member ("" when absent); the line must be valid JSON first.
std::string member(const std::string& line, const char* key) {
  auto v = appconfig::json::find(line, key);
  if (!v) return "";
  std::string_view raw = *v;
  if (!raw.empty() && raw.front() == '"') {
    std::string out(raw.size(), '\0');
    long n = appconfig::json::decode_string(raw, out.data(), out.size());
    if (n < 0) return "<bad string>";
    out.resize(static_cast<size_t>(n));
    return out;
  }
  return std::string(raw);
}

void expect_json_line(const std::string& line) {
  ASSERT_FALSE(line.empty());
  ASSERT_EQ(line.back(), '\n') << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  auto r = appconfig::json::validate(std::string_view(line).substr(0, line.size() - 1));
  EXPECT_EQ(r.error, appconfig::json::Error::kNone) << appconfig::json::error_message(r.error) << " at " << r.offset
                                                     << ": " << line;
  EXPECT_EQ(line.front(), '{') << line;
}

}  // namespace

TEST_F(LogPipe, JsonLineHasTheRequiredMembers) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone, LogFormat::kJson);
  LOG_WARN("careful: %d", 7);
  std::string line = drain();
  expect_json_line(line);
  EXPECT_EQ(member(line, "level"), "WARN");
  EXPECT_EQ(member(line, "message"), "careful: 7");
  EXPECT_EQ(member(line, "logger"), "appconfig-extension");
  std::string ts = member(line, "timestamp");
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";  // RFC 3339 with milliseconds, UTC
  ASSERT_EQ(ts.size(), shape.size()) << ts;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd') {
      EXPECT_TRUE(ts[i] >= '0' && ts[i] <= '9') << ts;
    } else {
      EXPECT_EQ(ts[i], shape[i]) << ts;
    }
  }
  EXPECT_EQ(member(line, "application"), "");  // no fields: none printed
}

TEST_F(LogPipe, JsonFieldsAndTextIgnoresThem) {
  alog::Fields f;
  f.application = "App";
  f.environment = "Env \"quoted\"";
  f.profile = "Pro\nfile";
  f.status = 429;
  f.bytes = 0;
  f.ms = 12;
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone, LogFormat::kJson);
  LOG_EVENT(kInfo, f, "stored %d", 1);
  std::string line = drain();
  expect_json_line(line);
  EXPECT_EQ(member(line, "application"), "App");
  EXPECT_EQ(member(line, "environment"), "Env \"quoted\"");
  EXPECT_EQ(member(line, "profile"), "Pro\nfile");
  EXPECT_EQ(member(line, "status"), "429");
  EXPECT_EQ(member(line, "bytes"), "0");
  EXPECT_EQ(member(line, "ms"), "12");
  alog::Fields absent;
  absent.application = "A";
  LOG_EVENT(kInfo, absent, "x");
  line = drain();
  expect_json_line(line);
  EXPECT_EQ(member(line, "status"), "");
  EXPECT_EQ(member(line, "bytes"), "");
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone, LogFormat::kText);
  LOG_EVENT(kInfo, f, "stored %d", 1);
  EXPECT_EQ(drain(), "[appconfig-extension] INFO stored 1\n");
  LOG_EVENT(kDebug, f, "filtered");
  EXPECT_EQ(drain(), "");
}

TEST_F(LogPipe, JsonEscapesControlBytesAndReplacesBadUtf8) {
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone, LogFormat::kJson);
  LOG_INFO("a\nb\"c\\d\x01e\x7f \xff\xc3(\xe2\x82 ok \xc3\xa9%s", "\n{\"level\":\"FATAL\"}");
  std::string line = drain();
  expect_json_line(line);
  EXPECT_EQ(member(line, "message"),
            "a\nb\"c\\d\x01e\x7f \xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9\n{\"level\":\"FATAL\"}");
  EXPECT_EQ(member(line, "level"), "INFO");
}

TEST_F(LogPipe, JsonLongLinesStayValidRandom) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  // Quotes and control bytes expand 2-6x when escaped; names at their 128-byte maximum, all escaped.
  const char* pieces[] = {"a", "\"", "\\", "\x01", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff", "\n"};
  std::string worst_name(128, '\x02');
  alog::Fields f;
  f.application = worst_name;
  f.environment = worst_name;
  f.profile = worst_name;
  f.status = 500;
  f.bytes = 4 << 20;
  f.ms = 3000;
  alog::init(LogLevel::kInfo, wfd(), alog::Timestamp::kNone, LogFormat::kJson);
  for (int iter = 0; iter < 300; ++iter) {
    std::string msg;
    size_t target = 100 + rng() % 4000;
    while (msg.size() < target) msg += pieces[rng() % 8];
    if (iter % 2) {
      LOG_EVENT(kError, f, "%s", msg.c_str());
    } else {
      LOG_ERROR("%s", msg.c_str());
    }
    std::string line = drain();
    ASSERT_LE(line.size(), alog::kMaxLineBytes);
    expect_json_line(line);
    EXPECT_EQ(member(line, "logger"), "appconfig-extension");
    if (iter % 2) {
      EXPECT_EQ(member(line, "ms"), "3000");
    }
  }
}

TEST_F(LogPipe, WriteToIgnoresTheLevelAndUsesTheFormat) {
  alog::init(LogLevel::kNone, 2, alog::Timestamp::kNone, LogFormat::kJson);
  alog::write_to(wfd(), LogLevel::kFatal, "bad %s", "setting");
  std::string line = drain();
  expect_json_line(line);
  EXPECT_EQ(member(line, "level"), "FATAL");
  EXPECT_EQ(member(line, "message"), "bad setting");
  alog::init(LogLevel::kNone, 2, alog::Timestamp::kNone, LogFormat::kText);
  alog::write_to(wfd(), LogLevel::kFatal, "bad");
  EXPECT_EQ(drain(), "[appconfig-extension] FATAL bad\n");
}
