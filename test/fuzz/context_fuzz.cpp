// libFuzzer target for variants::parse_context. The input is split at NUL
// bytes into several header values. Invariants:
// - on success: at most kMaxContextPairs pairs, every key non-empty, every
//   key and value inside Context::storage, storage use within its size, and no
//   decoded key or value longer than the raw input;
// - on failure: a NUL-terminated message that names the Context header;
// - parsing is deterministic.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "appconfig/flags/variants.h"

namespace variants = appconfig::variants;

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view headers[16];
  size_t n = 0;
  size_t start = 0;
  while (n < 16) {
    const size_t nul = input.find('\0', start);
    headers[n++] = input.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start);
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  static variants::Context ctx, again;
  char err[160];
  const bool ok = variants::parse_context(headers, n, ctx, err, sizeof err);
  char err2[160];
  CHECK(variants::parse_context(headers, n, again, err2, sizeof err2) == ok);
  if (!ok) {
    CHECK(std::memchr(err, 0, sizeof err) != nullptr);
    CHECK(std::strstr(err, "Context") != nullptr);
    return 0;
  }
  CHECK(ctx.num_pairs <= variants::kMaxContextPairs);
  CHECK(ctx.used <= variants::kMaxContextBytes);
  CHECK(ctx.num_pairs == again.num_pairs);
  for (size_t i = 0; i < ctx.num_pairs; ++i) {
    const auto& p = ctx.pairs[i];
    CHECK(!p.key.empty());
    CHECK(p.key.data() >= ctx.storage && p.key.data() + p.key.size() <= ctx.storage + ctx.used);
    CHECK(p.value.empty() ||
          (p.value.data() >= ctx.storage && p.value.data() + p.value.size() <= ctx.storage + ctx.used));
    CHECK(p.key.size() + p.value.size() <= size);
    CHECK(p.key == again.pairs[i].key && p.value == again.pairs[i].value);
  }
  return 0;
}
