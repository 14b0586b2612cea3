// Tests for the regex module: syntax table, errors, differential testing
// against std::regex on random patterns, and linear time on hostile patterns
// (counted in VM steps, not wall time).
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/flags/regex.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// (instantiated in this file), so the warning is off for this test only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#include <string>
#include <vector>

namespace {

using appconfig::regex::compile;
using appconfig::regex::Error;
using appconfig::regex::kMaxProgramBytes;
using appconfig::regex::search;

struct Compiled {
  std::vector<uint8_t> prog;
  Error error;
  size_t offset;
};

Compiled make(std::string_view pattern) {
  Compiled c;
  c.prog.resize(kMaxProgramBytes);
  const auto r = compile(pattern, c.prog.data(), c.prog.size());
  c.error = r.error;
  c.offset = r.offset;
  c.prog.resize(r.error == Error::kNone ? r.program_len : 0);
  return c;
}

bool matches(std::string_view pattern, std::string_view text, uint64_t* steps = nullptr) {
  const Compiled c = make(pattern);
  EXPECT_EQ(c.error, Error::kNone) << pattern;
  return search(std::string_view(reinterpret_cast<const char*>(c.prog.data()), c.prog.size()), text, steps);
}

struct Case {
  const char* pattern;
  const char* text;
  bool expected;
};

TEST(Regex, Table) {
  const Case cases[] = {
      {"abc", "xxabcxx", true},
      {"abc", "ab", false},
      {"^abc$", "abc", true},
      {"^abc$", "abcd", false},
      {"^$", "", true},
      {"", "anything", true},
      {"a|b", "b", true},
      {"a|b", "c", false},
      {"^(a|bc)+$", "abcabc", true},
      {"^(a|bc)+$", "abcb", false},
      {"colou?r", "color", true},
      {"colou?r", "colour", true},
      {"^a{3}$", "aaa", true},
      {"^a{3}$", "aa", false},
      {"^a{2,3}$", "aaaa", false},
      {"^a{2,}$", "aaaaaaa", true},
      {"^a{0}$", "", true},
      {"^a{,2}$", "a{,2}", true},  // not a repeat: literal braces
      {"x{", "x{", true},
      {"^[a-c]+$", "abcabc", true},
      {"^[a-c]+$", "abcd", false},
      {"^[^a-c]+$", "xyz", true},
      {"^[^a-c]+$", "xaz", false},
      {"[]a]", "]", true},
      {"[a-]", "-", true},
      {"^\\d+$", "0123456789", true},
      {"^\\d+$", "12a", false},
      {"^\\D+$", "abc", true},
      {"^\\w+$", "A_z9", true},
      {"^\\W$", "-", true},
      {"^\\s$", "\t", true},
      {"^\\S$", " ", false},
      {"^[\\d.]+$", "1.2.3", true},
      {"^[\\D]$", "5", false},
      {"\\.", "a.b", true},
      {"\\.", "ab", false},
      {"^\\x41\\u00e9$", "A\xc3\xa9", true},
      {"^.$", "\xc3\xa9", true},                    // one code point, two bytes
      {"^..$", "\xc3\xa9", false},
      {"^[\xc3\xa0-\xc3\xbf]$", "\xc3\xa9", true},  // a range of non-ASCII code points
      {"^.$", "\n", false},
      {"^.$", "\xff", true},  // an invalid byte is one code point
      {"^(?:ab)*$", "ababab", true},
      {"^(a*)*b$", "aaab", true},
      {"^(a*)*b$", "aaa", false},
      {"^a*?b$", "aab", true},
      {"^(a|)+$", "aaa", true},
      {"^.*@example\\.com$", "user@example.com", true},
      {"^.*@example\\.com$", "user@example.org", false},
      {"\\$5", "costs $5", true},
      {"^\\^$", "^", true},
      {"a\\/b", "a/b", true},
      {"^\\t\\n\\r\\f\\v$", "\t\n\r\f\v", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(matches(c.pattern, c.text), c.expected) << "pattern=" << c.pattern << " text=" << c.text;
  }
  // Embedded NUL through \0.
  EXPECT_TRUE(matches("^a\\0b$", std::string_view("a\0b", 3)));
}

TEST(Regex, LongPatternsAndCountedRepeats) {
  // A 1000-item concatenation compiles (code generation does not recurse per item).
  EXPECT_TRUE(matches(std::string(1000, 'a'), std::string(1000, 'a')));
  EXPECT_FALSE(matches(std::string(1000, 'a'), std::string(999, 'a')));
  // Optional copies are patched at a fixed stride: check both ends.
  std::string ab;
  for (int i = 0; i < 300; ++i) ab += "ab";
  EXPECT_TRUE(matches("^(?:ab){0,300}$", ab));
  EXPECT_FALSE(matches("^(?:ab){0,300}$", ab + "ab"));
  EXPECT_TRUE(matches("^(?:ab){0,300}$", ""));
  EXPECT_TRUE(matches("^(?:a|bc){2,4}?$", "abca"));
  EXPECT_FALSE(matches("^(?:a|bc){2,4}$", "a"));
  EXPECT_EQ(make("a{0,1000}b{0,1000}").error, Error::kTooComplex);
}

TEST(Regex, Errors) {
  const struct {
    const char* pattern;
    Error error;
  } cases[] = {
      {"(", Error::kUnbalancedParen},     {")", Error::kUnbalancedParen},   {"a)", Error::kUnbalancedParen},
      {"(a", Error::kUnbalancedParen},    {"*a", Error::kNothingToRepeat}, {"a**", Error::kNothingToRepeat},
      {"+", Error::kNothingToRepeat},     {"a{3,2}", Error::kBadRepeat},   {"a{1001}", Error::kBadRepeat},
      {"[a", Error::kBadClass},           {"[z-a]", Error::kBadClass},     {"[]", Error::kBadClass},
      {"\\b", Error::kBadEscape},         {"\\1", Error::kBadEscape},      {"\\q", Error::kBadEscape},
      {"a\\", Error::kBadEscape},         {"\\x4", Error::kBadEscape},     {"\\ud800", Error::kBadEscape},
      {"(?=a)", Error::kUnsupported},     {"(?i)a", Error::kUnsupported},  {"\xc3", Error::kBadUtf8},
      {"a{1000}a{1000}", Error::kTooComplex},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(make(c.pattern).error, c.error) << c.pattern;
  }
  EXPECT_EQ(make(std::string(appconfig::regex::kMaxPatternBytes + 1, 'a')).error, Error::kTooLong);
  std::string deep(40, '(');
  deep += "a";
  deep += std::string(40, ')');
  EXPECT_EQ(make(deep).error, Error::kTooComplex);
  // A too-small output buffer is reported, not overrun.
  uint8_t tiny[8];
  EXPECT_EQ(compile("abc", tiny, sizeof tiny).error, Error::kOutOfSpace);
}

TEST(Regex, CorruptProgramIsRejected) {
  Compiled c = make("a(b|c)*d");
  ASSERT_EQ(c.error, Error::kNone);
  std::string prog(reinterpret_cast<const char*>(c.prog.data()), c.prog.size());
  EXPECT_TRUE(search(prog, "abcbd"));
  for (size_t len = 0; len < prog.size(); ++len) EXPECT_FALSE(search(prog.substr(0, len), "abcbd"));
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = prog;
    bad[8 + rng() % (bad.size() - 8)] = static_cast<char>(rng());
    search(bad, "abcbdabcbd");  // must not crash or read out of bounds
  }
}

// Linear time: steps are bounded by (text length + 1) × a small multiple of
// the program size, whatever the pattern.
TEST(Regex, HostilePatternsRunInLinearSteps) {
  const std::string as(30000, 'a');
  const char* hostile[] = {"(a*)*b", "(a+)+b", "(a|a)*b", "(a|aa)*c", "^(a?){30}a{30}$", "(.*)*x", "(a*)*(a*)*b"};
  for (const char* p : hostile) {
    const Compiled c = make(p);
    ASSERT_EQ(c.error, Error::kNone) << p;
    const size_t insts = (c.prog.size() - 8) / 8;
    uint64_t steps = 0;
    const bool m = search(std::string_view(reinterpret_cast<const char*>(c.prog.data()), c.prog.size()), as, &steps);
    EXPECT_FALSE(m) << p;
    EXPECT_LE(steps, 3 * (as.size() + 1) * insts) << p;
    // And doubling the input at most doubles the steps (plus a constant).
    uint64_t steps2 = 0;
    search(std::string_view(reinterpret_cast<const char*>(c.prog.data()), c.prog.size()), as + as, &steps2);
    EXPECT_LE(steps2, 2 * steps + 10 * insts) << p;
  }
}

// Random patterns over a tiny alphabet compared with std::regex (ECMAScript,
// regex_search): same yes/no answer on random texts.
std::string random_pattern(std::mt19937& rng, int depth) {
  std::string out;
  const int items = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < items; ++i) {
    std::string atom;
    switch (rng() % (depth > 2 ? 5 : 7)) {
      case 0: atom = "a"; break;
      case 1: atom = "b"; break;
      case 2: atom = "."; break;
      case 3: atom = rng() % 2 ? "[ab]" : "[^a]"; break;
      case 4: atom = "c"; break;
      case 5: atom = "(" + random_pattern(rng, depth + 1) + ")"; break;
      default: atom = "(" + random_pattern(rng, depth + 1) + "|" + random_pattern(rng, depth + 1) + ")"; break;
    }
    // std::regex backtracks: a repeated group holding a repeat can take
    // exponential time there (not here), so groups only get '?' or {2}.
    const bool group = atom[0] == '(';
    switch (rng() % 8) {
      case 0: atom += group ? "?" : "*"; break;
      case 1: atom += group ? "" : "+"; break;
      case 2: atom += "?"; break;
      case 3: atom += group ? "" : "{1,2}"; break;
      case 4: atom += "{2}"; break;
      default: break;
    }
    out += atom;
  }
  if (depth == 0 && rng() % 4 == 0) out = "^" + out;
  if (depth == 0 && rng() % 4 == 0) out += "$";
  return out;
}

TEST(Regex, AgreesWithStdRegex) {
  const unsigned seed = std::random_device{}();
  std::printf("regex differential seed %u\n", seed);
  std::mt19937 rng(seed);
  int checked = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string p = random_pattern(rng, 0);
    const Compiled c = make(p);
    ASSERT_EQ(c.error, Error::kNone) << p;
    const std::regex re(p, std::regex::ECMAScript);
    for (int t = 0; t < 8; ++t) {
      std::string text;
      const size_t len = rng() % 9;
      for (size_t k = 0; k < len; ++k) text += "abc"[rng() % 3];
      const bool want = std::regex_search(text, re);
      const bool got = search(std::string_view(reinterpret_cast<const char*>(c.prog.data()), c.prog.size()), text);
      ASSERT_EQ(got, want) << "seed " << seed << " pattern " << p << " text '" << text << "'";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1500 * 8);
}

}  // namespace

namespace hardening {

using appconfig::regex::kMaxCompileSteps;
using appconfig::regex::kMaxInsts;
using appconfig::regex::kMaxPatternBytes;
using appconfig::regex::Outcome;
using appconfig::regex::run;

std::string nest(const std::string& inner, const std::string& quantifier, int levels) {
  std::string p = inner;
  for (int i = 0; i < levels; ++i) p = "(" + p + ")" + quantifier;
  return p;
}

// Counted repeats over bodies that emit nothing: compile work is bounded by
// visits, not by instructions. Before the fix the 3-level forms took seconds
// and the 4-level ones never finished.
TEST(RegexCompileBudget, EmptyBodiesUnderNestedRepeatsAreRefused) {
  const std::string bombs[] = {
      "((((){1000}){1000}){1000})",     nest("()", "{1000}", 4),    nest("(?:)", "{1000}", 4),
      nest("a{0}", "{1000}", 3),        nest("(?:a{0})", "{1000}", 4), nest("(?:^)", "{0}", 1) + nest("()", "{999,1000}", 4),
      nest("$?", "{1000}", 3),           nest("(?:|)", "{1000}", 3),
  };
  for (const std::string& p : bombs) {
    uint8_t out[appconfig::regex::kMaxProgramBytes];
    const auto r = compile(p, out, sizeof out);
    EXPECT_TRUE(r.error == Error::kTooMuchWork || r.error == Error::kTooComplex) << p;
    EXPECT_LE(r.steps, kMaxPatternBytes + 1 + kMaxCompileSteps + 1) << p;
    if (r.error == Error::kTooMuchWork) {
      // The offset names a quantifier of the pattern.
      ASSERT_LT(r.offset, p.size()) << p;
      EXPECT_TRUE(p[r.offset] == '{' || p[r.offset] == '?') << p << " at " << r.offset;
    }
  }
  const auto r = compile("((((){1000}){1000}){1000})", std::vector<uint8_t>(9000).data(), 9000);
  EXPECT_EQ(r.error, Error::kTooMuchWork);
  EXPECT_EQ(r.offset, 5u);  // the innermost {1000}, right after "(((()"
  EXPECT_STREQ(appconfig::regex::error_message(Error::kTooMuchWork),
               "too much compile work in counted repeats");
}

TEST(RegexCompileBudget, RealPatternsStayInsideTheBudget) {
  const char* fine[] = {"a{1000}", "^(?:ab){0,300}$", "(ab|c){150}", "[a-z]{1000}", "^[^\\x00-\\x1f]{0,500}$",
                        "(?:(?:(?:(?:(?:x){2}){2}){2}){2}){2}"};
  for (const char* p : fine) {
    const Compiled c = make(p);
    EXPECT_EQ(c.error, Error::kNone) << p;
    uint8_t out[appconfig::regex::kMaxProgramBytes];
    EXPECT_LT(compile(p, out, sizeof out).steps, kMaxCompileSteps / 4) << p;
  }
}

// A program whose last instruction is an anchor: its successor pc + 1 is out
// of range. search() indexed mark[ni] with it (ASan: stack-buffer-overflow
// when ni = kMaxInsts); the verifier now rejects it.
TEST(RegexCompileBudget, VerifierRejectsAnAnchorAsLastInstruction) {
  for (const uint8_t anchor : {uint8_t{5} /* Bol */, uint8_t{6} /* Eol */}) {
    for (const size_t ni : {size_t{2}, size_t{kMaxInsts}}) {
      std::string prog("RX1\0", 4);
      const uint16_t n16 = static_cast<uint16_t>(ni), nr = 0;
      prog.append(reinterpret_cast<const char*>(&n16), 2);
      prog.append(reinterpret_cast<const char*>(&nr), 2);
      // 0: jmp ni-1; 1 .. ni-2: match; ni-1: the anchor.
      auto inst = [&](uint8_t op, uint16_t a) {
        const uint8_t b[8] = {op, 0, static_cast<uint8_t>(a & 0xFF), static_cast<uint8_t>(a >> 8), 0, 0, 0, 0};
        prog.append(reinterpret_cast<const char*>(b), 8);
      };
      inst(4 /* Jmp */, static_cast<uint16_t>(ni - 1));
      for (size_t i = 1; i + 1 < ni; ++i) inst(7 /* Match */, 0);
      inst(anchor, 0);
      EXPECT_FALSE(search(prog, "")) << int{anchor} << " " << ni;
      EXPECT_FALSE(search(prog, "abc")) << int{anchor} << " " << ni;
      uint64_t left = 1000000;
      EXPECT_EQ(run(prog, "", left), Outcome::kCorrupt);
    }
  }
}

// Classes are sorted and merged at compile time; matching uses a binary search.
TEST(RegexClasses, UnsortedOverlappingRangesMatchTheSameSet) {
  EXPECT_TRUE(matches("^[x-zb-dA-Cc-e\\d]+$", "xbAe9C"));
  EXPECT_FALSE(matches("^[x-zb-dA-Cc-e\\d]+$", "f"));
  EXPECT_FALSE(matches("^[x-zb-dA-Cc-e\\d]+$", "a"));
  EXPECT_TRUE(matches("^[^zyxa-c]$", "d"));
  EXPECT_FALSE(matches("^[^zyxa-c]$", "b"));
  EXPECT_FALSE(matches("^[^zyxa-c]$", "y"));
  EXPECT_TRUE(matches("^[\\W\\w]$", "\xe2\x82\xac"));
  // Adjacent ranges merge; a class of 256 single bytes becomes one range.
  std::string cls = "^[";
  for (int c = 0x7e; c >= 0x21; --c) {
    if (c == ']' || c == '\\' || c == '^' || c == '-') cls += '\\';
    cls += static_cast<char>(c);
  }
  cls += "]+$";
  const Compiled c = make(cls);
  ASSERT_EQ(c.error, Error::kNone);
  uint16_t nr;
  std::memcpy(&nr, c.prog.data() + 6, 2);
  EXPECT_EQ(nr, 1);
  EXPECT_TRUE(matches(cls, "!~azAZ09"));
  EXPECT_FALSE(matches(cls, "a b"));
}

TEST(RegexRunBudget, StopsWhenTheBudgetRunsOut) {
  const Compiled c = make("[^a]{1000}x");
  ASSERT_EQ(c.error, Error::kNone);
  const std::string_view prog(reinterpret_cast<const char*>(c.prog.data()), c.prog.size());
  const std::string text(4000, 'b');
  uint64_t all = 0;
  EXPECT_FALSE(search(prog, text, &all));
  EXPECT_GT(all, 1000000u);
  uint64_t left = all;  // exactly enough
  EXPECT_EQ(run(prog, text, left), Outcome::kNoMatch);
  EXPECT_EQ(left, 0u);
  left = all + 5;
  EXPECT_EQ(run(prog, text, left), Outcome::kNoMatch);
  EXPECT_EQ(left, 5u);
  left = 100000;
  EXPECT_EQ(run(prog, text, left), Outcome::kOverBudget);
  EXPECT_EQ(left, 0u);
  left = 10;  // not even enough to load the program
  EXPECT_EQ(run(prog, text, left), Outcome::kOverBudget);
  // A match found inside the budget is reported as a match.
  left = 10000000;
  EXPECT_EQ(run(prog, std::string(999, 'b') + "bx", left), Outcome::kMatch);
  EXPECT_GT(left, 0u);
}

}  // namespace hardening
