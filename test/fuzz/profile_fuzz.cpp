// libFuzzer target: compile regexes and whole flag profiles, then evaluate
// them, under a wall-clock budget. Everything here runs on the event loop in
// production, so an input that is merely slow is a finding, not only a crash.
//
// Input: byte 0 picks the mode.
// - even: a regex. The rest up to the first NUL is the pattern, after it the
//   text. Compile, then run() with the per-request budget.
// - odd: a flag profile in Ion text up to the first NUL, then a Context
//   header value. Compile (with the production memory cap), then answer
//   all flags and each flag alone.
// Invariants:
// - compile either succeeds or fails with a non-empty message; a regex error
//   offset lies inside the pattern; compile work stays within its stated bound;
// - evaluation never reports a corrupt blob, and its steps stay within
//   variants::kMaxEvalSteps (+ the documented overshoot of one text position);
// - every unit of work the event loop would do for this input (one compile,
//   one request's evaluation) takes under kTimeBudgetMs of thread CPU time
//   (sanitizer build), else trap. CPU time, not wall time: the fuzzer may
//   share the machine, and a descheduled thread is not a slow input.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include "appconfig/flags/regex.h"
#include "appconfig/flags/variants.h"

namespace regex = appconfig::regex;
namespace variants = appconfig::variants;
namespace flags = appconfig::flags;

#define CHECK(cond)     \
  do {                  \
    if (!(cond)) {      \
      __builtin_trap(); \
    }                   \
  } while (0)

namespace {

// The production target is < 50 ms per compile (release build); the fuzz
// build runs under ASan/UBSan at -O1 with coverage, several times slower.
constexpr uint64_t kTimeBudgetMs = 100;
// One text position of one program may overshoot the budget (regex::run).
constexpr uint64_t kOvershootSteps = 8 * regex::kMaxInsts;

uint64_t cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Traps when the work since `start` took longer than the budget.
void check_time(uint64_t start, const char* what, size_t input_size) {
  const uint64_t took = cpu_ms() - start;
  if (took > kTimeBudgetMs) {
    std::fprintf(stderr, "profile_fuzz: %s of a %zu-byte input took %llu ms of CPU (budget %llu ms)\n", what,
                 input_size, static_cast<unsigned long long>(took), static_cast<unsigned long long>(kTimeBudgetMs));
    __builtin_trap();
  }
}

alignas(16) uint8_t g_compile[variants::kMaxCompileBytes];
char g_scratch[1 << 20];

void fuzz_regex(std::string_view input) {
  const size_t nul = input.find('\0');
  const std::string_view pattern = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  static uint8_t prog[regex::kMaxProgramBytes];
  uint64_t start = cpu_ms();
  const regex::CompileResult r = regex::compile(pattern, prog, sizeof prog);
  check_time(start, "regex compile", input.size());
  CHECK(r.steps <= regex::kMaxPatternBytes + 1 + regex::kMaxCompileSteps + 1);
  if (r.error != regex::Error::kNone) {
    CHECK(r.offset <= pattern.size());
    CHECK(regex::error_message(r.error)[0] != 0);
    return;
  }
  const std::string_view program(reinterpret_cast<const char*>(prog), r.program_len);
  uint64_t left = variants::kMaxEvalSteps;
  start = cpu_ms();
  const regex::Outcome o = regex::run(program, text, left);
  check_time(start, "regex run", input.size());
  CHECK(o != regex::Outcome::kCorrupt);
  if (o != regex::Outcome::kOverBudget) {
    // Deterministic, and the same answer as the unbudgeted search.
    CHECK(regex::search(program, text) == (o == regex::Outcome::kMatch));
  }
}

void fuzz_profile(std::string_view input) {
  const size_t nul = input.find('\0');
  const std::string_view profile = input.substr(0, nul);
  const std::string_view header = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  const size_t cap = variants::compile_capacity_hint(profile.size());
  CHECK(cap <= sizeof g_compile);
  uint64_t start = cpu_ms();
  const variants::CompileResult cr = variants::compile_ion_text(profile, g_compile, cap);
  check_time(start, "profile compile", input.size());
  if (!cr.ok) {
    CHECK(cr.message[0] != 0);
    return;
  }
  const std::string_view blob(reinterpret_cast<const char*>(g_compile), cr.blob_len);
  static variants::Context ctx;
  if (!variants::parse_context(&header, 1, ctx, nullptr, 0)) ctx.num_pairs = 0;
  const size_t scratch = variants::scratch_bytes_needed(blob);
  flags::Filtered out;
  size_t bad = 0;
  variants::EvalCost cost{};
  start = cpu_ms();
  const variants::EvalError e =
      variants::evaluate(blob, ctx, {}, g_scratch, scratch < sizeof g_scratch ? scratch : sizeof g_scratch, out, &bad, &cost);
  check_time(start, "all-flags evaluation", input.size());
  CHECK(e != variants::EvalError::kCorruptBlob);
  CHECK(cost.steps <= variants::kMaxEvalSteps + kOvershootSteps);
  if (e == variants::EvalError::kOverBudget) CHECK(!variants::flag_name(blob, cost.flag_index).empty());
  // Each flag alone (the first few): the same guarantees.
  for (size_t i = 0; i < 4; ++i) {
    const std::string_view name = variants::flag_name(blob, i);
    if (name.empty()) break;
    start = cpu_ms();
    const variants::EvalError one = variants::evaluate(blob, ctx, {&name, 1}, g_scratch, sizeof g_scratch, out, &bad, &cost);
    check_time(start, "one-flag evaluation", input.size());
    CHECK(one == variants::EvalError::kNone || one == variants::EvalError::kOverBudget);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    fuzz_regex(input);
  } else {
    fuzz_profile(input);
  }
  return 0;
}
