// log: one line per event on one file descriptor (stderr by default; CloudWatch in Lambda).
//
// Owns: the level filter and the two line formats (docs/logging.md lists every event):
//  - text (default): "[appconfig-extension] LEVEL message"; agent mode prefixes an ISO-8601 UTC
//    timestamp, Lambda does not (CloudWatch adds its own);
//  - JSON (LOG_FORMAT=json, or AWS_LAMBDA_LOG_FORMAT=JSON in Lambda): one object per line,
//    {"timestamp":"<RFC 3339, ms>","level":"INFO","message":"...","logger":"appconfig-extension"}
//    plus the event's Fields (application, environment, profile, status, bytes, ms) when set.
// Truncation and escaping. Knows nothing of where fd points (the caller opens LOG_PATH) or of
// settings other than LogLevel and LogFormat.
//
// Guarantees: each line is formatted into a fixed stack buffer and written with one write(2), so
// lines from concurrent writers never interleave (kMaxLineBytes <= PIPE_BUF). Text: control bytes
// in the message (CR, LF, ESC, ...; not TAB) become spaces, so a value cannot forge a log line.
// JSON: control bytes are escaped and bytes that are not UTF-8 become U+FFFD, so every line parses.
// Lines longer than kMaxLineBytes are cut at a UTF-8 boundary (JSON: at a whole escape) and the
// message ends in "…". No allocation; single-threaded state set by init(). Callers never pass
// secrets (session token, secret key, access token, proxy URL, container token) to the log:
// there is no redaction here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/core/settings.h"

namespace appconfig::log {

// Whole line including prefix and '\n'. At most PIPE_BUF (4096 on Linux) keeps a write to a pipe
// atomic; 2 KiB holds any message we produce plus a quoted AWS error message.
constexpr size_t kMaxLineBytes = 2048;

enum class Timestamp : uint8_t {
  kNone,        // Lambda: CloudWatch stamps each line
  kIso8601Utc,  // agent: "2026-01-02T03:04:05.678Z " before the prefix
};

// Fields of an event (JSON format only; the text line's message already says them). Strings are
// copied into the line; an empty view / a negative number means "absent".
struct Fields {
  std::string_view application, environment, profile;
  int status = -1;      // HTTP status of the upstream answer (or of the reply)
  int64_t bytes = -1;   // configuration bytes
  int64_t ms = -1;      // duration in milliseconds
};
// Each string field is cut after this many bytes of its JSON form: a line keeps room for its
// message even when names are the longest AppConfig allows (128 characters).
constexpr size_t kMaxFieldJsonBytes = 300;

// Before init(): level info, fd 2, no timestamp, text.
// JSON lines always carry their own timestamp, whatever `timestamp` says.
void init(settings::LogLevel level, int fd, Timestamp timestamp = Timestamp::kNone,
          settings::LogFormat format = settings::LogFormat::kText);
// Convenience for main(): timestamps == true means Timestamp::kIso8601Utc.
inline void init(settings::LogLevel level, int fd, bool timestamps) {
  init(level, fd, timestamps ? Timestamp::kIso8601Utc : Timestamp::kNone);
}

// True when a line at level l would be written (l at or above the configured level, neither kNone).
bool enabled(settings::LogLevel l);

// Formats and writes one line if enabled(l). Never fails loudly: a failed write(2) is dropped.
void write(settings::LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// One line in the configured format to `fd`, whatever the level filter: init errors reach stderr
// even with LOG_PATH or LOG_LEVEL=none.
void write_to(int fd, settings::LogLevel l, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// The same with the event's fields.
void write_fields(settings::LogLevel l, const Fields& fields, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Writes `in` as the inside of a JSON string (RFC 8259 §7) into out[0..cap): '"', '\\' and control
// bytes escaped, bytes that are not well-formed UTF-8 as \ufffd, so the result always parses (JSON
// log lines, EMF lines). Stops before a unit that would not fit (never half an escape or half a
// character) and sets *cut. Returns the bytes written.
size_t json_text(std::string_view in, char* out, size_t cap, bool* cut);

// Upper-case level name as printed ("INFO"); "NONE" for kNone.
const char* level_label(settings::LogLevel l);

}  // namespace appconfig::log

#define APPCONFIG_LOG_AT_(level, ...)                                                  \
  do {                                                                                 \
    if (::appconfig::log::enabled(level)) ::appconfig::log::write(level, __VA_ARGS__); \
  } while (0)
#define LOG_TRACE(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kTrace, __VA_ARGS__)
#define LOG_DEBUG(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARN(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kError, __VA_ARGS__)
#define LOG_FATAL(...) APPCONFIG_LOG_AT_(::appconfig::settings::LogLevel::kFatal, __VA_ARGS__)
// An event with fields: LOG_EVENT(kInfo, fields, "fmt", ...).
#define LOG_EVENT(level, fields, ...)                                                                       \
  do {                                                                                                     \
    if (::appconfig::log::enabled(::appconfig::settings::LogLevel::level))                                 \
      ::appconfig::log::write_fields(::appconfig::settings::LogLevel::level, fields, __VA_ARGS__);         \
  } while (0)
