// log: see include/appconfig/log.h.
#include "appconfig/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace appconfig::log {
namespace {

using settings::LogLevel;

constexpr const char kPrefix[] = "[appconfig-extension] ";
// U+2026 HORIZONTAL ELLIPSIS in UTF-8, marks a truncated line.
constexpr const char kEllipsis[] = "\xe2\x80\xa6";
constexpr size_t kEllipsisBytes = sizeof kEllipsis - 1;

struct State {
  LogLevel level = LogLevel::kInfo;
  int fd = 2;
  Timestamp timestamp = Timestamp::kNone;
};
State g_state;

// "2026-01-02T03:04:05.678Z " (RFC 3339 §5.6 with millisecond fraction). Returns bytes written.
size_t format_timestamp(char* out, size_t cap) {
  timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  tm utc;
  if (gmtime_r(&ts.tv_sec, &utc) == nullptr) return 0;
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                   utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1'000'000);
  if (n < 0 || static_cast<size_t>(n) >= cap) return 0;
  return static_cast<size_t>(n);
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void init(LogLevel level, int fd, Timestamp timestamp) {
  g_state.level = level;
  g_state.fd = fd;
  g_state.timestamp = timestamp;
}

bool enabled(LogLevel l) {
  return l != LogLevel::kNone && g_state.level != LogLevel::kNone &&
         static_cast<uint8_t>(l) >= static_cast<uint8_t>(g_state.level);
}

const char* level_label(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return "TRACE";
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kFatal: return "FATAL";
    case LogLevel::kNone: return "NONE";
  }
  return "NONE";
}

void write(LogLevel l, const char* fmt, ...) {
  if (!enabled(l)) return;
  char line[kMaxLineBytes];
  size_t n = 0;
  if (g_state.timestamp == Timestamp::kIso8601Utc) n = format_timestamp(line, sizeof line);
  int p = snprintf(line + n, sizeof line - n, "%s%s ", kPrefix, level_label(l));
  if (p < 0) return;
  n += static_cast<size_t>(p);
  const size_t msg_start = n;
  // Room for the message, always leaving space for the ellipsis and '\n' after it.
  const size_t limit = sizeof line - kEllipsisBytes - 1;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, limit + 1 - n, fmt, ap);  // +1: vsnprintf counts the NUL
  va_end(ap);
  if (m < 0) m = 0;
  size_t msg_len = static_cast<size_t>(m);
  bool truncated = msg_len > limit - n;
  if (truncated) {
    msg_len = limit - n;
    // Do not leave half a UTF-8 sequence before the ellipsis: drop continuation bytes
    // (10xxxxxx) and the lead byte they belong to.
    size_t end = n + msg_len;
    size_t back = end;
    while (back > msg_start && (static_cast<unsigned char>(line[back - 1]) & 0xC0) == 0x80) --back;
    if (back > msg_start && static_cast<unsigned char>(line[back - 1]) >= 0xC0) {
      unsigned char lead = static_cast<unsigned char>(line[back - 1]);
      size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (end - (back - 1) < need) end = back - 1;
    }
    msg_len = end - n;
  }
  // Log injection: a value containing CR/LF (or terminal escapes) must not start a new line.
  for (size_t i = msg_start; i < n + msg_len; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) line[i] = ' ';
  }
  n += msg_len;
  if (truncated) {
    memcpy(line + n, kEllipsis, kEllipsisBytes);
    n += kEllipsisBytes;
  }
  line[n++] = '\n';
  write_all(g_state.fd, line, n);
}

}  // namespace appconfig::log
