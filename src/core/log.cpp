// log: see include/appconfig/core/log.h.
#include "appconfig/core/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "appconfig/core/sysfile.h"
#include "appconfig/core/utf8.h"

namespace appconfig::log {
namespace {

using settings::LogLevel;

constexpr const char kPrefix[] = "[appconfig-extension] ";
// U+2026 HORIZONTAL ELLIPSIS in UTF-8, marks a truncated line.
constexpr const char kEllipsis[] = "\xe2\x80\xa6";
constexpr size_t kEllipsisBytes = sizeof kEllipsis - 1;

constexpr const char kLoggerName[] = "appconfig-extension";

struct State {
  LogLevel level = LogLevel::kInfo;
  int fd = 2;
  Timestamp timestamp = Timestamp::kNone;
  settings::LogFormat format = settings::LogFormat::kText;
};
State g_state;

// "2026-01-02T03:04:05.678Z" + suffix (RFC 3339 §5.6 with millisecond fraction). Returns bytes
// written.
size_t format_timestamp(char* out, size_t cap, const char* suffix) {
  timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  tm utc;
  if (gmtime_r(&ts.tv_sec, &utc) == nullptr) return 0;
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ%s", utc.tm_year + 1900, utc.tm_mon + 1,
                   utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1'000'000, suffix);
  if (n < 0 || static_cast<size_t>(n) >= cap) return 0;
  return static_cast<size_t>(n);
}

void write_all(int fd, const char* p, size_t n) {
  sysfile::write_full(fd, p, n);  // nowhere left to report a logging failure
}

// Appends ,"name":"value" when value is set; the value's JSON form is cut at kMaxFieldJsonBytes.
size_t json_string_field(char* out, size_t cap, const char* name, std::string_view value) {
  if (value.empty()) return 0;
  int h = snprintf(out, cap, ",\"%s\":\"", name);
  if (h < 0 || static_cast<size_t>(h) + 1 >= cap) return 0;
  size_t room = cap - static_cast<size_t>(h) - 1;
  if (room > kMaxFieldJsonBytes) room = kMaxFieldJsonBytes;
  bool cut = false;
  size_t n = static_cast<size_t>(h) + json_text(value, out + h, room, &cut);
  out[n++] = '"';
  return n;
}

size_t json_number_field(char* out, size_t cap, const char* name, int64_t value) {
  if (value < 0) return 0;
  int n = snprintf(out, cap, ",\"%s\":%lld", name, static_cast<long long>(value));
  return n < 0 || static_cast<size_t>(n) >= cap ? 0 : static_cast<size_t>(n);
}

// {"timestamp":..,"level":..,"message":..,"logger":..,<fields>}\n in one buffer, one write(2).
void write_json(int fd, LogLevel l, const Fields* fields, const char* fmt, va_list ap) {
  char message[kMaxLineBytes];
  int m = vsnprintf(message, sizeof message, fmt, ap);
  if (m < 0) m = 0;
  size_t msg_len = static_cast<size_t>(m) < sizeof message ? static_cast<size_t>(m) : sizeof message - 1;
  bool msg_cut = static_cast<size_t>(m) >= sizeof message;

  char tail[4 * kMaxFieldJsonBytes];  // logger + fields + "}\n": every field is bounded
  size_t t = 0;
  t += static_cast<size_t>(snprintf(tail, sizeof tail, "\",\"logger\":\"%s\"", kLoggerName));
  if (fields != nullptr) {
    t += json_string_field(tail + t, sizeof tail - t, "application", fields->application);
    t += json_string_field(tail + t, sizeof tail - t, "environment", fields->environment);
    t += json_string_field(tail + t, sizeof tail - t, "profile", fields->profile);
    t += json_number_field(tail + t, sizeof tail - t, "status", fields->status);
    t += json_number_field(tail + t, sizeof tail - t, "bytes", fields->bytes);
    t += json_number_field(tail + t, sizeof tail - t, "ms", fields->ms);
  }
  tail[t++] = '}';
  tail[t++] = '\n';

  char line[kMaxLineBytes];
  char ts[40];
  if (format_timestamp(ts, sizeof ts, "") == 0) snprintf(ts, sizeof ts, "1970-01-01T00:00:00.000Z");
  int h = snprintf(line, sizeof line, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"message\":\"", ts, level_label(l));
  if (h < 0) return;
  size_t n = static_cast<size_t>(h);
  // Room for the message: what the head and tail leave, minus the ellipsis.
  size_t room = sizeof line - n - t - kEllipsisBytes;
  bool cut = false;
  n += json_text(std::string_view(message, msg_len), line + n, room, &cut);
  if (cut || msg_cut) {
    memcpy(line + n, kEllipsis, kEllipsisBytes);
    n += kEllipsisBytes;
  }
  memcpy(line + n, tail, t);
  n += t;
  write_all(fd, line, n);
}

void write_text(int fd, LogLevel l, const char* fmt, va_list ap);

}  // namespace

size_t json_text(std::string_view in, char* out, size_t cap, bool* cut) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = 0;
  *cut = false;
  for (size_t i = 0; i < in.size();) {
    char unit[8];
    size_t len = 0;
    uint32_t cp = 0;
    size_t used = utf8::decode(s, in.size(), i, cp);
    if (used == 0) {
      memcpy(unit, "\\ufffd", 6);
      len = 6;
      used = 1;
    } else if (cp == '"' || cp == '\\') {
      unit[0] = '\\';
      unit[1] = static_cast<char>(cp);
      len = 2;
    } else if (cp == '\n' || cp == '\r' || cp == '\t') {
      unit[0] = '\\';
      unit[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
      len = 2;
    } else if (cp < 0x20 || cp == 0x7f) {
      snprintf(unit, sizeof unit, "\\u%04x", static_cast<unsigned>(cp));
      len = 6;
    } else {
      memcpy(unit, s + i, used);
      len = used;
    }
    if (n + len > cap) {
      *cut = true;
      break;
    }
    memcpy(out + n, unit, len);
    n += len;
    i += used;
  }
  return n;
}

void init(LogLevel level, int fd, Timestamp timestamp, settings::LogFormat format) {
  g_state.level = level;
  g_state.fd = fd;
  g_state.timestamp = timestamp;
  g_state.format = format;
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

namespace {
void write_text(int fd, LogLevel l, const char* fmt, va_list ap) {
  char line[kMaxLineBytes];
  size_t n = 0;
  if (g_state.timestamp == Timestamp::kIso8601Utc) n = format_timestamp(line, sizeof line, " ");
  int p = snprintf(line + n, sizeof line - n, "%s%s ", kPrefix, level_label(l));
  if (p < 0) return;
  n += static_cast<size_t>(p);
  const size_t msg_start = n;
  // Room for the message, always leaving space for the ellipsis and '\n' after it.
  const size_t limit = sizeof line - kEllipsisBytes - 1;
  int m = vsnprintf(line + n, limit + 1 - n, fmt, ap);  // +1: vsnprintf counts the NUL
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
  write_all(fd, line, n);
}

}  // namespace

void write(LogLevel l, const char* fmt, ...) {
  if (!enabled(l)) return;
  va_list ap;
  va_start(ap, fmt);
  if (g_state.format == settings::LogFormat::kJson) {
    write_json(g_state.fd, l, nullptr, fmt, ap);
  } else {
    write_text(g_state.fd, l, fmt, ap);
  }
  va_end(ap);
}

void write_to(int fd, LogLevel l, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (g_state.format == settings::LogFormat::kJson) {
    write_json(fd, l, nullptr, fmt, ap);
  } else {
    write_text(fd, l, fmt, ap);
  }
  va_end(ap);
}

void write_fields(LogLevel l, const Fields& fields, const char* fmt, ...) {
  if (!enabled(l)) return;
  va_list ap;
  va_start(ap, fmt);
  if (g_state.format == settings::LogFormat::kJson) {
    write_json(g_state.fd, l, &fields, fmt, ap);
  } else {
    write_text(g_state.fd, l, fmt, ap);
  }
  va_end(ap);
}

}  // namespace appconfig::log
