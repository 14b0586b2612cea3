// regex: a small regular-expression engine with linear-time matching, for the
// `matches` operator of feature-flag rules (spec §6).
//
// Owns: compiling a pattern into a compact, self-contained program (bytes that
// may be copied anywhere, e.g. into a flag blob) and searching text with it
// using a Pike VM (Thompson NFA simulation). Matching costs at most
// O(len(text) × program size) steps whatever the pattern: no backtracking, so
// hostile patterns such as (a*)*b cannot blow up.
// Knows nothing of rules, Ion or HTTP.
//
// Syntax (a common subset of RE2/ECMAScript, documented in docs/feature-flags.md):
// literals (UTF-8), `.` (any code point but \n), classes `[a-z]`, `[^…]`,
// escapes \d \D \w \W \s \S \n \t \r \f \v \0 \xHH \uHHHH and escaped
// punctuation, anchors ^ $ (whole text), groups ( ) and (?: ), alternation |,
// quantifiers * + ? {n} {n,} {n,m} and their lazy forms (laziness does not
// change whether a match exists). Not supported (rejected with an error, never
// silently misread): backreferences, lookaround, \b \B, inline flags (?i).
//
// Semantics: search() is an unanchored search (true when the pattern matches
// any substring); anchor with ^…$ for a whole-text match.
//
// Lifetimes: a program is plain bytes with no pointers; search() reads it in
// place and keeps no state between calls. No allocation anywhere.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::regex {

// Pattern bytes. Rule patterns are short; this bounds compile work.
constexpr size_t kMaxPatternBytes = 1024;
// Program instructions. Bounds the Pike VM's per-position work and its thread
// lists, which live on the stack of search() (about 8 bytes per instruction).
// Counted repeats expand in the program, so a{1000} is rejected here.
constexpr size_t kMaxInsts = 1024;
// Character-class ranges per program (each class adds its ranges).
constexpr size_t kMaxRanges = 512;
// Group nesting; the parser recurses once per level.
constexpr size_t kMaxNesting = 32;
// Largest n or m in {n,m}; larger counts are a program-size problem anyway.
constexpr size_t kMaxRepeat = 1000;
// Bytes a compiled program can occupy at most (header + insts + ranges).
constexpr size_t kMaxProgramBytes = 8 + kMaxInsts * 8 + kMaxRanges * 8;
// Compile work per pattern, in steps: one per pattern byte (the parse is one
// pass) plus one per AST node visit of code generation. kMaxInsts alone does
// not bound the work: a counted repeat visits its body `min` times even when
// the body emits nothing, so `((((){1000}){1000}){1000})` emitted 1 instruction
// in 10^9 visits (2.1 s). Real patterns visit one to three nodes per
// instruction (a{1000}: 1 001 visits; (ab|c){300}: about 1 500), so 16 visits
// per possible instruction only refuses patterns whose work emits nothing.
// Worst accepted pattern: kMaxPatternBytes + 1 + kMaxCompileSteps = 17 409
// steps (time measured in docs/feature-flags.md).
constexpr size_t kMaxCompileSteps = 16 * kMaxInsts;

enum class Error : uint8_t {
  kNone,
  kTooLong,          // pattern longer than kMaxPatternBytes
  kTooComplex,       // program over kMaxInsts / kMaxRanges, or nesting over kMaxNesting
  kBadEscape,        // unknown or unsupported escape (\b, \1, \q …)
  kUnbalancedParen,  // ( without ) or ) without (
  kBadClass,         // unterminated [..], reversed range z-a
  kBadRepeat,        // malformed {n,m}, n > m, count over kMaxRepeat
  kNothingToRepeat,  // quantifier with nothing before it, or two quantifiers in a row
  kUnsupported,      // (?=…), (?i) and other group extensions
  kBadUtf8,          // the pattern is not valid UTF-8
  kOutOfSpace,       // the caller's buffer is smaller than the program
  kTooMuchWork,      // code generation over kMaxCompileSteps; offset: the repeat being expanded
};
const char* error_message(Error error);

struct CompileResult {
  Error error = Error::kNone;
  size_t offset = 0;       // pattern byte offset of the problem (kNone: 0)
  size_t program_len = 0;  // bytes written to `out` (kNone only)
  uint64_t steps = 0;      // compile work done (success or failure), <= kMaxPatternBytes + 1 + kMaxCompileSteps
};

// Compiles `pattern` into out[0..program_len). cap >= kMaxProgramBytes always suffices.
CompileResult compile(std::string_view pattern, uint8_t* out, size_t cap);

// True when `program` matches somewhere in `text`. Text is decoded as UTF-8;
// an invalid byte is a code point of its own that only `.` and negated
// classes match. A corrupt program makes it return false. When `steps` is not
// null it receives the number of VM steps taken (for tests that prove linear time).
bool search(std::string_view program, std::string_view text, uint64_t* steps = nullptr);

enum class Outcome : uint8_t { kNoMatch, kMatch, kOverBudget, kCorrupt };

// search() under a step budget shared by the caller's other work (a request's
// whole flag evaluation). A step is one VM thread step or one instruction
// visit (a class test adds half a step per halving of its binary search over
// sorted ranges, at most 5), plus one per instruction and range to load the
// program. Cost is at most (ni + nr) + 8 × ni × (len(text) + 1) steps.
// steps_left is reduced by the steps taken; when it would run out, the search
// stops at the next text position (overshooting by at most 8 × ni steps) and
// returns kOverBudget with steps_left = 0.
Outcome run(std::string_view program, std::string_view text, uint64_t& steps_left);

}  // namespace appconfig::regex
