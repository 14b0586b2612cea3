// log: one line per event on one file descriptor (stderr by default; CloudWatch in Lambda).
//
// Owns: the level filter, the line format "[appconfig-extension] LEVEL message" (agent mode prefixes
// an ISO-8601 UTC timestamp; Lambda does not, CloudWatch adds its own), truncation and escaping.
// Knows nothing of where fd points (the caller opens LOG_PATH) or of settings other than LogLevel.
//
// Guarantees: each line is formatted into a fixed stack buffer and written with one write(2), so
// lines from concurrent writers never interleave (kMaxLineBytes <= PIPE_BUF). Control bytes in the
// message (CR, LF, ESC, ...; not TAB) become spaces, so a value cannot forge a log line. Lines longer
// than kMaxLineBytes are cut at a UTF-8 boundary and end in "…". No allocation; single-threaded
// state set by init(). Callers never pass secrets (session token, secret key, access token, proxy
// URL, container token) to the log: there is no redaction here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "appconfig/settings.h"

namespace appconfig::log {

// Whole line including prefix and '\n'. At most PIPE_BUF (4096 on Linux) keeps a write to a pipe
// atomic; 2 KiB holds any message we produce plus a quoted AWS error message.
constexpr size_t kMaxLineBytes = 2048;

enum class Timestamp : uint8_t {
  kNone,        // Lambda: CloudWatch stamps each line
  kIso8601Utc,  // agent: "2026-01-02T03:04:05.678Z " before the prefix
};

// Before init(): level info, fd 2, no timestamp.
void init(settings::LogLevel level, int fd, Timestamp timestamp = Timestamp::kNone);
// Convenience for main(): timestamps == true means Timestamp::kIso8601Utc.
inline void init(settings::LogLevel level, int fd, bool timestamps) {
  init(level, fd, timestamps ? Timestamp::kIso8601Utc : Timestamp::kNone);
}

// True when a line at level l would be written (l at or above the configured level, neither kNone).
bool enabled(settings::LogLevel l);

// Formats and writes one line if enabled(l). Never fails loudly: a failed write(2) is dropped.
void write(settings::LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

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
