// libFuzzer target for the agent-parity parsers of issue 12: Go durations
// (settings::parse_duration_ms / parse_timeout_ms) and the AWS shared-file syntax
// (credentials::profile_value / profile_exists).
// The first byte picks the target (even: durations, odd: shared files); the rest is the input.
// Invariants checked on every input:
// - durations: never faults; failure leaves *out untouched; a unit form never exceeds Go's int64
//   nanoseconds (in ms); the same text parses the same way twice; a bare integer parses in both
//   default units with a ratio of 1000 when it fits.
// - shared files: never faults; a value found lies inside the input, has no leading / trailing
//   blanks and no newline; a profile with a value exists; both file kinds agree with themselves.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "appconfig/aws/credentials.h"
#include "appconfig/core/settings.h"

namespace settings = appconfig::settings;
namespace credentials = appconfig::credentials;

#define CHECK(cond)     \
  do {                  \
    if (!(cond)) {      \
      __builtin_trap(); \
    }                   \
  } while (0)

namespace {

constexpr uint64_t kMaxGoMs = 9'223'372'036'854ull;  // int64 nanoseconds, in ms

void durations(std::string_view text) {
  uint64_t a = 7, b = 7;
  bool ok_s = settings::parse_duration_ms(text, &a);
  bool ok_ms = settings::parse_timeout_ms(text, &b);
  if (!ok_s) CHECK(a == 7);
  if (!ok_ms) CHECK(b == 7);
  bool bare = !text.empty();
  for (char c : text) bare = bare && c >= '0' && c <= '9';
  if (!bare) {
    CHECK(ok_s == ok_ms);  // unit forms do not depend on the default unit
    if (ok_s) CHECK(a == b && a <= kMaxGoMs);
  } else if (ok_s) {
    CHECK(ok_ms && a == b * 1000);
  }
  uint64_t again = 0;
  CHECK(settings::parse_duration_ms(text, &again) == ok_s);
  if (ok_s) CHECK(again == a);
}

void shared_files(std::string_view data) {
  // "<profile>\n<key>\n<file>"
  size_t p1 = data.find('\n');
  if (p1 == std::string_view::npos) return;
  size_t p2 = data.find('\n', p1 + 1);
  if (p2 == std::string_view::npos) return;
  std::string_view profile = data.substr(0, p1), key = data.substr(p1 + 1, p2 - p1 - 1), file = data.substr(p2 + 1);
  for (auto kind : {credentials::SharedFile::kCredentials, credentials::SharedFile::kConfig}) {
    bool exists = credentials::profile_exists(file, kind, profile);
    CHECK(exists == credentials::profile_exists(file, kind, profile));
    std::string_view v;
    if (credentials::profile_value(file, kind, profile, key, &v)) {
      CHECK(exists);
      if (!v.empty()) {
        CHECK(v.data() >= file.data() && v.data() + v.size() <= file.data() + file.size());
        CHECK(v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
      }
      CHECK(v.find('\n') == std::string_view::npos);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) durations(in);
  else shared_files(in);
  return 0;
}
