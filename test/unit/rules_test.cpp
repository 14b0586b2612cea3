// Tests for the rule language: every operator over every operand type,
// missing keys, nesting, compile errors with positions, split distribution
// and stability, hostile regexes through `matches`, corrupt blobs.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/flags/rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using appconfig::rules::ContextPair;
using appconfig::rules::Error;
using appconfig::rules::Result;
namespace ion = appconfig::ion;
namespace rules = appconfig::rules;

struct Compiled {
  std::vector<uint8_t> blob;
  rules::CompileResult result{};
};

Compiled compile_rule(const std::string& text) {
  Compiled c;
  std::vector<uint8_t> arena_mem(1 << 20);
  ion::Arena arena{arena_mem.data(), arena_mem.size(), 0};
  ion::Document doc;
  const ion::ParseResult pr = ion::parse_text(text, arena, doc);
  EXPECT_EQ(pr.error, ion::Error::kNone) << text;
  EXPECT_NE(doc.first, nullptr) << text;
  if (doc.first == nullptr) return c;
  c.blob.resize(1 << 20);
  rules::Writer w{c.blob.data(), c.blob.size(), 0};
  c.result = rules::compile(*doc.first, w);
  c.blob.resize(w.len);
  return c;
}

// "k=v;k2=v2" -> pairs (test shorthand; the real parser lives in variants).
std::vector<std::pair<std::string, std::string>> ctx_of(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(';', start);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(start, end - start);
    const size_t eq = item.find('=');
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

Result eval(const Compiled& c, const std::vector<std::pair<std::string, std::string>>& ctx) {
  std::vector<ContextPair> pairs;
  for (const auto& [k, v] : ctx) pairs.push_back({k, v});
  const std::string_view blob(reinterpret_cast<const char*>(c.blob.data()), c.blob.size());
  return rules::evaluate(blob, c.result.root, pairs);
}

struct Case {
  const char* rule;
  const char* ctx;
  bool expected;
};

void run(const std::vector<Case>& cases) {
  for (const Case& t : cases) {
    const Compiled c = compile_rule(t.rule);
    ASSERT_EQ(c.result.error, Error::kNone) << t.rule << ": " << c.result.message;
    const Result r = eval(c, ctx_of(t.ctx));
    EXPECT_EQ(r, t.expected ? Result::kTrue : Result::kFalse) << t.rule << " with " << t.ctx;
  }
}

TEST(Rules, Comparisons) {
  run({
      // strings
      {"(eq $country \"US\")", "country=US", true},
      {"(eq $country \"US\")", "country=us", false},
      {"(eq $country \"US\")", "", false},          // missing key -> false
      {"(eq $s \"\")", "s=", true},                 // empty strings
      {"(eq \"\" $s)", "s=x", false},
      {"(eq $name \"Ḽơᶉëᶆ\")", "name=Ḽơᶉëᶆ", true},  // unicode, bytewise
      {"(lt $a \"b\")", "a=a", true},
      {"(gt $a \"b\")", "a=ba", true},
      {"(lt $a \"é\")", "a=z", true},                // code point order: z (0x7A) < é
      {"(gte $a \"abc\")", "a=abc", true},
      {"(lte $a \"abc\")", "a=abd", false},
      // numbers: context strings that parse compare numerically
      {"(eq $n 10)", "n=10", true},
      {"(eq $n 10)", "n=10.0", true},              // int vs double
      {"(eq $n 10)", "n=1e1", true},
      {"(gt $n 9)", "n=10", true},                 // numeric, not "10" < "9"
      {"(lt $n 9)", "n=10", false},
      {"(gt $n 2.5)", "n=3", true},
      {"(gt $n 2.5)", "n=2.4999", false},
      {"(lte $n -7)", "n=-7", true},
      {"(eq $n 9223372036854775807)", "n=9223372036854775807", true},
      {"(lt $n 9223372036854775807)", "n=9223372036854775806", true},  // no double rounding
      {"(gt $n 9007199254740992)", "n=9007199254740993", true},
      {"(eq $n 1.5)", "n=1.50", true},
      {"(eq $n 3.14)", "n=3.14", true},
      {"(gt $n 1.234e-5)", "n=0.0001", true},
      {"(eq $n 10)", "n=abc", false},              // not a number: "abc" vs "10" as strings
      {"(gt $n 10)", "n=abc", true},               // ... and "abc" > "10" bytewise
      {"(eq $n \"10\")", "n=10.0", true},           // both parse as numbers
      {"(eq $a $b)", "a=5;b=5.0", true},           // two context values
      {"(eq $a $b)", "a=x", false},                // one missing
      {"(eq 1 1)", "", true},
      // timestamps at every precision
      {"(gt $d 2024-01T)", "d=2024-02-01", true},
      {"(gt $d 2024-01T)", "d=2024-01-01T00:00:00.001Z", true},  // Ion text needs the T (ion-tests)
      {"(eq $d 2024T)", "d=2024-01-01T00:00Z", true},
      {"(eq $d 2024-01-02)", "d=2024-01-02", true},
      {"(lt $d 2012-03-04T05:06Z)", "d=2012-03-04T05:05:59Z", true},
      {"(eq $d 2012-03-04T05:06:07-08:00)", "d=2012-03-04T13:06:07Z", true},
      {"(eq $d 2012-03-04T05:06:07.5-08:00)", "d=2012-03-04T13:06:07.500Z", true},
      {"(gt $d 2012-03-04T05:06:07.5-08:00)", "d=2012-03-04T13:06:07.5000001Z", true},
      {"(lt $d 2024-01-01T00:00Z)", "d=not a date", false},  // no common type -> false
      {"(gt $d \"2024-01-01\")", "d=2024-06", true},           // string literal that parses as a timestamp
      // booleans
      {"(eq $b true)", "b=true", true},
      {"(eq $b true)", "b=TRUE", false},
      {"(eq $b false)", "b=false", true},
      // later pairs win
      {"(eq $k \"2\")", "k=1;k=2", true},
  });
}

TEST(Rules, StringOperators) {
  run({
      {"(begins_with $e \"adm\")", "e=admin", true},
      {"(begins_with $e \"adm\")", "e=ad", false},
      {"(begins_with $e \"\")", "e=x", true},
      {"(ends_with $e \"@example.com\")", "e=a@example.com", true},
      {"(ends_with $e \"@example.com\")", "e=example.com", false},
      {"(ends_with $zip 123)", "zip=98123", true},  // an int literal compares by its text
      {"(contains $e \"min\")", "e=admin", true},
      {"(contains $e \"xyz\")", "e=admin", false},
      {"(contains $e \"\")", "e=", true},
      {"(contains [\"a\", \"b\"] $x)", "x=b", true},
      {"(contains [1, 2, 3] $x)", "x=2.0", true},
      {"(contains [1, 2, 3] $x)", "x=4", false},
      {"(in $id [\"111\", \"222\"])", "id=222", true},
      {"(in $id [\"111\", \"222\"])", "id=333", false},
      {"(in $id [\"111\", \"222\"])", "", false},
      {"(in $id [])", "id=1", false},
      {"(in $n [1, 2.5, 2024-01-01T00:00Z])", "n=2.5", true},
      {"(in $n [1, 2.5, 2024-01-01T00:00Z])", "n=2024-01-01", true},
      {"(in \"ell\" $s)", "s=hello", true},           // substring form
      {"(in $s \"hello\")", "s=ell", true},
      {"(begins_with $missing \"a\")", "", false},
      {"(not (begins_with $missing \"a\"))", "", true},
  });
}

TEST(Rules, LogicAndNesting) {
  run({
      {"true", "", true},
      {"false", "", false},
      {"(and (eq $a \"1\") (eq $b \"2\"))", "a=1;b=2", true},
      {"(and (eq $a \"1\") (eq $b \"2\"))", "a=1;b=3", false},
      {"(and (eq $a \"1\"))", "a=1", true},
      {"(or (eq $a \"1\") (eq $b \"2\"))", "a=0;b=2", true},
      {"(or (eq $a \"1\") (eq $b \"2\") (eq $c \"3\"))", "c=3", true},
      {"(or (eq $a \"1\") (eq $b \"2\"))", "", false},
      {"(not (eq $a \"1\"))", "a=2", true},
      {"(not (not (eq $a \"1\")))", "a=1", true},
      {"(not (eq $a \"1\"))", "", true},  // missing key -> the comparison is false
      {"(and (or (eq $t \"gold\") (eq $t \"platinum\")) (not (eq $country \"FR\")) (gte $age 18))",
       "t=platinum;country=US;age=18", true},
      {"(and (or (eq $t \"gold\") (eq $t \"platinum\")) (not (eq $country \"FR\")) (gte $age 18))",
       "t=platinum;country=FR;age=18", false},
      {"(eq (eq $a \"1\") true)", "a=1", true},  // an expression as an operand
      {"(exists key::\"country\")", "country=", true},
      {"(exists key::\"country\")", "tier=gold", false},
      {"(exists $country)", "country=US", true},
      {"(not (exists key::\"country\"))", "", true},
  });
}

TEST(Rules, Matches) {
  run({
      {"(matches in::$email pattern::\"@example\\\\.com$\")", "email=a@example.com", true},
      {"(matches in::$email pattern::\"@example\\\\.com$\")", "email=a@exampleXcom", false},
      {"(matches pattern::\"^[0-9]{3}$\" in::$zip)", "zip=123", true},  // any order
      {"(matches in::$zip pattern::\"^[0-9]{3}$\")", "zip=1234", false},
      {"(matches $v \"^a+$\")", "v=aaa", true},                          // positional form
      {"(matches in::$v pattern::\"x\")", "", false},
      {"(matches in::\"literal\" pattern::\"^lit\")", "", true},
      {"(matches in::$v pattern::\"^.$\")", "v=é", true},
  });
}

TEST(Rules, HostileRegexIsLinear) {
  const Compiled c = compile_rule("(matches in::$v pattern::\"(a*)*b\")");
  ASSERT_EQ(c.result.error, Error::kNone) << c.result.message;
  const std::string as(30000, 'a');
  EXPECT_EQ(eval(c, {{"v", as}}), Result::kFalse);
  EXPECT_EQ(eval(c, {{"v", as + "b"}}), Result::kTrue);
}

TEST(Rules, CompileErrorsNameThePlace) {
  const struct {
    const char* rule;
    Error error;
    size_t offset;
    const char* message_part;
  } cases[] = {
      {"(eqq $a 1)", Error::kUnknownOperator, 1, "eqq"},
      {"(eq $a)", Error::kArity, 0, "two"},
      {"(eq $a 1 2)", Error::kArity, 0, "two"},
      {"(not)", Error::kArity, 0, "one"},
      {"(not true false)", Error::kArity, 0, "one"},
      {"(and)", Error::kArity, 0, "one or more"},
      {"(eq a 1)", Error::kBadOperand, 4, "bare symbol"},
      {"(eq $a null)", Error::kBadOperand, 7, "null"},
      {"(eq $a {x:1})", Error::kBadOperand, 7, "struct"},
      {"(eq $a [1])", Error::kBadOperand, 7, "list"},
      {"(and (eq $a 1) 5)", Error::kNotARule, 15, "int"},
      {"\"just a string\"", Error::kNotARule, 0, "string"},
      {"()", Error::kNotARule, 0, "operator"},
      {"(1 2)", Error::kNotARule, 0, "operator"},
      {"(eq in::$a 1)", Error::kBadArgument, 8, "in::"},
      {"(matches in::$a)", Error::kArity, 0, "pattern"},
      {"(matches in::$a pattern::5)", Error::kBadOperand, 25, "string"},
      {"(matches in::$a pattern::\"(\")", Error::kBadPattern, 25, "parenthesis"},
      {"(matches in::$a pattern::\"a\" in::$b)", Error::kBadArgument, 33, "once"},
      {"(matches foo::$a pattern::\"a\")", Error::kBadArgument, 14, "in::"},
      {"(exists \"country\")", Error::kBadArgument, 8, "key::"},
      {"(split pct::10)", Error::kArity, 0, "by::"},
      {"(split by::$u)", Error::kArity, 0, "pct::"},
      {"(split pct::101 by::$u)", Error::kBadPercent, 12, "100"},
      {"(split pct::-1 by::$u)", Error::kBadPercent, 12, "100"},
      {"(split pct::\"10\" by::$u)", Error::kBadPercent, 12, "number"},
      {"(split pct::10 by::$u seed::1)", Error::kBadOperand, 28, "seed"},
      {"(split pct::10 by::$u pct::5)", Error::kBadArgument, 27, "once"},
      {"(split 10 $u)", Error::kBadArgument, 7, "pct::"},
  };
  for (const auto& t : cases) {
    const Compiled c = compile_rule(t.rule);
    EXPECT_EQ(c.result.error, t.error) << t.rule << ": " << c.result.message;
    EXPECT_EQ(c.result.offset, t.offset) << t.rule << ": " << c.result.message;
    EXPECT_NE(std::string(c.result.message).find(t.message_part), std::string::npos)
        << t.rule << ": " << c.result.message;
  }
  // Depth limit.
  std::string deep;
  for (size_t i = 0; i < rules::kMaxRuleDepth + 1; ++i) deep += "(not ";
  deep += "true";
  deep += std::string(rules::kMaxRuleDepth + 1, ')');
  EXPECT_EQ(compile_rule(deep).result.error, Error::kTooDeep);
  std::string ok;
  for (size_t i = 0; i < rules::kMaxRuleDepth; ++i) ok += "(not ";
  ok += "true";
  ok += std::string(rules::kMaxRuleDepth, ')');
  const Compiled c = compile_rule(ok);
  ASSERT_EQ(c.result.error, Error::kNone);
  EXPECT_EQ(eval(c, {}), rules::kMaxRuleDepth % 2 ? Result::kFalse : Result::kTrue);
}

TEST(Rules, WriterFullIsReportedAndRolledBack) {
  std::vector<uint8_t> mem(1 << 16);
  ion::Arena arena{mem.data(), mem.size(), 0};
  ion::Document doc;
  ASSERT_EQ(ion::parse_text("(and (eq $a \"x\") (matches in::$b pattern::\"^a{50}$\"))", arena, doc).error,
            ion::Error::kNone);
  for (size_t cap = 0; cap < 1200; ++cap) {
    std::vector<uint8_t> out(cap + 1, 0xEE);
    rules::Writer w{out.data(), cap, 0};
    const rules::CompileResult r = rules::compile(*doc.first, w);
    if (r.error == Error::kNone) {
      EXPECT_LE(w.len, cap);
    } else {
      EXPECT_EQ(r.error, Error::kOutOfSpace) << cap;
      EXPECT_EQ(w.len, 0u);
    }
    EXPECT_EQ(out[cap], 0xEE) << "wrote past the limit at cap " << cap;
  }
}

TEST(Rules, SplitHashIsFnv1a) {
  // FNV-1a 32 reference values (draft-eastlake-fnv test vectors).
  EXPECT_EQ(rules::fnv1a_32("", ""), 0x811c9dc5u);
  EXPECT_EQ(rules::fnv1a_32("a", ""), 0xe40c292cu);
  EXPECT_EQ(rules::fnv1a_32("foo", ""), 0xa9f37ed7u);
  EXPECT_EQ(rules::fnv1a_32("foo", "bar"), rules::fnv1a_32("foobar", ""));
}

TEST(Rules, SplitDistributionCumulativeAndStable) {
  // Variants A (20%), B (45% cumulative), C (default): over 100,000 ids each
  // bucket's share is within ±0.5% of its percentage.
  const Compiled a = compile_rule("(split pct::20 by::$userId seed::\"exp1\")");
  const Compiled b = compile_rule("(split pct::45 by::$userId seed::\"exp1\")");
  ASSERT_EQ(a.result.error, Error::kNone);
  ASSERT_EQ(b.result.error, Error::kNone);
  const unsigned seed = std::random_device{}();
  std::printf("split id seed %u\n", seed);
  std::mt19937_64 rng(seed);
  size_t count_a = 0, count_b = 0, count_c = 0;
  const size_t n = 100000;
  for (size_t i = 0; i < n; ++i) {
    const std::string id = std::to_string(rng());
    if (eval(a, {{"userId", id}}) == Result::kTrue) {
      ++count_a;
      EXPECT_EQ(eval(b, {{"userId", id}}), Result::kTrue);  // cumulative: A's ids are inside B's 45%
    } else if (eval(b, {{"userId", id}}) == Result::kTrue) {
      ++count_b;
    } else {
      ++count_c;
    }
  }
  EXPECT_NEAR(100.0 * count_a / n, 20.0, 0.5);
  EXPECT_NEAR(100.0 * count_b / n, 25.0, 0.5);
  EXPECT_NEAR(100.0 * count_c / n, 55.0, 0.5);
  // Stable per id and equal to the documented formula.
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "user-" + std::to_string(i);
    const bool expect = (rules::fnv1a_32(id, "exp1") % 100000) / 1000.0 < 20.0;
    EXPECT_EQ(eval(a, {{"userId", id}}), expect ? Result::kTrue : Result::kFalse) << id;
    EXPECT_EQ(eval(a, {{"userId", id}}), eval(a, {{"userId", id}}));
  }
  // A different seed reshuffles; pct 0 and 100 are absolute; fractional pct works.
  const Compiled zero = compile_rule("(split pct::0 by::$u)");
  const Compiled all = compile_rule("(split pct::100 by::$u)");
  const Compiled half = compile_rule("(split pct::12.5 by::$u)");
  size_t in_half = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = std::to_string(i * 7919);
    EXPECT_EQ(eval(zero, {{"u", id}}), Result::kFalse);
    EXPECT_EQ(eval(all, {{"u", id}}), Result::kTrue);
    in_half += eval(half, {{"u", id}}) == Result::kTrue;
  }
  EXPECT_NEAR(100.0 * in_half / 20000, 12.5, 1.0);
  EXPECT_EQ(eval(all, {}), Result::kFalse);  // missing by:: key
}

TEST(Rules, CorruptBlobsAreDetected) {
  const Compiled c = compile_rule(
      "(and (or (eq $a 1) (in $b [\"x\", \"y\"])) (matches in::$c pattern::\"^z+$\") (split pct::50 by::$d))");
  ASSERT_EQ(c.result.error, Error::kNone);
  const std::string blob(reinterpret_cast<const char*>(c.blob.data()), c.blob.size());
  std::vector<ContextPair> ctx = {{"a", "1"}, {"b", "x"}, {"c", "zz"}, {"d", "k"}};
  EXPECT_NE(rules::evaluate(blob, c.result.root, ctx), Result::kCorrupt);
  EXPECT_EQ(rules::evaluate(blob, 0, ctx), Result::kCorrupt);
  EXPECT_EQ(rules::evaluate(blob, static_cast<uint32_t>(blob.size()), ctx), Result::kCorrupt);
  for (size_t len = 0; len < blob.size(); ++len) {
    rules::evaluate(std::string_view(blob).substr(0, len), c.result.root, ctx);  // no out-of-bounds read
  }
  const unsigned seed = std::random_device{}();
  std::printf("rules corruption seed %u\n", seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 5000; ++i) {
    std::string bad = blob;
    for (int f = 0; f < 3; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    rules::evaluate(bad, c.result.root, ctx);  // must terminate without crashing
  }
}


// ---------------------------------------------------------------- budgets

Compiled compile_rule_budget(const std::string& text, uint64_t* work_left) {
  Compiled c;
  std::vector<uint8_t> arena_mem(1 << 22);
  ion::Arena arena{arena_mem.data(), arena_mem.size(), 0};
  ion::Document doc;
  EXPECT_EQ(ion::parse_text(text, arena, doc).error, ion::Error::kNone) << text.substr(0, 200);
  if (doc.first == nullptr) return c;
  c.blob.resize(1 << 22);
  rules::Writer w{c.blob.data(), c.blob.size(), 0};
  c.result = rules::compile(*doc.first, w, work_left);
  c.blob.resize(w.len);
  return c;
}

// A pattern whose counted repeats expand to no instructions used to hang the
// compile; now it is a kBadPattern naming the offset of the repeat.
TEST(RulesBudget, RegexBombIsABadPatternWithItsOffset) {
  for (const char* bomb : {"((((){1000}){1000}){1000})", "((((a{0}){1000}){1000}){1000})",
                           "((((?:){1000}){1000}){1000})", "(((((){1000}){1000}){1000}){1000})"}) {
    const Compiled c = compile_rule(std::string("(matches in::$v pattern::\"") + bomb + "\")");
    EXPECT_EQ(c.result.error, Error::kBadPattern) << bomb;
    EXPECT_NE(std::string(c.result.message).find("too much compile work"), std::string::npos) << c.result.message;
    EXPECT_NE(std::string(c.result.message).find("at pattern byte"), std::string::npos) << c.result.message;
  }
}

// Each pattern is bounded on its own; a profile's rules share one total, so
// many moderately costly patterns cannot add up to seconds either.
TEST(RulesBudget, PatternsShareTheProfileCompileBudget) {
  std::string rule = "(or";
  for (int i = 0; i < 300; ++i) rule += " (matches in::$v pattern::\"(?:(?:){1000}){16}x\")";
  rule += ")";
  uint64_t left = rules::kMaxProfileCompileSteps;
  const Compiled c = compile_rule_budget(rule, &left);
  EXPECT_EQ(c.result.error, Error::kTooMuchWork) << c.result.message;
  EXPECT_NE(std::string(c.result.message).find("compile steps"), std::string::npos) << c.result.message;
  EXPECT_EQ(left, 0u);
  // One of them compiles, and its cost is charged.
  left = rules::kMaxProfileCompileSteps;
  const Compiled one = compile_rule_budget("(matches in::$v pattern::\"(?:(?:){1000}){16}x\")", &left);
  ASSERT_EQ(one.result.error, Error::kNone) << one.result.message;
  EXPECT_LT(left, rules::kMaxProfileCompileSteps - 16000);
  // Without a budget (tests, tools) nothing is charged.
  EXPECT_EQ(compile_rule(rule).result.error, Error::kNone);
}

Result eval_budget(const Compiled& c, const std::vector<std::pair<std::string, std::string>>& ctx, uint64_t* left) {
  std::vector<ContextPair> pairs;
  for (const auto& [k, v] : ctx) pairs.push_back({k, v});
  const std::string_view blob(reinterpret_cast<const char*>(c.blob.data()), c.blob.size());
  return rules::evaluate(blob, c.result.root, pairs, left);
}

// The 19.7 s attack, one rule of it: a large negated class under {1000}
// against a 4 000-byte value. Bounded by the caller's budget.
TEST(RulesBudget, CostlyMatchStopsAtTheBudget) {
  std::string cls = "[^";
  for (int c = 1; c < 0x7f; c += 2) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\\\x%02x", c);
    cls += buf;
  }
  cls += "]{1000}\\\\x01";  // then a byte the text never holds: no match
  const Compiled c = compile_rule("(or (matches in::$v pattern::\"" + cls + "\") (matches in::$v pattern::\"" + cls +
                                  "\"))");
  ASSERT_EQ(c.result.error, Error::kNone) << c.result.message;
  const std::string value(4000, 'b');  // 'b' (0x62) is in the negated class: 1000 live threads per byte
  uint64_t left = 2'000'000;
  EXPECT_EQ(eval_budget(c, {{"v", value}}, &left), Result::kOverBudget);
  EXPECT_EQ(left, 0u);
  // Unbounded (nullptr) it still answers: the cost is linear, only large.
  EXPECT_EQ(eval(c, {{"v", std::string(1100, 'b')}}), Result::kFalse);
  EXPECT_EQ(eval(c, {{"v", std::string(1100, 'b') + "\x01"}}), Result::kTrue);
  // A short value fits easily and is charged.
  left = 2'000'000;
  EXPECT_EQ(eval_budget(c, {{"v", "ab"}}, &left), Result::kFalse);
  EXPECT_LT(left, 2'000'000u);
  EXPECT_GT(left, 1'900'000u);
}

// contains/in used std::string_view::find: n × m byte comparisons for a needle
// that almost matches everywhere. memmem is linear, and charged as such.
TEST(RulesBudget, SubstringSearchIsLinearAndCharged) {
  const std::string needle = std::string(2000, 'a') + "b";
  const Compiled c = compile_rule("(contains $v \"" + needle + "\")");
  ASSERT_EQ(c.result.error, Error::kNone);
  uint64_t left = 1'000'000;
  EXPECT_EQ(eval_budget(c, {{"v", std::string(4000, 'a')}}, &left), Result::kFalse);
  const uint64_t spent = 1'000'000 - left;
  EXPECT_GT(spent, (4000 + 2001) / 16);
  EXPECT_LT(spent, 4 * (4000 + 2001));
  left = 1'000'000;
  EXPECT_EQ(eval_budget(c, {{"v", std::string(4000, 'a') + "b"}}, &left), Result::kTrue);
  const Compiled in = compile_rule("(in $v \"xxabcxx\")");
  EXPECT_EQ(eval(in, {{"v", "abc"}}), Result::kTrue);
  EXPECT_EQ(eval(in, {{"v", ""}}), Result::kTrue);
  EXPECT_EQ(eval(in, {{"v", "abd"}}), Result::kFalse);
  left = 3;  // not even one node
  EXPECT_EQ(eval_budget(in, {{"v", "abc"}}, &left), Result::kOverBudget);
}

// Worst nesting and the largest rule still evaluate within a fraction of the budget.
TEST(RulesBudget, DeepestAndLargestRulesFitTheBudget) {
  std::string deep;
  // 31 nots, the eq at level 32 and its operands one deeper: the deepest accepted.
  for (size_t i = 0; i + 1 < rules::kMaxRuleDepth; ++i) deep += "(not ";
  deep += "(eq $a \"1\")";
  for (size_t i = 0; i + 1 < rules::kMaxRuleDepth; ++i) deep += ")";
  const Compiled d = compile_rule(deep);
  ASSERT_EQ(d.result.error, Error::kNone) << d.result.message;
  uint64_t left = 2'000'000;
  EXPECT_EQ(eval_budget(d, {{"a", "1"}}, &left), Result::kFalse);  // 31 nots: odd
  EXPECT_EQ(compile_rule("(not " + deep + ")").result.error, Error::kTooDeep);
  EXPECT_GT(left, 1'999'000u);
  std::string wide = "(in $a [";
  for (int i = 0; i < 4000; ++i) wide += "\"v" + std::to_string(i) + "\",";
  wide += "])";
  const Compiled w = compile_rule(wide);
  ASSERT_EQ(w.result.error, Error::kNone) << w.result.message;
  left = 2'000'000;
  EXPECT_EQ(eval_budget(w, {{"a", "nope"}}, &left), Result::kFalse);
  EXPECT_GT(left, 1'900'000u);
}

}  // namespace
