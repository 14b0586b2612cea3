// libFuzzer target for appconfig::rules (parser + evaluator) and the regex
// engine under it. Input: a rule in Ion text, then an optional NUL and a
// Context header value. Invariants:
// - compile either succeeds or fails with a message and an offset in the input;
// - evaluation of a compiled rule never reports a corrupt blob, terminates,
//   and gives the same answer twice; under the per-request step budget it
//   either answers the same or reports kOverBudget (then the checks below
//   are skipped: the unbudgeted answer may take long by design);
// - a rule and its (not …) always disagree;
// - the blob survives being copied elsewhere (position independence).
#include <cstdint>
#include <cstring>
#include <string_view>

#include "appconfig/formats/ion.h"
#include "appconfig/flags/rules.h"
#include "appconfig/flags/variants.h"

namespace ion = appconfig::ion;
namespace rules = appconfig::rules;
namespace variants = appconfig::variants;

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

namespace {
alignas(16) uint8_t g_arena[1 << 20];
uint8_t g_blob[1 << 20];
uint8_t g_copy[1 << 20];
char g_negated[1 << 16];
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view header;
  const size_t nul = input.find('\0');
  if (nul != std::string_view::npos) {
    header = input.substr(nul + 1);
    input = input.substr(0, nul);
  }
  static variants::Context ctx;
  if (!variants::parse_context(&header, 1, ctx, nullptr, 0)) ctx.num_pairs = 0;
  const std::span<const rules::ContextPair> pairs(ctx.pairs, ctx.num_pairs);

  ion::Arena arena{g_arena, sizeof g_arena, 0};
  ion::Document doc;
  if (ion::parse_text(input, arena, doc).error != ion::Error::kNone || doc.first == nullptr) return 0;
  rules::Writer w{g_blob, sizeof g_blob, 0};
  const rules::CompileResult r = rules::compile(*doc.first, w);
  if (r.error != rules::Error::kNone) {
    CHECK(r.message[0] != 0);
    CHECK(r.offset <= input.size());
    return 0;
  }
  const std::string_view blob(reinterpret_cast<const char*>(g_blob), w.len);
  uint64_t left = variants::kMaxEvalSteps;
  const rules::Result bounded = rules::evaluate(blob, r.root, pairs, &left);
  CHECK(bounded != rules::Result::kCorrupt);
  if (bounded == rules::Result::kOverBudget) {
    CHECK(left == 0);
    return 0;
  }
  const rules::Result a = rules::evaluate(blob, r.root, pairs);
  CHECK(a == bounded);
  CHECK(a != rules::Result::kCorrupt);
  CHECK(rules::evaluate(blob, r.root, pairs) == a);
  std::memcpy(g_copy, g_blob, w.len);
  CHECK(rules::evaluate(std::string_view(reinterpret_cast<const char*>(g_copy), w.len), r.root, pairs) == a);

  // (not <rule>) disagrees, unless the wrapper would exceed the depth limit.
  if (input.size() + 8 <= sizeof g_negated) {
    std::memcpy(g_negated, "(not ", 5);
    std::memcpy(g_negated + 5, input.data(), input.size());
    g_negated[5 + input.size()] = ')';
    ion::Arena arena2{g_arena, sizeof g_arena, 0};
    ion::Document doc2;
    if (ion::parse_text(std::string_view(g_negated, input.size() + 6), arena2, doc2).error == ion::Error::kNone &&
        doc2.first != nullptr && doc2.first->next_sibling == nullptr && doc.first->next_sibling == nullptr) {
      rules::Writer w2{g_copy, sizeof g_copy, 0};
      const rules::CompileResult r2 = rules::compile(*doc2.first, w2);
      if (r2.error == rules::Error::kNone) {
        const rules::Result b =
            rules::evaluate(std::string_view(reinterpret_cast<const char*>(g_copy), w2.len), r2.root, pairs);
        CHECK(b != rules::Result::kCorrupt);
        CHECK(b != a);
      }
    }
  }
  return 0;
}
