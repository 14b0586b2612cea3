// Tests for multi-variant flags: the Context header parser, compiling Ion
// text and binary profiles, variant choice, ?flag= combinations, output
// pieces (merging and scratch spill), compile errors, corrupt blobs.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/flags/variants.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "appconfig/formats/json.h"

namespace {

namespace variants = appconfig::variants;
namespace flags = appconfig::flags;
using variants::EvalError;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- Context

struct ParsedContext {
  variants::Context ctx{};
  bool ok = false;
  char err[200] = {};
};

std::unique_ptr<ParsedContext> parse(const std::vector<std::string>& headers) {
  auto p = std::make_unique<ParsedContext>();
  std::vector<std::string_view> views(headers.begin(), headers.end());
  p->ok = variants::parse_context(views.data(), views.size(), p->ctx, p->err, sizeof p->err);
  return p;
}

std::string pairs_of(const variants::Context& c) {
  std::string out;
  for (size_t i = 0; i < c.num_pairs; ++i) {
    out += "[" + std::string(c.pairs[i].key) + "=" + std::string(c.pairs[i].value) + "]";
  }
  return out;
}

TEST(Context, Accepted) {
  const struct {
    std::vector<std::string> headers;
    const char* pairs;
  } cases[] = {
      {{}, ""},
      {{""}, ""},
      {{"country=US"}, "[country=US]"},
      {{"country=US,tier=gold"}, "[country=US][tier=gold]"},
      {{"country=US", "tier=gold"}, "[country=US][tier=gold]"},
      {{" country = US , tier=gold "}, "[country=US][tier=gold]"},
      {{"a=1,,b=2,"}, "[a=1][b=2]"},            // empty list elements are ignored (RFC 9110 §5.6.1)
      {{"tier="}, "[tier=]"},                   // empty value
      {{"token=abc=="}, "[token=abc==]"},       // '=' inside the value
      {{"name=J%C3%BCrgen"}, "[name=Jürgen]"},  // percent-decoding to UTF-8
      {{"list=a%2Cb"}, "[list=a,b]"},           // %2C carries a comma
      {{"sp=a+b%20c"}, "[sp=a+b c]"},           // '+' stays '+'
      {{"k%3D=v"}, "[k==v]"},                   // keys are decoded too
      {{"k=1", "k=2"}, "[k=1][k=2]"},           // both kept; the rules take the last
      {{"\tx=1\t"}, "[x=1]"},
  };
  for (const auto& c : cases) {
    const auto p = parse(c.headers);
    ASSERT_TRUE(p->ok) << p->err;
    EXPECT_EQ(pairs_of(p->ctx), c.pairs);
  }
}

TEST(Context, RejectedWithThePairNamed) {
  const struct {
    std::vector<std::string> headers;
    const char* part;
  } cases[] = {
      {{"country"}, "'country'"},
      {{"a=1,country"}, "'country'"},
      {{"=US"}, "empty key"},
      {{" = US"}, "empty key"},
      {{"%20=US"}, "'%20=US'"},  // decodes to " ": a key of one space is fine? no: trimmed before decoding
      {{"a=%4"}, "percent"},
      {{"a=%zz"}, "percent"},
      {{"a=%"}, "percent"},
      {{"a=b\x01"}, "control"},
      {{"ok=1", "bad"}, "'bad'"},
  };
  for (const auto& c : cases) {
    const auto p = parse(c.headers);
    if (std::string(c.headers[0]) == "%20=US") {
      // A percent-encoded space is a legitimate one-byte key (trimming
      // applies to the raw text only).
      EXPECT_TRUE(p->ok);
      continue;
    }
    EXPECT_FALSE(p->ok) << c.headers[0];
    EXPECT_NE(std::string(p->err).find(c.part), std::string::npos) << p->err;
    EXPECT_NE(std::string(p->err).find("Context"), std::string::npos) << p->err;
  }
}

TEST(Context, Limits) {
  std::string many;
  for (size_t i = 0; i < variants::kMaxContextPairs; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_TRUE(parse({many})->ok);
  const auto p = parse({many + "extra=1"});
  EXPECT_FALSE(p->ok);
  EXPECT_NE(std::string(p->err).find("too many"), std::string::npos) << p->err;
  // Total decoded bytes.
  EXPECT_TRUE(parse({"k=" + std::string(variants::kMaxContextBytes - 1, 'v')})->ok);
  const auto big = parse({"k=" + std::string(variants::kMaxContextBytes, 'v')});
  EXPECT_FALSE(big->ok);
  EXPECT_NE(std::string(big->err).find("too large"), std::string::npos) << big->err;
  // A very long bad pair is named, truncated, and the message stays bounded.
  const auto long_bad = parse({std::string(5000, 'x')});
  EXPECT_FALSE(long_bad->ok);
  EXPECT_LT(std::strlen(long_bad->err), sizeof long_bad->err);
  // A tiny or absent error buffer is fine.
  char tiny[4];
  const std::string_view v = "bad";
  variants::Context ctx;
  EXPECT_FALSE(variants::parse_context(&v, 1, ctx, tiny, sizeof tiny));
  EXPECT_EQ(tiny[3], '\0');
  EXPECT_FALSE(variants::parse_context(&v, 1, ctx, nullptr, 0));
}

// ---------------------------------------------------------------- compile + evaluate

struct Blob {
  std::vector<uint8_t> mem;
  variants::CompileResult result{};
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(mem.data()), result.ok ? result.blob_len : 0);
  }
};

std::unique_ptr<Blob> compile_text(std::string_view text) {
  auto b = std::make_unique<Blob>();
  b->mem.resize(variants::compile_capacity_hint(text.size()));
  b->result = variants::compile_ion_text(text, b->mem.data(), b->mem.size());
  return b;
}
std::unique_ptr<Blob> compile_binary(std::string_view bytes) {
  auto b = std::make_unique<Blob>();
  b->mem.resize(variants::compile_capacity_hint(bytes.size()));
  b->result = variants::compile_ion_binary(bytes, b->mem.data(), b->mem.size());
  return b;
}

struct Answer {
  EvalError error;
  std::string body;
  size_t pieces;
  size_t bad_index;
};

Answer ask(std::string_view blob, const std::vector<std::string>& context, const std::vector<std::string>& keys,
           size_t scratch_cap = 1 << 16) {
  auto ctx = std::make_unique<variants::Context>();
  std::vector<std::string_view> hv(context.begin(), context.end());
  char err[200];
  EXPECT_TRUE(variants::parse_context(hv.data(), hv.size(), *ctx, err, sizeof err)) << err;
  std::vector<std::string_view> kv(keys.begin(), keys.end());
  std::vector<char> scratch(scratch_cap + 1);
  flags::Filtered out{};
  Answer a{EvalError::kNone, "", 0, 999};
  a.error = variants::evaluate(blob, *ctx, kv, scratch.data(), scratch_cap, out, &a.bad_index);
  if (a.error != EvalError::kNone) return a;
  size_t total = 0;
  for (size_t i = 0; i < out.num_pieces; ++i) {
    a.body.append(out.pieces[i].data, out.pieces[i].len);
    total += out.pieces[i].len;
  }
  EXPECT_EQ(total, out.total_bytes);
  a.pieces = out.num_pieces;
  return a;
}

const char* kSpecExample =
    "'flag'::[ [ (eq $country \"US\"), '''{\"_variant\":\"A\",\"enabled\":true}''' ], "
    "'''{\"_variant\":\"D\",\"enabled\":false}''' ]\n"
    "'basic'::'''{\"enabled\":true}'''";

TEST(Variants, SpecExampleEndToEnd) {
  const auto b = compile_text(kSpecExample);
  ASSERT_TRUE(b->result.ok) << b->result.message;
  const std::string_view blob = b->view();
  EXPECT_EQ(ask(blob, {"country=US"}, {"flag"}).body, R"({"_variant":"A","enabled":true})");
  EXPECT_EQ(ask(blob, {"country=FR"}, {"flag"}).body, R"({"_variant":"D","enabled":false})");
  EXPECT_EQ(ask(blob, {}, {"flag"}).body, R"({"_variant":"D","enabled":false})");  // no Context -> default
  EXPECT_EQ(ask(blob, {"tier=gold"}, {"flag"}).body, R"({"_variant":"D","enabled":false})");  // missing key
  EXPECT_EQ(ask(blob, {}, {"basic"}).body, R"({"enabled":true})");
  EXPECT_EQ(ask(blob, {"country=US"}, {}).body,
            R"({"flag":{"_variant":"A","enabled":true},"basic":{"enabled":true}})");
  // Without Context the defaults are laid out back to back: few pieces.
  const Answer all = ask(blob, {}, {});
  EXPECT_EQ(all.body, R"({"flag":{"_variant":"D","enabled":false},"basic":{"enabled":true}})");
  EXPECT_LE(all.pieces, 3u);
  EXPECT_EQ(ask(blob, {"country=US"}, {"basic", "flag"}).body,
            R"({"basic":{"enabled":true},"flag":{"_variant":"A","enabled":true}})");
  EXPECT_EQ(ask(blob, {"country=US"}, {"basic", "flag", "basic"}).body,
            R"({"basic":{"enabled":true},"flag":{"_variant":"A","enabled":true}})");
  const Answer unknown = ask(blob, {}, {"basic", "nope", "flag"});
  EXPECT_EQ(unknown.error, EvalError::kUnknownFlag);
  EXPECT_EQ(unknown.bad_index, 1u);
  std::vector<std::string> too_many(flags::kMaxFlagKeys + 1, "basic");
  EXPECT_EQ(ask(blob, {}, too_many).error, EvalError::kTooManyKeys);
  // Every answer is valid JSON.
  for (const auto& ctx : {std::vector<std::string>{}, std::vector<std::string>{"country=US"}}) {
    const std::string body = ask(blob, ctx, {}).body;
    EXPECT_EQ(appconfig::json::validate(body).error, appconfig::json::Error::kNone) << body;
  }
}

TEST(Variants, ProfileFixtureTextAndBinaryAgree) {
  const std::string text = read_file(std::string(TEST_DATA_DIR) + "/ion/profile.ion");
  const std::string bin = read_file(std::string(TEST_DATA_DIR) + "/ion/profile.10n");
  ASSERT_TRUE(variants::looks_like_ion_binary(bin));
  ASSERT_FALSE(variants::looks_like_ion_binary(text));
  const auto t = compile_text(text);
  const auto b = compile_binary(bin);
  ASSERT_TRUE(t->result.ok) << t->result.message;
  ASSERT_TRUE(b->result.ok) << b->result.message;
  const struct {
    std::vector<std::string> ctx;
    const char* variant;
  } cases[] = {
      {{}, "Default"},
      {{"accountId=222222222222"}, "BetaUsers"},
      {{"accountId=222222222222,country=US,age=30"}, "BetaUsers"},  // first true rule wins
      {{"country=US,age=21"}, "US21"},
      {{"country=US,age=20"}, "Default"},
      {{"country=US", "age=20.5"}, "Default"},
      {{"email=someone@example.com"}, "Staff"},
      {{"email=someone@example.org"}, "Default"},
      {{"signup=2023-12-31T23:59:59Z"}, "Early"},
      {{"signup=2024-01-01"}, "Default"},
      {{"signup=2023-06"}, "Early"},
  };
  for (const auto& c : cases) {
    for (const Blob* blob : {t.get(), b.get()}) {
      const Answer a = ask(blob->view(), c.ctx, {"ui_refresh"});
      ASSERT_EQ(a.error, EvalError::kNone);
      const auto v = appconfig::json::find(a.body, "_variant");
      ASSERT_TRUE(v.has_value()) << a.body;
      EXPECT_EQ(*v, "\"" + std::string(c.variant) + "\"") << (c.ctx.empty() ? "" : c.ctx[0]);
    }
  }
  // The split variant: about 20% of users that no earlier rule catches.
  size_t split = 0;
  for (int i = 0; i < 10000; ++i) {
    const Answer a = ask(t->view(), {"userId=u" + std::to_string(i)}, {"ui_refresh"});
    split += a.body.find("Split20") != std::string::npos;
    EXPECT_EQ(ask(b->view(), {"userId=u" + std::to_string(i)}, {"ui_refresh"}).body, a.body);
  }
  EXPECT_NEAR(split / 100.0, 20.0, 1.5);
  // Whole answers agree byte for byte.
  for (const auto& ctx : {std::vector<std::string>{}, std::vector<std::string>{"tier=gold,country=US,age=99"}}) {
    EXPECT_EQ(ask(t->view(), ctx, {}).body, ask(b->view(), ctx, {}).body);
  }
  EXPECT_EQ(ask(t->view(), {"tier=platinum"}, {"tiers"}).body, R"({"_variant":"Premium","enabled":true})");
  EXPECT_EQ(ask(t->view(), {"tier=silver"}, {"tiers"}).body, R"({"_variant":"Standard","enabled":false})");
  EXPECT_EQ(ask(t->view(), {}, {"basic"}).body, R"({"enabled":true,"limit":10})");
}

TEST(Variants, CompileErrorsNameFlagAndPosition) {
  const struct {
    const char* text;
    const char* parts[2];
  } cases[] = {
      {"'f'::[[(eqq $a 1), '''{\"_variant\":\"A\"}'''], '''{\"_variant\":\"D\"}''']", {"flag 'f'", "eqq"}},
      {"'f'::[[(eq $a 1), '''{\"_variant\":\"A\"}'''], '''{\"_variant\":\"D\"}''']\n"
       "'g'::[[(eq $a), '''{\"_variant\":\"A\"}'''], '''{\"_variant\":\"D\"}''']",
       {"flag 'g'", "at byte 74"}},
      {"'f'::[[(eq $a 1), '''{\"_variant\":\"A\"}''']]", {"flag 'f'", "last variant"}},
      {"'f'::['''{\"_variant\":\"A\"}''', '''{\"_variant\":\"D\"}''']", {"flag 'f' variant 1", "omit"}},
      {"'f'::[[(eq $a 1), '''{\"enabled\":true}'''], '''{\"_variant\":\"D\"}''']", {"variant 1", "_variant"}},
      {"'f'::[[(eq $a 1), '''{\"_variant\":\"A\"'''], '''{\"_variant\":\"D\"}''']", {"variant 1", "invalid JSON"}},
      {"'f'::[[(eq $a 1), '''[1]'''], '''{\"_variant\":\"D\"}''']", {"variant 1", "object"}},
      {"'f'::[[(eq $a 1), 5], '''{\"_variant\":\"D\"}''']", {"variant 1", "int"}},
      {"'f'::[]", {"flag 'f'", "empty"}},
      {"'f'::[[(eq $a 1), '''{}''', 3], '''{}''']", {"flag 'f' variant 1", "[rule, json]"}},
      {"'''{\"enabled\":true}'''", {"no flag name", "byte 0"}},
      {"'f'::'''{}''' 'f'::'''{}'''", {"'f'", "twice"}},
      {"'f'::'''{bad'''", {"flag 'f'", "invalid JSON"}},
      {"'f'::[[(eq $a 1), '''{}'''", {"Ion text", "ends inside"}},
  };
  for (const auto& c : cases) {
    const auto b = compile_text(c.text);
    EXPECT_FALSE(b->result.ok) << c.text;
    EXPECT_FALSE(b->result.out_of_space);
    for (const char* part : c.parts) {
      EXPECT_NE(std::string(b->result.message).find(part), std::string::npos)
          << "message: " << b->result.message << "\nwanted: " << part;
    }
  }
  // Binary: a symbol from a shared table we have no text for.
  std::string bin("\xE0\x01\x00\xEA", 4);
  bin += std::string("\xEE\x9A\x81\x83\xDE\x96\x86\xBC\xDB\x84\x83\x6F\x70\x73\x85\x21\x01\x88\x21\x03\x87\xB6\x85"
                     "\x66\x6C\x61\x67\x42",
                     28);
  bin += std::string("\xE7\x81\x8D\xC4\x71\x0A\x21\x01", 8);
  const auto b = compile_binary(bin);
  EXPECT_FALSE(b->result.ok);
  EXPECT_NE(std::string(b->result.message).find("$10"), std::string::npos) << b->result.message;
  EXPECT_NE(std::string(b->result.message).find("'ops'"), std::string::npos) << b->result.message;
  EXPECT_FALSE(compile_binary("not ion")->result.ok);
}

TEST(Variants, SmallBuffersReportOutOfSpace) {
  std::vector<uint8_t> mem(1 << 16);
  size_t needed = 0;
  for (size_t cap = 0; cap < mem.size(); cap += 16) {
    std::vector<uint8_t> buf(cap + 1, 0xEE);
    const auto r = variants::compile_ion_text(kSpecExample, buf.data(), cap);
    EXPECT_EQ(buf[cap], 0xEE) << "wrote past cap " << cap;
    if (r.ok) {
      needed = cap;
      break;
    }
    EXPECT_TRUE(r.out_of_space) << cap << ": " << r.message;
  }
  EXPECT_GT(needed, 0u);
}

TEST(Variants, ManyFlagsSpillIntoScratch) {
  // 200 flags whose chosen variants are not adjacent in the blob, so the
  // all-flags answer needs more than kMaxPieces pieces.
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += "'f" + std::to_string(i) + "'::[[(eq $on \"yes\"), '''{\"_variant\":\"On\",\"i\":" + std::to_string(i) +
            "}'''], '''{\"_variant\":\"Off\"}''']\n";
  }
  const auto b = compile_text(text);
  ASSERT_TRUE(b->result.ok) << b->result.message;
  const std::string_view blob = b->view();
  const Answer off = ask(blob, {}, {});
  ASSERT_EQ(off.error, EvalError::kNone);
  EXPECT_LE(off.pieces, 3u);  // defaults back to back
  const size_t need = variants::scratch_bytes_needed(blob);
  const Answer on = ask(blob, {"on=yes"}, {}, need);
  ASSERT_EQ(on.error, EvalError::kNone);
  EXPECT_LE(on.pieces, flags::kMaxPieces);
  EXPECT_EQ(appconfig::json::validate(on.body).error, appconfig::json::Error::kNone);
  EXPECT_NE(on.body.find("\"f199\":{\"_variant\":\"On\",\"i\":199}"), std::string::npos);
  EXPECT_EQ(ask(blob, {"on=yes"}, {}, 10).error, EvalError::kScratchTooSmall);
}

TEST(Variants, FlagNamesAreJsonEscaped) {
  const auto b = compile_text("'we\"ird\\\\name'::'''{\"enabled\":true}''' 'b'::'''{\"enabled\":false}'''");
  ASSERT_TRUE(b->result.ok) << b->result.message;
  const std::string body = ask(b->view(), {}, {}).body;
  EXPECT_EQ(body, R"({"we\"ird\\name":{"enabled":true},"b":{"enabled":false}})");
  EXPECT_EQ(ask(b->view(), {}, {"we\"ird\\name"}).body, R"({"enabled":true})");
}

TEST(Variants, CorruptBlobsAreRejectedNotRead) {
  const auto b = compile_text(kSpecExample);
  ASSERT_TRUE(b->result.ok);
  const std::string blob(b->view());
  EXPECT_EQ(ask(std::string_view(blob).substr(0, blob.size() - 1), {}, {}).error, EvalError::kCorruptBlob);
  EXPECT_EQ(ask("", {}, {}).error, EvalError::kCorruptBlob);
  const unsigned seed = std::random_device{}();
  std::printf("variants corruption seed %u\n", seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = blob;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    ask(bad, {"country=US"}, {});  // any error or answer, never a crash (ASan)
    ask(bad, {"country=US"}, {"flag"});
  }
}


// ---------------------------------------------------------------- budgets

// The attack that blocked the loop for 19.7 s, rebuilt: a ~6.7 KB profile of
// (or (matches …) …) over a large negated class with {1000}, and a
// 4 000-byte Context value. Now one request's evaluation stops at
// kMaxEvalSteps and names the flag.
std::string hostile_match_profile() {
  std::string cls = "[^";
  for (int c = 1; c < 300; c += 2) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\\\u%04x", c);
    cls += buf;
  }
  cls += "]{1000}\\\\u0001";
  std::string text = "'cheap'::[[(eq $v \"x\"), '''{\"_variant\":\"X\"}'''], '''{\"_variant\":\"D\"}''']\n";
  text += "'hostile'::[ [ (or";
  for (int i = 0; i < 6; ++i) text += " (matches in::$v pattern::\"" + cls + "\")";
  text += "), '''{\"_variant\":\"A\"}''' ], '''{\"_variant\":\"D\"}''' ]\n";
  return text;
}

TEST(VariantsBudget, HostileMatchProfileIsBoundedAtEvaluation) {
  const std::string text = hostile_match_profile();
  EXPECT_GT(text.size(), 6000u);
  EXPECT_LT(text.size(), 7000u);
  const auto b = compile_text(text);
  ASSERT_TRUE(b->result.ok) << b->result.message;
  const std::string value(4000, 'b');
  auto ctx = std::make_unique<variants::Context>();
  const std::string header = "v=" + value;
  const std::string_view hv = header;
  char err[200];
  ASSERT_TRUE(variants::parse_context(&hv, 1, *ctx, err, sizeof err)) << err;
  std::vector<char> scratch(1 << 16);
  flags::Filtered out{};
  variants::EvalCost cost{};
  size_t bad = 0;
  EXPECT_EQ(variants::evaluate(b->view(), *ctx, {}, scratch.data(), scratch.size(), out, &bad, &cost),
            EvalError::kOverBudget);
  EXPECT_EQ(cost.flag_index, 1u);
  EXPECT_EQ(variants::flag_name(b->view(), cost.flag_index), "hostile");
  // Overshoot: at most one text position of one program (8 × kMaxInsts steps).
  EXPECT_GE(cost.steps, variants::kMaxEvalSteps - 8 * 1024);
  EXPECT_LE(cost.steps, variants::kMaxEvalSteps);
  EXPECT_STREQ(variants::eval_error_message(EvalError::kOverBudget), "evaluation over the per-request step budget");
  // The cheap flag alone, and the hostile one with a short value, answer.
  const std::string_view cheap[] = {"cheap"};
  EXPECT_EQ(variants::evaluate(b->view(), *ctx, cheap, scratch.data(), scratch.size(), out, &bad, &cost),
            EvalError::kNone);
  EXPECT_LT(cost.steps, 1000u);
  EXPECT_EQ(ask(b->view(), {"v=" + std::string(50, 'b')}, {"hostile"}).body, "{\"_variant\":\"D\"}");
  EXPECT_EQ(variants::flag_name(b->view(), 2), "");
}

// A 4 MiB binary Ion stream of one-byte nulls needs 104 bytes of parse tree
// per input byte: the capacity hint asked for 671 MB and compiling touched
// 431 MB. Now the compile memory is capped and the profile refused with a
// message naming the limit.
TEST(VariantsBudget, CompileMemoryIsCapped) {
  std::string bin("\xE0\x01\x00\xEA", 4);
  bin.append(4u << 20, '\x0F');
  const size_t hint = variants::compile_capacity_hint(bin.size());
  EXPECT_LE(hint, variants::kMaxCompileBytes);
  // Small inputs: room for dense regex programs (a 25-byte `(matches $k "a{1000}")` compiles to 8 KB).
  EXPECT_EQ(variants::compile_capacity_hint(1000), 1000 * 512 + 256 * 1024u);
  const auto b = compile_binary(bin);
  EXPECT_FALSE(b->result.ok);
  EXPECT_FALSE(b->result.out_of_space);  // final: no retry gets more
  EXPECT_NE(std::string(b->result.message).find("16 MiB"), std::string::npos) << b->result.message;
  // The same nulls as Ion text are refused the same way (4 MiB of "null ").
  std::string text;
  for (size_t i = 0; i < (4u << 20) / 5; ++i) text += "null ";
  const auto t = compile_text(text);
  EXPECT_FALSE(t->result.ok);
  EXPECT_NE(std::string(t->result.message).find("16 MiB"), std::string::npos) << t->result.message;
}

// The duplicate-name check was O(flags²) name comparisons; now sorted. It
// still reports the first flag (in document order) whose name came before.
TEST(VariantsBudget, DuplicateNamesAtScale) {
  const auto b = compile_text("'a'::'''{}''' 'b'::'''{}''' 'b'::'''{}''' 'a'::'''{}'''");
  EXPECT_FALSE(b->result.ok);
  EXPECT_NE(std::string(b->result.message).find("flag 'b' defined twice (at byte 33)"), std::string::npos)
      << b->result.message;
  // kMaxFlags names of 900 bytes sharing an 890-byte prefix (3.7 MB): accepted,
  // and with one repeated name at the end, refused naming it.
  const std::string prefix(890, 'p');
  std::string text;
  for (size_t i = 0; i < variants::kMaxFlags; ++i) {
    char num[16];
    std::snprintf(num, sizeof num, "%010zu", i);
    text += "'" + prefix + num + "'::'''{}'''\n";
  }
  const auto ok = compile_text(text);
  ASSERT_TRUE(ok->result.ok) << ok->result.message;
  std::string dup = text.substr(0, text.rfind('\'' + prefix)) + "'" + prefix + "0000000007'::'''{}'''\n";
  const auto refused = compile_text(dup);
  EXPECT_FALSE(refused->result.ok);
  // (The name is clipped in the message; the offset is the repeated flag's value.)
  const std::string want = "defined twice (at byte " + std::to_string(dup.rfind("'''{}'''")) + ")";
  EXPECT_NE(std::string(refused->result.message).find(want), std::string::npos) << refused->result.message;
}

// Worst accepted shapes within the 4 MiB configuration limit: each compiles
// (or is refused with a message), and their all-flags answers fit the budget.
TEST(VariantsBudget, WorstAcceptedProfilesCompileAndAnswer) {
  // kMaxFlags flags of 4 variants, one cheap rule each (0.6 MB, 90 000 Ion
  // values: 9 MiB of parse tree and 5 MiB of blob, within kMaxCompileBytes).
  std::string many;
  for (size_t f = 0; f < variants::kMaxFlags; ++f) {
    many += "'f" + std::to_string(f) + "'::[";
    for (int v = 0; v < 3; ++v) many += "[(eq $k \"" + std::to_string(v) + "\"),'''{\"_variant\":\"v\"}'''],";
    many += "'''{\"_variant\":\"d\"}''']\n";
  }
  ASSERT_LT(many.size(), 4u << 20);
  const auto m = compile_text(many);
  ASSERT_TRUE(m->result.ok) << m->result.message;
  // Every flag's every rule runs for an all-flags answer with a Context that
  // matches none: 12 288 rules, under the budget.
  EXPECT_EQ(ask(m->view(), {"k=none"}, {}, variants::scratch_bytes_needed(m->view())).error, EvalError::kNone);
  // One flag with kMaxVariants variants, each rule a list of 200 strings.
  std::string lists = "'big'::[";
  for (size_t v = 0; v + 1 < variants::kMaxVariants; ++v) {
    lists += "[(in $k [";
    for (int i = 0; i < 200; ++i) lists += "\"s" + std::to_string(i) + "\",";
    lists += "]),'''{\"_variant\":\"v\"}'''],";
  }
  lists += "'''{\"_variant\":\"d\"}''']";
  ASSERT_LT(lists.size(), 4u << 20);
  const auto l = compile_text(lists);
  ASSERT_TRUE(l->result.ok) << l->result.message;
  EXPECT_EQ(ask(l->view(), {"k=none"}, {}).error, EvalError::kNone);
  // Deepest nesting the rules allow, and a 4 MiB JSON variant string.
  std::string deep = "'d'::[[";
  for (size_t i = 0; i < appconfig::rules::kMaxRuleDepth - 2; ++i) deep += "(not ";
  deep += "(eq $k \"1\")";
  for (size_t i = 0; i < appconfig::rules::kMaxRuleDepth - 2; ++i) deep += ")";
  deep += ", '''{\"_variant\":\"v\"}'''], '''{\"_variant\":\"d\",\"pad\":\"" + std::string((4u << 20) - 4096, 'x') +
          "\"}''']";
  const auto d = compile_text(deep);
  ASSERT_TRUE(d->result.ok) << d->result.message;
  EXPECT_EQ(ask(d->view(), {"k=1"}, {"d"}).body, "{\"_variant\":\"v\"}");
  // As many full-size patterns as the compile budget allows, then refused.
  std::string re = "'r'::[[(or";
  for (int i = 0; i < 400; ++i) re += " (matches $k \"[a-z]{1000}\")";
  re += "), '''{\"_variant\":\"v\"}'''], '''{\"_variant\":\"d\"}''']";
  const auto r = compile_text(re);
  ASSERT_TRUE(r->result.ok) << r->result.message;
  std::string bombs = "'r'::[[(or";
  for (int i = 0; i < 400; ++i) bombs += " (matches $k \"(?:(?:){1000}){16}[a-z]\")";
  bombs += "), '''{\"_variant\":\"v\"}'''], '''{\"_variant\":\"d\"}''']";
  const auto rb = compile_text(bombs);
  EXPECT_FALSE(rb->result.ok);
  EXPECT_NE(std::string(rb->result.message).find("flag 'r' variant 1 rule"), std::string::npos) << rb->result.message;
  EXPECT_NE(std::string(rb->result.message).find("compile steps"), std::string::npos) << rb->result.message;
}

}  // namespace
