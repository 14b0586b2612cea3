// rules: the multi-variant feature-flag rule language (spec §6): compile an
// Ion s-expression once, at store time, into a compact position-independent
// form; evaluate it per request against Context pairs with no allocation.
//
// Owns: operator and argument checking, operand typing (strings, 64-bit ints,
// doubles, timestamps, booleans, $context keys, lists), the comparison rules
// for context strings, `split` hashing, and calling the regex engine.
// Knows nothing of HTTP, Context header syntax, flags or variants, and nothing
// of Ion encodings: it reads the ion::Node tree.
//
// Semantics (docs/feature-flags.md has the full table):
// - Operands compare numerically when both sides are numbers (a context value
//   or string literal counts when it parses as one), else as timestamps when
//   both are timestamps, else as strings (bytewise, i.e. code point order).
// - A missing $key makes eq/gt/gte/lt/lte/begins_with/ends_with/contains/in/
//   matches/split false ((not …) of that is true).
// - split: fnv1a_32(by ‖ seed) % 100000 < pct × 1000 (i.e. (hash % 100000) /
//   1000 < pct, third-party claim). Variants are checked in order, so several
//   splits over the same key are cumulative thresholds.
//
// Lifetimes: compiled rules live in the caller's Writer buffer, addressed by
// offsets; evaluate() reads them in place (the buffer may be moved or copied
// as a whole). Context pairs are only read during evaluate().
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "appconfig/formats/ion.h"

namespace appconfig::rules {

// Nesting of operators in one rule. Evaluation recurses once per level (on
// the request path), so this bounds its stack use; real rules nest 2-4 deep.
// Worst: 31 (not …) around a comparison; a few hundred bytes of stack a level.
constexpr size_t kMaxRuleDepth = 32;
// Compiled nodes per rule (operators, operands, list items): 4096 × 40-byte
// nodes = 160 KB of blob per rule at most. Compile cost is linear in the
// nodes (one step each, kMaxProfileCompileSteps); per-request work is bounded
// by the caller's step budget (variants::kMaxEvalSteps), not by this.
constexpr size_t kMaxRuleNodes = 4096;
// Longest context value/literal we try to read as a number; longer strings
// compare as strings (no double has more significant digits than this).
constexpr size_t kMaxNumberText = 64;
// Compile work for all the rules of one profile together (the caller passes
// the budget to compile()): one step per compiled node plus each pattern's
// regex::CompileResult::steps. Nodes are bounded by the input anyway (each
// costs input bytes, and a profile holds at most ~160 000 Ion values, see
// variants::kMaxCompileBytes); patterns are not: a 31-byte
// `(matches $a "(?:(?:){1000}){16}x")` costs ~16 000 steps, so without a total
// a 4 MiB profile of them compiled for seconds. Measured 2.8 ns a step
// (release build): 2 M steps is ~6 ms of compile work, room for 1 900
// patterns of a full kMaxInsts program ([a-z]{1000}: 1 014 steps) or
// 100 000 ordinary ones next to 160 000 rule nodes. Worst case: a profile of
// costly patterns stops here (400 of them: refused after ~6 ms).
constexpr uint64_t kMaxProfileCompileSteps = 2'000'000;

struct ContextPair {
  std::string_view key;
  std::string_view value;
};

// Append-only output buffer (the flag blob under construction). `limit`
// is the first byte the writer may not touch (a parse tree may live above it).
struct Writer {
  uint8_t* data;
  size_t limit;
  size_t len;
  // Appends bytes at `align`-byte alignment (relative to data); returns the
  // offset or SIZE_MAX when out of room.
  size_t append(const void* bytes, size_t n, size_t align = 1);
};

enum class Error : uint8_t {
  kNone,
  kNotARule,           // the rule is not an s-expression or boolean
  kUnknownOperator,    // first element is not one of the documented operators
  kArity,              // wrong number of operands
  kBadOperand,         // operand of a type the operator cannot use (null, struct, bare symbol…)
  kBadArgument,        // unknown or repeated annotation (in::, pattern::, key::, pct::, by::, seed::)
  kBadPattern,         // `matches` pattern does not compile (message says why)
  kBadPercent,         // split pct outside 0..100
  kTooDeep,            // nesting beyond kMaxRuleDepth
  kTooLarge,           // more than kMaxRuleNodes nodes
  kOutOfSpace,         // the Writer is full
  kTooMuchWork,        // the caller's compile budget ran out (kMaxProfileCompileSteps)
};
const char* error_message(Error error);

struct CompileResult {
  Error error;
  size_t offset;       // input byte offset (ion::Node::offset) of the offending value
  uint32_t root;       // offset of the compiled rule in the writer (kNone only)
  char message[160];   // one line: what is wrong and where, e.g. "unknown operator 'eqq'"
};

// Compiles one rule (an s-expression, or the literal true/false). When
// work_left is not null the compile work is charged to it (see
// kMaxProfileCompileSteps) and kTooMuchWork is returned once it is spent.
CompileResult compile(const ion::Node& rule, Writer& w, uint64_t* work_left = nullptr);

enum class Result : uint8_t { kFalse, kTrue, kCorrupt, kOverBudget };

// Evaluates the rule at `root` in `blob`. Later pairs win over earlier ones
// with the same key. kCorrupt when the blob does not hold a valid rule there.
// When steps_left is not null the work (node visits, context lookups, byte
// comparisons, regex steps: see regex::run) is charged to it; kOverBudget when
// it runs out before the answer is known (steps_left is then 0). One budget
// may be shared by every rule of a request.
Result evaluate(std::string_view blob, uint32_t root, std::span<const ContextPair> context,
                uint64_t* steps_left = nullptr);

// FNV-1a 32-bit over a then b (the split hash; exposed for tests).
uint32_t fnv1a_32(std::string_view a, std::string_view b);

}  // namespace appconfig::rules
