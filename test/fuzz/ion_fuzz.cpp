// libFuzzer target for appconfig::ion (both readers) and the variants
// compiler on top of them. Invariants checked on every input:
// - the readers never read out of bounds, never use more arena than given
//   nor more than the stated bound (kMaxArenaBytesPerInputByte per input
//   byte plus the copied symbol slots), and report error offsets within the
//   input;
// - on success every node's type is real, text views lie in the input or the
//   arena, child counts match the linked children, big integers and decimals
//   carry digits, and a second parse gives a tree equal to the first under
//   the Ion data-model equality of the unit tests (test/unit/ion_equal.h);
// - compiling the same input as a flag profile either succeeds with a blob
//   that evaluates (no Context and a fixed Context) into valid JSON, or fails
//   with a message.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "appconfig/formats/ion.h"
#include "appconfig/formats/json.h"
#include "appconfig/flags/variants.h"
#include "../unit/ion_equal.h"

namespace ion = appconfig::ion;
namespace variants = appconfig::variants;

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

namespace {

// Room for the largest input (-max_len=65536) at the stated bound.
constexpr size_t kArenaBytes = 65540 * ion::kMaxArenaBytesPerInputByte + ion::kMaxSymbolSlots * 16 + 4096;
alignas(16) uint8_t g_arena[kArenaBytes];
alignas(16) uint8_t g_arena2[kArenaBytes];
alignas(16) uint8_t g_blob[4 << 20];
char g_scratch[1 << 16];

bool inside(std::string_view v, const void* base, size_t len) {
  if (v.empty()) return true;
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  const auto* b = static_cast<const uint8_t*>(base);
  return p >= b && p + v.size() <= b + len;
}

bool text_ok(std::string_view v, std::string_view input) {
  // System symbol texts live in static storage; everything else in the input or arena.
  return inside(v, input.data(), input.size()) || inside(v, g_arena, kArenaBytes) || v.size() <= 24;
}

void walk(const ion::Node* n, std::string_view input, size_t depth) {
  CHECK(depth <= ion::kMaxDepth + 1);
  for (; n != nullptr; n = n->next_sibling) {
    CHECK(static_cast<uint8_t>(n->type) <= static_cast<uint8_t>(ion::Type::kStruct));
    CHECK(n->num_annotations <= ion::kMaxAnnotations);
    for (size_t i = 0; i < n->num_annotations; ++i) CHECK(text_ok(n->annotations[i], input));
    CHECK(text_ok(n->text, input));
    CHECK(text_ok(n->field_name, input));
    if (!n->is_null && ((n->type == ion::Type::kInt && n->big) || n->type == ion::Type::kDecimal)) {
      CHECK(!n->text.empty());
      for (const char c : n->text) CHECK(c >= '0' && c <= '9');
      CHECK(n->text.size() == 1 || n->text[0] != '0');
    }
    size_t count = 0;
    for (const ion::Node* c = n->first_child; c != nullptr; c = c->next_sibling) ++count;
    CHECK(count == n->num_children);
    walk(n->first_child, input, depth + 1);
  }
}

void check_profile(std::string_view input, bool binary) {
  const variants::CompileResult r = binary ? variants::compile_ion_binary(input, g_blob, sizeof g_blob)
                                           : variants::compile_ion_text(input, g_blob, sizeof g_blob);
  if (!r.ok) {
    CHECK(r.message[0] != 0);
    return;
  }
  CHECK(r.blob_len <= sizeof g_blob);
  const std::string_view blob(reinterpret_cast<const char*>(g_blob), r.blob_len);
  static variants::Context ctx;
  const std::string_view headers[] = {"country=US,tier=gold,userId=42,age=30,email=a@example.com"};
  for (size_t n = 0; n < 2; ++n) {
    CHECK(variants::parse_context(headers, n, ctx, nullptr, 0));
    appconfig::flags::Filtered out;
    const variants::EvalError e =
        variants::evaluate(blob, ctx, {}, g_scratch, sizeof g_scratch, out, nullptr);
    if (e == variants::EvalError::kScratchTooSmall) continue;
    CHECK(e == variants::EvalError::kNone);
    static char joined[4 << 20];
    size_t len = 0;
    for (size_t i = 0; i < out.num_pieces; ++i) {
      CHECK(len + out.pieces[i].len <= sizeof joined);
      std::memcpy(joined + len, out.pieces[i].data, out.pieces[i].len);
      len += out.pieces[i].len;
    }
    CHECK(len == out.total_bytes);
    CHECK(appconfig::json::validate(std::string_view(joined, len)).error == appconfig::json::Error::kNone);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (int binary = 0; binary < 2; ++binary) {
    // Binary inputs get the version marker prepended half the time so the
    // fuzzer reaches the value grammar quickly.
    static uint8_t with_marker[1 << 16];
    std::string_view in = input;
    if (binary && !ion::looks_like_binary(input) && size + 4 <= sizeof with_marker) {
      std::memcpy(with_marker, "\xE0\x01\x00\xEA", 4);
      std::memcpy(with_marker + 4, data, size);
      in = std::string_view(reinterpret_cast<const char*>(with_marker), size + 4);
    }
    ion::Arena arena{g_arena, (size & 1) ? kArenaBytes : 4096, 0};
    ion::Document doc;
    const ion::ParseResult r = binary ? ion::parse_binary(in, arena, doc) : ion::parse_text(in, arena, doc);
    CHECK(arena.used <= arena.cap);
    CHECK(arena.used <= in.size() * ion::kMaxArenaBytesPerInputByte + ion::kMaxSymbolSlots * 16);
    if (r.error != ion::Error::kNone) {
      CHECK(r.offset <= in.size());
      // An arena of the stated size never runs out.
      if (arena.cap == kArenaBytes) CHECK(r.error != ion::Error::kOutOfMemory);
    } else {
      walk(doc.first, in, 0);
      ion::Arena arena2{g_arena2, kArenaBytes, 0};
      ion::Document doc2;
      const ion::ParseResult r2 =
          binary ? ion::parse_binary(in, arena2, doc2) : ion::parse_text(in, arena2, doc2);
      CHECK(r2.error == ion::Error::kNone);
      CHECK(ion::model::equal(doc, doc2));
    }
    check_profile(in, binary != 0);
  }
  return 0;
}
