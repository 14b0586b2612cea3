// libFuzzer target for appconfig::json (and the flags filter built on it).
// Invariants checked on every input:
// - validate() never reads out of bounds and reports an offset within the text;
// - on a valid object: every member's raw_key and raw_value validate on their
//   own, each key decodes into at most raw_key.size() bytes, key_equals() holds
//   for the decoded key, find() returns the last member with that key, and
//   kind_of() of each value is a real kind;
// - on a valid non-object: ObjectIter yields nothing and is not ok();
// - on a flag document, filter() over its keys yields valid JSON of the
//   announced length;
// - on any input the accessors terminate without faults.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "appconfig/flags/flags.h"
#include "appconfig/formats/json.h"

namespace json = appconfig::json;
namespace flags = appconfig::flags;

#define CHECK(cond)   \
  do {                \
    if (!(cond)) {    \
      __builtin_trap(); \
    }                 \
  } while (0)

namespace {

constexpr size_t kMaxKeysChecked = 8;
char g_decoded[kMaxKeysChecked][4096];

void check_valid_object(std::string_view text) {
  json::ObjectIter it(text);
  json::Member m;
  size_t n = 0;
  std::string_view keys[kMaxKeysChecked];
  size_t num_keys = 0;
  while (it.next(m)) {
    CHECK(json::validate(m.raw_key).error == json::Error::kNone);
    CHECK(json::kind_of(m.raw_key) == json::Kind::kString);
    CHECK(json::validate(m.raw_value).error == json::Error::kNone);
    CHECK(json::kind_of(m.raw_value) != json::Kind::kInvalid);
    // Spans lie inside the text.
    CHECK(m.raw_value.data() >= text.data() && m.raw_value.data() + m.raw_value.size() <= text.data() + text.size());
    if (num_keys < kMaxKeysChecked && m.raw_key.size() <= sizeof g_decoded[0]) {
      char* buf = g_decoded[num_keys];
      const long len = json::decode_string(m.raw_key, buf, m.raw_key.size());
      CHECK(len >= 0);
      const std::string_view key(buf, static_cast<size_t>(len));
      CHECK(json::key_equals(m.raw_key, key));
      // find() returns the value of the last member equal to this key.
      json::ObjectIter again(text);
      json::Member m2;
      std::string_view last;
      while (again.next(m2)) {
        if (json::key_equals(m2.raw_key, key)) last = m2.raw_value;
      }
      const auto found = json::find(text, key);
      CHECK(found.has_value() && found->data() == last.data() && found->size() == last.size());
      keys[num_keys++] = key;
    }
    ++n;
  }
  CHECK(it.ok());

  if (flags::is_flag_document(text) && num_keys > 0) {
    static char scratch[kMaxKeysChecked * (4096 * 6 + 4)];
    flags::Filtered out;
    size_t bad = 0;
    const auto err = flags::filter(text, std::span<const std::string_view>(keys, num_keys), scratch, sizeof scratch, out, &bad);
    CHECK(err == flags::FilterError::kNone);
    static char joined[1 << 20];
    size_t total = 0;
    for (size_t i = 0; i < out.num_pieces; ++i) {
      if (total + out.pieces[i].len > sizeof joined) return;
      std::memcpy(joined + total, out.pieces[i].data, out.pieces[i].len);
      total += out.pieces[i].len;
    }
    CHECK(total == out.total_bytes);
    CHECK(json::validate(std::string_view(joined, total)).error == json::Error::kNone);
    CHECK(json::kind_of(std::string_view(joined, total)) == json::Kind::kObject);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json::ValidateResult r = json::validate(text);
  CHECK(r.offset <= size);
  CHECK(json::error_message(r.error) != nullptr);
  if (r.error == json::Error::kNone) {
    if (json::kind_of(text) == json::Kind::kObject) {
      check_valid_object(text);
    } else {
      json::ObjectIter it(text);
      json::Member m;
      CHECK(!it.next(m));
      CHECK(!it.ok());
    }
  } else {
    // Unvalidated input: the accessors must still terminate safely.
    json::ObjectIter it(text);
    json::Member m;
    size_t guard = 0;
    while (it.next(m)) {
      CHECK(++guard <= size);
      (void)json::kind_of(m.raw_value);
      (void)json::key_equals(m.raw_key, "enabled");
    }
    (void)json::find(text, "a");
    (void)flags::is_flag_document(text);
    static char scratch[64];
    const std::string_view k[2] = {"a", "b"};
    flags::Filtered filtered;
    (void)flags::filter(text, std::span<const std::string_view>(k, 2), scratch, sizeof scratch, filtered, nullptr);
  }
  static char out[256];
  (void)json::decode_string(text, out, sizeof out);
  (void)json::key_equals(text, "a");
  return 0;
}
