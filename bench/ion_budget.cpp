// Time of each Ion reader worst case (test/unit/ion_worst.h) at 4 MiB, the
// largest profile, built -O2 like the release binary. Target (issue 10): an
// accepted profile parses in < 50 ms on the build machine, and anything that
// would take longer is refused with a message. Reference: one memcpy of the
// same bytes, printed as a ratio so slower machines can compare.
#include "../test/unit/ion_worst.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace appconfig::ion;

int main() {
  const size_t size = 4u << 20;
  const double limit_ms = 50.0;
  std::vector<uint8_t> mem(kMaxValues * (sizeof(Node) + 5 * 16) + 2 * size + kMaxSymbolSlots * 16);
  std::vector<char> copy(size);
  int failures = 0;
  for (const worst::Case& c : worst::cases(size)) {
    double best = 1e30, ref = 1e30;
    ParseResult r{};
    size_t used = 0;
    for (int k = 0; k < 3; ++k) {
      Arena arena{mem.data(), mem.size(), 0};
      Document doc{};
      auto t0 = std::chrono::steady_clock::now();
      r = c.binary ? parse_binary(c.input, arena, doc) : parse_text(c.input, arena, doc);
      auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
      used = arena.used;
      t0 = std::chrono::steady_clock::now();
      std::memcpy(copy.data(), c.input.data(), c.input.size());
      const char* volatile sink = copy.data();
      (void)sink;
      t1 = std::chrono::steady_clock::now();
      ref = std::min(ref, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    const bool ok = best < limit_ms && r.error == c.expected;
    if (!ok) ++failures;
    std::printf("%-48s %7.1f ms %6.0fx memcpy %6.1f arena B/B  %-28s %s%s\n", c.name, best, best / std::max(ref, 1e-3),
                static_cast<double>(used) / static_cast<double>(c.input.size()), c.budget,
                r.error == Error::kNone ? "accepted" : error_message(r.error), ok ? "" : "  <-- FAIL");
  }
  std::printf("ion budget: %d over %.0f ms or not as expected\n", failures, limit_ms);
  return failures == 0 ? 0 : 1;
}
