// Tests for the Ion readers: text grammar table, hand-built binary fixtures
// (test/data/ion/*.hex) covering every type code and length form, symbol
// tables and imports, text -> binary round trips through a small test-side
// encoder, and truncated/corrupt input at every prefix.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/formats/ion.h"
#include "appconfig/formats/ion_internal.h"
#include "appconfig/flags/variants.h"
#include "ion_equal.h"
#include "ion_worst.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace appconfig::ion;
namespace model = appconfig::ion::model;
namespace worst = appconfig::ion::worst;

struct Parsed {
  std::vector<uint8_t> mem = std::vector<uint8_t>(1 << 20);
  Arena arena{mem.data(), mem.size(), 0};
  Document doc{};
  ParseResult result{};
};

std::string esc(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

// Canonical dump of a tree, used to compare readers and state expectations.
std::string dump(const Node& n) {
  std::string out;
  for (size_t i = 0; i < n.num_annotations; ++i) out += std::string(n.annotations[i]) + "::";
  if (n.is_null) return out + "null." + type_name(n.type);
  char buf[96];
  switch (n.type) {
    case Type::kNull: return out + "null.null";
    case Type::kBool: return out + (n.bool_value ? "true" : "false");
    case Type::kInt: return out + (n.big ? (n.negative ? "-" : "") + std::string(n.text) : std::to_string(n.int_value));
    case Type::kFloat: std::snprintf(buf, sizeof buf, "%.17ge0", n.float_value); return out + buf;
    case Type::kDecimal: std::snprintf(buf, sizeof buf, "%.17gd0", n.float_value); return out + buf;
    case Type::kTimestamp:
      std::snprintf(buf, sizeof buf, "ts(%lld.%09u,p%d)", static_cast<long long>(n.timestamp.epoch_s),
                    n.timestamp.nanos, static_cast<int>(n.timestamp.precision));
      return out + buf;
    case Type::kSymbol: return out + "'" + esc(n.text) + "'";
    case Type::kString: return out + "\"" + esc(n.text) + "\"";
    case Type::kClob: return out + "clob\"" + esc(n.text) + "\"";
    case Type::kBlob: return out + "blob\"" + esc(n.text) + "\"";
    case Type::kList:
    case Type::kSexp:
    case Type::kStruct: {
      const char open = n.type == Type::kList ? '[' : n.type == Type::kSexp ? '(' : '{';
      const char close = n.type == Type::kList ? ']' : n.type == Type::kSexp ? ')' : '}';
      out += open;
      size_t count = 0;
      for (const Node* c = n.first_child; c != nullptr; c = c->next_sibling, ++count) {
        if (count > 0) out += n.type == Type::kSexp ? " " : ",";
        if (n.type == Type::kStruct) out += std::string(c->field_name) + ":";
        out += dump(*c);
      }
      EXPECT_EQ(count, n.num_children);
      return out + close;
    }
  }
  return out + "?";
}

std::string dump(const Document& d) {
  std::string out;
  size_t count = 0;
  for (const Node* n = d.first; n != nullptr; n = n->next_sibling, ++count) {
    if (!out.empty()) out += " ";
    out += dump(*n);
  }
  EXPECT_EQ(count, d.num_values);
  return out;
}

std::unique_ptr<Parsed> text(std::string_view t) {
  auto p = std::make_unique<Parsed>();
  p->result = parse_text(t, p->arena, p->doc);
  return p;
}
std::unique_ptr<Parsed> binary(std::string_view b, std::span<const SharedTable> catalogue = {}) {
  auto p = std::make_unique<Parsed>();
  p->result = parse_binary(b, p->arena, p->doc, catalogue);
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// .hex fixture: hex byte pairs, '#' comments.
std::string read_hex(const std::string& name) {
  const std::string src = read_file(std::string(TEST_DATA_DIR) + "/ion/" + name);
  std::string out;
  std::istringstream lines(src);
  std::string line;
  while (std::getline(lines, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string w;
    while (words >> w) out += static_cast<char>(std::stoi(w, nullptr, 16));
  }
  return out;
}

Timestamp ts(std::string_view s) {
  Timestamp t{};
  EXPECT_TRUE(parse_timestamp(s, t)) << s;
  return t;
}

// ---------------------------------------------------------------- timestamps

TEST(IonTimestamp, Precisions) {
  EXPECT_EQ(ts("1970").epoch_s, 0);
  EXPECT_EQ(ts("1970T").epoch_s, 0);
  EXPECT_EQ(ts("1970-01").precision, Precision::kMonth);
  EXPECT_EQ(ts("1970-01-02").epoch_s, 86400);
  EXPECT_EQ(ts("1970-01-02T").precision, Precision::kDay);
  EXPECT_EQ(ts("1970-01-01T00:01Z").epoch_s, 60);
  EXPECT_EQ(ts("1970-01-01T00:00:01Z").precision, Precision::kSecond);
  EXPECT_EQ(ts("1970-01-01T00:00:01.5Z").nanos, 500000000u);
  EXPECT_EQ(ts("1970-01-01T00:00:01.123456789123Z").nanos, 123456789u);  // truncated
  EXPECT_EQ(ts("2012-03-04T05:06:07-08:00").epoch_s, ts("2012-03-04T13:06:07Z").epoch_s);
  EXPECT_EQ(ts("2012-03-04T05:06:07+01:30").epoch_s, ts("2012-03-04T03:36:07Z").epoch_s);
  EXPECT_EQ(ts("2012-03-04T05:06:07-00:00").epoch_s, ts("2012-03-04T05:06:07Z").epoch_s);
  EXPECT_EQ(ts("2000-02-29").epoch_s, 951782400);
  EXPECT_EQ(ts("9999-12-31T23:59:59Z").epoch_s, 253402300799);
  EXPECT_EQ(ts("0001-01-01").epoch_s, -62135596800);
  EXPECT_LT(compare(ts("2024"), ts("2024-01-01T00:00:00.000000001Z")), 0);
  EXPECT_EQ(compare(ts("2024"), ts("2024-01-01T00:00Z")), 0);
  const char* bad[] = {"", "202", "20240", "2024-1", "2024-13", "2024-00", "2023-02-29", "1900-02-29", "2024-04-31",
                       "2024-01-01T10Z", "2024-01-01T10:00", "2024-01-01T24:00Z",
                       "2024-01-01T10:60Z", "2024-01-01T10:00:60Z", "2024-01-01T10:00:00.Z", "2024-01-01T10:00+1:00",
                       "2024-01-01T10:00+24:00", "0000", "2024-01-01T10:00Zx", "2024TT", "+2024", "2024-01-01 10:00Z"};
  for (const char* b : bad) {
    Timestamp t;
    EXPECT_FALSE(parse_timestamp(b, t)) << b;
  }
}

// The helpers both readers share (ion_internal.h): the fields' calendar check, the instant they
// stand for, binary fraction digits as nanoseconds, and the text forms' fraction digits.
TEST(IonTimestamp, SharedFieldHelpers) {
  using internal::Fields;
  Fields f{.year = 2024, .month = 2, .day = 29, .hour = 23, .minute = 59, .second = 59};
  EXPECT_TRUE(internal::fields_valid(f));
  f.year = 2023;
  EXPECT_FALSE(internal::fields_valid(f));  // not a leap year
  f = Fields{.year = 1970, .month = 1, .day = 2, .hour = 1, .offset_min = 60, .precision = Precision::kMinute};
  EXPECT_EQ(internal::to_timestamp(f, false).epoch_s, 86400 + 3600);  // fields in UTC
  EXPECT_EQ(internal::to_timestamp(f, true).epoch_s, 86400);           // local time at +01:00
  EXPECT_EQ(internal::to_timestamp(f, true).offset_min, 60);
  f.offset_min = 24 * 60;
  EXPECT_FALSE(internal::fields_valid(f));
  EXPECT_EQ(internal::fraction_nanos("5", 1), 500000000u);            // 0.5
  EXPECT_EQ(internal::fraction_nanos("123", 6), 123000u);             // 0.000123
  EXPECT_EQ(internal::fraction_nanos("1234567891", 10), 123456789u);  // truncated
  EXPECT_EQ(internal::fraction_nanos("7", 12), 0u);                   // below a nanosecond
  Timestamp t;
  std::string_view fraction;
  ASSERT_TRUE(internal::parse_timestamp_text("2024-01-01T00:00:00.0120Z", t, &fraction));
  EXPECT_EQ(fraction, "0120");
  EXPECT_EQ(t.nanos, 12000000u);
  EXPECT_FALSE(t.offset_unknown);
  ASSERT_TRUE(internal::parse_timestamp_text("2024-01-01T", t, &fraction));
  EXPECT_TRUE(t.offset_unknown);  // a date has no local offset
  EXPECT_EQ(t.precision, Precision::kDay);
}

// ---------------------------------------------------------------- text

TEST(IonText, Values) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"null", "null.null"},
      {"null.int null.struct", "null.int null.struct"},
      {"true false", "true false"},
      {"0 -0 42 -7 1_000 0x1F -0xff 0b101", "0 0 42 -7 1000 31 -255 5"},
      {"9223372036854775807 -9223372036854775808", "9223372036854775807 -9223372036854775808"},
      {"1.5 1. 1.5d2 -0.25", "1.5d0 1d0 150d0 -0.25d0"},
      {"1.5e0 1e3 -2.5E-1 +inf -inf", "1.5e0 1000e0 -0.25e0 infe0 -infe0"},
      {"2024T 2024-01T 2024-01-02 2024-01-02T", "ts(1704067200.000000000,p0) ts(1704067200.000000000,p1) "
                                                "ts(1704153600.000000000,p2) ts(1704153600.000000000,p2)"},
      {"2012-03-04T05:06:07.25-08:00", "ts(1330866367.250000000,p5)"},
      {"abc $x 'quoted sym' '' $3", "'abc' '$x' 'quoted sym' '' '$ion_symbol_table'"},
      {"\"a\\\"b\\n\\u00e9\\U0001F600\\x41\\0\"", "\"a\\x22b\\x0a\\xc3\\xa9\\xf0\\x9f\\x98\\x80A\\x00\""},
      {"\"\\ud83d\\ude00\"", "\"\\xf0\\x9f\\x98\\x80\""},
      {"'''abc''' '''def'''", "\"abcdef\""},
      {"'''a'''\n// comment\n /* block */ '''b'''", "\"ab\""},
      {"'''line\\\ncontinued'''", "\"linecontinued\""},
      {"'''{\"_variant\":\"A\"}'''", "\"{\\x22_variant\\x22:\\x22A\\x22}\""},
      {"[] [1, 2] [1, [2, [3]],]", "[] [1,2] [1,[2,[3]]]"},
      {"() (a b c) (eq $x \"US\") (+ 1 -2) (a.b)", "() ('a' 'b' 'c') ('eq' '$x' \"US\") ('+' 1 -2) ('a' '.' 'b')"},
      {"{} {a: 1, 'b c': \"x\", \"d\": [true]} {a:1,}", "{} {a:1,b c:\"x\",d:[true]} {a:1}"},
      {"a::1 a::b::'c'::[x::2]", "a::1 a::b::c::[x::2]"},
      {"'flag'::[[(eq $c \"US\"), '''{}'''], '''{}''']", "flag::[[('eq' '$c' \"US\"),\"{}\"],\"{}\"]"},
      {"{{ aGVsbG8= }} {{\"clob\"}} {{ '''a''' '''b''' }} {{}}", "blob\"hello\" clob\"clob\" clob\"ab\" blob\"\""},
      {"$ion_1_0 1 $ion_1_0 2", "1 2"},
      {"nan", "nane0"},
      {"  // only a comment\n", ""},
      {"(in $x [\"a\",\"b\"])", "('in' '$x' [\"a\",\"b\"])"},
      {"pct::10 by::$userId seed::\"abc\"", "pct::10 by::'$userId' seed::\"abc\""},
  };
  for (const auto& c : cases) {
    const auto p = text(c.in);
    ASSERT_EQ(p->result.error, Error::kNone) << c.in << " at " << p->result.offset;
    EXPECT_EQ(dump(p->doc), c.out) << c.in;
  }
  // Identifiers/offsets: offset of a value is its first byte after annotations.
  const auto p = text("  a::  b");
  ASSERT_EQ(p->result.error, Error::kNone);
  EXPECT_EQ(p->doc.first->offset, 7u);
}

TEST(IonText, Errors) {
  const struct {
    std::string in;
    Error error;
  } cases[] = {
      {"[1, 2", Error::kTruncated},          {"(a b", Error::kTruncated},           {"\"abc", Error::kTruncated},
      {"'''abc", Error::kTruncated},         {"/* x", Error::kTruncated},           {"{a: 1", Error::kTruncated},
      {"[1 2]", Error::kUnexpected},         {"{a 1}", Error::kUnexpected},         {"{a::b: 1}", Error::kUnexpected},
      {"[,]", Error::kUnexpected},           {"01", Error::kBadNumber},             {"1_", Error::kBadNumber},
      {"1__0", Error::kBadNumber},           {"0x", Error::kBadNumber},             {"1.5e", Error::kBadNumber},
      {"12abc", Error::kBadNumber},          {"1.2.3", Error::kBadNumber},
      {"2024-01", Error::kBadTimestamp},  /* Ion text needs 2024-01T (ion-tests bad/timestamp/timestamp_2) */
      {"0x1" + std::string(4096, '0'), Error::kIntOutOfRange},                    {"2024-13T", Error::kBadTimestamp},
      {"2024-01-01T10:00", Error::kBadTimestamp},                                 {"\"\\q\"", Error::kBadString},
      {"\"\\u12\"", Error::kBadString},      {"\"\\ud800\"", Error::kBadString},    {"\"a\nb\"", Error::kBadString},
      {"\"\xc3\"", Error::kBadUtf8},         {"\"\xed\xa0\x80\"", Error::kBadUtf8}, {"{{ abc }}", Error::kBadBlob},
      {"{{ a=bc }}", Error::kBadBlob},       {"{{ \"\xc3\xa9\" }}", Error::kBadBlob}, {"null.foo", Error::kUnexpected},
      {"$10", Error::kUnknownSymbol},        {"true::1", Error::kUnexpected},       {"[null::1]", Error::kUnexpected},
      {"{nan: 1}", Error::kUnexpected},      {"{{ \"a\" /* c */ }}", Error::kBadBlob},
      {"a::b::c::d::e::f::g::h::i::j::k::l::m::n::o::p::q::1", Error::kTooManyAnnotations},
      {"]", Error::kUnexpected},             {"+1", Error::kUnexpected},            {"#", Error::kUnexpected},
  };
  for (const auto& c : cases) {
    const auto p = text(c.in);
    EXPECT_EQ(p->result.error, c.error) << c.in;
  }
  std::string deep(kMaxDepth + 1, '[');
  deep += std::string(kMaxDepth + 1, ']');
  EXPECT_EQ(text(deep)->result.error, Error::kTooDeep);
  std::string ok_deep(kMaxDepth, '[');
  ok_deep += std::string(kMaxDepth, ']');
  EXPECT_EQ(text(ok_deep)->result.error, Error::kNone);
}

TEST(IonText, ArenaExhaustionIsAnError) {
  const std::string doc = "'flag'::[[(eq $country \"US\"), '''{\"_variant\":\"A\"}'''], '''{\"_variant\":\"D\"}''']";
  for (size_t cap = 0; cap < 2048; cap += 7) {
    std::vector<uint8_t> mem(cap + 1);
    Arena arena{mem.data(), cap, 0};
    Document d;
    const ParseResult r = parse_text(doc, arena, d);
    EXPECT_TRUE(r.error == Error::kNone || r.error == Error::kOutOfMemory) << cap;
    EXPECT_LE(arena.used, cap);
  }
}

TEST(IonText, ProfileFixtureParses) {
  const std::string src = read_file(std::string(TEST_DATA_DIR) + "/ion/profile.ion");
  const auto p = text(src);
  ASSERT_EQ(p->result.error, Error::kNone) << p->result.offset;
  EXPECT_EQ(p->doc.num_values, 3u);
  EXPECT_EQ(annotation(*p->doc.first, 0), "ui_refresh");
  EXPECT_EQ(p->doc.first->num_children, 6u);
}

// Integers beyond 64 bits are read and kept exact as decimal digits
// (ion-tests good/intBigSize*, good/equivs/bigInts.ion).
TEST(IonText, BigIntegersAreKeptExact) {
  const auto p = text("9223372036854775807 9223372036854775808 -9223372036854775809 "
                      "0x1_0000_0000_0000_0000 -0b1" + std::string(100, '0') + " 123456789012345678901234567890");
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " " << p->result.detail;
  EXPECT_EQ(dump(p->doc), "9223372036854775807 9223372036854775808 -9223372036854775809 18446744073709551616 "
                          "-1267650600228229401496703205376 123456789012345678901234567890");
  const Node* n = p->doc.first;
  EXPECT_FALSE(n->big);
  n = n->next_sibling;
  EXPECT_TRUE(n->big);
  EXPECT_FALSE(n->negative);
  EXPECT_EQ(n->int_value, INT64_MAX);  // saturated: the exact value is the text
  n = n->next_sibling;
  EXPECT_TRUE(n->big && n->negative);
  EXPECT_EQ(n->int_value, INT64_MIN);
  // The largest magnitude kept: kMaxIntBytes bytes of 0xFF in hex; one more digit is refused with the limit named.
  const std::string hex_max = "0x" + std::string(kMaxIntBytes * 2, 'F');
  const auto q = text(hex_max);
  ASSERT_EQ(q->result.error, Error::kNone);
  EXPECT_EQ(q->doc.first->text.size(), kMaxIntDigits);
  const auto r = text(hex_max + "F");
  EXPECT_EQ(r->result.error, Error::kIntOutOfRange);
  EXPECT_NE(std::string(r->result.detail).find("2048 bytes"), std::string::npos) << r->result.detail;
  // Decimal digits are copied, not converted: no limit but the input.
  EXPECT_EQ(text(std::string(100000, '7'))->doc.first->text.size(), 100000u);
}

TEST(IonBinary, BigIntegersAreKeptExact) {
  // 2^64 (positive, 9-byte magnitude), -2^63 - 1, and 2^63 written with leading zero bytes.
  const std::string bytes = std::string("\xE0\x01\x00\xEA", 4) + std::string("\x29\x01\0\0\0\0\0\0\0\0", 10) +
                            std::string("\x39\x00\x80\0\0\0\0\0\0\x01", 10) +
                            std::string("\x2A\x00\x00\x80\0\0\0\0\0\0\0", 11);
  const auto p = binary(bytes);
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error);
  EXPECT_EQ(dump(p->doc), "18446744073709551616 -9223372036854775809 9223372036854775808");
  // Same values, same tree as text.
  const auto t = text("18446744073709551616 -9223372036854775809 9223372036854775808");
  EXPECT_TRUE(model::equal(p->doc, t->doc));
}

// A rule needs an integer as a number: beyond 64 bits it is refused with a
// message naming the problem.
TEST(IonText, BigIntegerInARuleIsRefusedWithAMessage) {
  std::vector<uint8_t> out(1 << 20);
  const auto bad = appconfig::variants::compile_ion_text(
      R"('f'::[[(gt $n 123456789012345678901234567890), '''{"_variant":"a"}'''], '''{"_variant":"b"}'''])", out.data(), out.size());
  ASSERT_FALSE(bad.ok);
  EXPECT_NE(std::string(bad.message).find("beyond 64 bits"), std::string::npos) << bad.message;
  const auto pct = appconfig::variants::compile_ion_text(
      R"('f'::[[(split pct::99999999999999999999999 by::$u), '''{"_variant":"a"}'''], '''{"_variant":"b"}'''])", out.data(),
      out.size());
  ASSERT_FALSE(pct.ok);
  EXPECT_NE(std::string(pct.message).find("pct"), std::string::npos) << pct.message;
}

// $0 and symbol-table slots without text are symbols whose text is unknown
// (ion-tests good/symbolZero.ion, good/equivs/localSymbolTableNullSlots.ion).
TEST(IonText, SymbolZeroHasUnknownText) {
  const auto p = text("$0 $0::a {$0: $0::$0} '$0'");
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error);
  const Node* n = p->doc.first;
  EXPECT_TRUE(text_unknown(n->text));
  EXPECT_EQ(n->text, "");
  n = n->next_sibling;
  EXPECT_TRUE(text_unknown(annotation(*n, 0)));
  n = n->next_sibling;
  EXPECT_TRUE(text_unknown(n->first_child->field_name));
  EXPECT_TRUE(text_unknown(n->first_child->text));
  n = n->next_sibling;
  EXPECT_FALSE(text_unknown(n->text));  // '$0' is the text "$0"
  EXPECT_EQ(n->text, "$0");
}

TEST(IonText, LocalSymbolTables) {
  const auto p = text(R"($ion_symbol_table::{symbols:["a", null, 5, "b"]} $10 $13 x::$11 )"
                      R"($ion_symbol_table::{imports:$ion_symbol_table, symbols:["c"]} $14 )"
                      R"($ion_1_0 $4 )"
                      R"($ion_symbol_table::{imports:[{name:"big", version:1, max_id:2147483636}], symbols:["z"]} )"
                      R"($2147483646)");
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " " << p->result.detail;
  EXPECT_EQ(dump(p->doc), "'a' 'b' x::'' 'c' 'name' 'z'");
  EXPECT_TRUE(text_unknown(p->doc.first->next_sibling->next_sibling->text));
  // After the version marker the table is the system table again.
  EXPECT_EQ(text(R"($ion_symbol_table::{symbols:["a"]} $ion_1_0 $10)")->result.error, Error::kUnknownSymbol);
  // Malformed tables are refused (ion-tests bad/localSymbolTable*).
  const char* bad[] = {
      R"($ion_symbol_table::{symbols:["a"], symbols:["b"]})",
      R"($ion_symbol_table::{imports:[], imports:[]})",
      R"($ion_symbol_table::{imports:[{name:"t", version:1, max_id:-1}]})",
      R"($ion_symbol_table::{imports:[{name:"t", version:1, max_id:null.int}]})",
      R"($ion_symbol_table::{imports:[{name:"t", version:1, max_id:1.5}]})",
      R"($ion_symbol_table::{imports:[{name:"t", version:1}]})",
      R"($ion_symbol_table::{imports:[{name:"t", max_id:4294967295}, {name:"u", max_id:1}]})",
  };
  for (const char* b : bad) {
    const auto q = text(b);
    EXPECT_TRUE(q->result.error == Error::kBadSymbolTable || q->result.error == Error::kTooManySymbols) << b;
    EXPECT_NE(q->result.detail[0], 0) << b;
  }
  // Symbols of an import without its catalogue name the table; with it they resolve.
  const std::string imp = R"($ion_symbol_table::{imports:[{name:"ops", version:1, max_id:2}]} $11)";
  const auto u = text(imp);
  EXPECT_EQ(u->result.error, Error::kUnknownSymbol);
  EXPECT_NE(std::string(u->result.detail).find("'ops'"), std::string::npos);
  const std::string_view ops[] = {"eq", "and"};
  const SharedTable cat[] = {{"ops", 1, ops}};
  auto w = std::make_unique<Parsed>();
  w->result = parse_text(imp, w->arena, w->doc, cat);
  ASSERT_EQ(w->result.error, Error::kNone);
  EXPECT_EQ(dump(w->doc), "'and'");
}

// Keywords are values, never annotations or field names; quoted they are
// symbols (ion-tests bad/annotationTrue.ion, good/annotationQuotedTrue.ion).
TEST(IonText, KeywordsAreNotSymbolTokens) {
  for (const char* b : {"true::1", "false::1", "null::1", "nan::1", "{true: 1}", "{null: 1}", "{false:1}", "{nan:1}",
                        "(a true::b)"}) {
    EXPECT_EQ(text(b)->result.error, Error::kUnexpected) << b;
  }
  const auto p = text("'true'::1 {'null': 2, inf: 3} '$ion_1_0' a::$ion_1_0");
  ASSERT_EQ(p->result.error, Error::kNone);
  EXPECT_EQ(dump(p->doc), "true::1 {null:2,inf:3} a::'$ion_1_0'");
  // An unquoted $ion_X_Y at top level is a version marker: only 1.0 is known.
  EXPECT_EQ(text("$ion_2_0")->result.error, Error::kBadVersionMarker);
  EXPECT_EQ(text("[$ion_2_0]")->result.error, Error::kNone);
}

// Line ends: CR LF and a lone CR end a comment and are read as LF in long
// strings; raw tab, VT and FF may appear in any string; clobs allow no
// comments inside {{ }}, and a blob's base64 may contain "//".
TEST(IonText, WhitespaceAndLineEnds) {
  const auto p = text("1 // comment\r2 '''a\r\nb\rc''' \"\t\v\f\" {{ \"\t\" }} {{ //79/PsAAQIDBAU= }}");
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " at " << p->result.offset;
  EXPECT_EQ(dump(p->doc), "1 2 \"a\\x0ab\\x0ac\" \"\\x09\\x0b\\x0c\" clob\"\\x09\" "
                          "blob\"\\xff\\xfe\\xfd\\xfc\\xfb\\x00\\x01\\x02\\x03\\x04\\x05\"");
  for (const char* b : {"{{ \"a\" // c\n }}", "{{ /* c */ \"a\" }}", "{{ '''a''' /* c */ '''b''' }}", "\"a\rb\""}) {
    EXPECT_NE(text(b)->result.error, Error::kNone) << b;
  }
}

// Decimals keep sign, coefficient digits and exponent; timestamps keep their
// fraction digits and whether the offset is known (the Ion data model).
TEST(IonText, ExactDecimalsAndTimestamps) {
  const auto p = text("1.00 -0.0 0d5 123_456.7_8d-3 2007-02-23T12:14:33.000733100Z 2001-01-01T00:00-00:00 2001T");
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error);
  const Node* n = p->doc.first;
  EXPECT_EQ(n->text, "100");
  EXPECT_EQ(n->exponent, -2);
  EXPECT_FALSE(n->negative);
  n = n->next_sibling;
  EXPECT_EQ(n->text, "0");
  EXPECT_EQ(n->exponent, -1);
  EXPECT_TRUE(n->negative);
  n = n->next_sibling;
  EXPECT_EQ(n->text, "0");
  EXPECT_EQ(n->exponent, 5);
  n = n->next_sibling;
  EXPECT_EQ(n->text, "12345678");
  EXPECT_EQ(n->exponent, -5);
  EXPECT_DOUBLE_EQ(n->float_value, 123.45678);
  n = n->next_sibling;
  EXPECT_EQ(n->text, "733100");
  EXPECT_EQ(n->exponent, -9);
  EXPECT_EQ(n->timestamp.nanos, 733100u);
  EXPECT_FALSE(n->timestamp.offset_unknown);
  n = n->next_sibling;
  EXPECT_TRUE(n->timestamp.offset_unknown);
  n = n->next_sibling;
  EXPECT_TRUE(n->timestamp.offset_unknown);
  // A coefficient longer than a double needs rounds as strtod does on all of it.
  const std::string many = "0." + std::string(2000, '3') + "e0";
  EXPECT_EQ(text(many)->doc.first->float_value, std::strtod(many.c_str(), nullptr));
}

TEST(IonBinary, ExactDecimalsAndTimestampFractions) {
  // 1.00 (exp -2, coef 100), -0d0 (coef -0), a 9-byte coefficient.
  const std::string bytes = std::string("\xE0\x01\x00\xEA", 4) + std::string("\x52\xC2\x64", 3) +
                            std::string("\x52\x80\x80", 3) + std::string("\x5A\x80\x01\0\0\0\0\0\0\0\0", 11);
  const auto p = binary(bytes);
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error);
  EXPECT_TRUE(model::equal(p->doc, text("1.00 -0d0 18446744073709551616d0")->doc));
  // Fractions: 0d0 is whole seconds, -0d-1 is .0; a negative or >= 1 fraction is refused.
  const std::string ts("\xE0\x01\x00\xEA", 4);
  const auto q = binary(ts + std::string("\x69\x80\x81\x81\x81\x80\x80\x80\x80\x80", 10) +
                        std::string("\x69\x80\x81\x81\x81\x80\x80\x80\xC1\x80", 10));
  ASSERT_EQ(q->result.error, Error::kNone);
  EXPECT_TRUE(model::equal(q->doc, text("0001-01-01T00:00:00Z 0001-01-01T00:00:00.0Z")->doc));
  EXPECT_EQ(binary(ts + std::string("\x69\x80\x81\x81\x81\x80\x80\x80\xC1\x81", 10))->result.error,
            Error::kBadTimestamp);
  EXPECT_EQ(binary(ts + std::string("\x69\x80\x81\x81\x81\x80\x80\x80\xC1\x0A", 10))->result.error,
            Error::kBadTimestamp);
}

TEST(IonBinary, SymbolZeroAndSlotsWithoutText) {
  // $0 as value (twice), annotation and field name; a local table with a null slot ($11).
  const std::string bytes = std::string("\xE0\x01\x00\xEA", 4) + std::string("\x70\x71\x00", 3) +
                            std::string("\xE4\x81\x80\x21\x01", 5) + std::string("\xD2\x80\x20", 3) +
                            std::string("\xE7\x81\x83\xD4\x87\xB2\x80\x8F", 8) +
                            std::string("\x71\x0B\x71\x0A", 4);
  const auto p = binary(bytes);
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " " << p->result.detail;
  EXPECT_TRUE(model::equal(p->doc, text("$0 $0 $0::1 {$0:0} $0 ''")->doc));
  EXPECT_FALSE(model::equal(p->doc, text("$0 $0 $0::1 {$0:0} '' ''")->doc));
}

// ---------------------------------------------------------------- binary fixtures

TEST(IonBinary, AllTypesFixture) {
  const std::string bytes = read_hex("all_types.hex");
  const auto p = binary(bytes);
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " at " << p->result.offset;
  const std::string expected =
      "null.null false true null.bool 0 5 256 7 9 null.int -5 -9223372036854775808 null.int "
      "0e0 1.5e0 3.1415926535897931e0 null.float 0d0 1.5d0 -7d0 null.decimal "
      "ts(1330866367.000000000,p4) ts(1704067200.000000000,p0) ts(1330866367.500000000,p5) null.timestamp "
      "'name' null.symbol \"\" \"abc\" \"0123456789abcdef\" \"\\xc3\\xa9\\xe2\\x82\\xac\" null.string "
      "clob\"hi\" null.clob blob\"\\x01\\x02\\x03\" null.blob [] [1,false] [1,2,3,4,5,6,7] [8] null.list "
      "() ('name' 1) null.sexp {} {name:1} {name:2} {version:3} {version:false} null.struct name::5 "
      "name::version::[6] 10";
  EXPECT_EQ(dump(p->doc), expected);
  // The binary timestamp keeps its offset as metadata.
  const Node* n = p->doc.first;
  while (n != nullptr && n->type != Type::kTimestamp) n = n->next_sibling;
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->timestamp.offset_min, -480);
  EXPECT_EQ(compare(n->timestamp, ts("2012-03-04T05:06:07-08:00")), 0);
}

TEST(IonBinary, LocalSymbolTables) {
  const std::string bytes = read_hex("symbols.hex");
  const auto p = binary(bytes);
  ASSERT_EQ(p->result.error, Error::kNone) << error_message(p->result.error) << " at " << p->result.offset;
  EXPECT_EQ(dump(p->doc), "flagA::('eq' 1 1) x::'eq'");
}

TEST(IonBinary, ImportsWithoutCatalogueNameTheTable) {
  const std::string bytes = read_hex("imports.hex");
  const auto p = binary(bytes);
  EXPECT_EQ(p->result.error, Error::kUnknownSymbol);
  EXPECT_EQ(p->result.symbol_id, 10u);
  EXPECT_NE(std::string(p->result.detail).find("'ops'"), std::string::npos) << p->result.detail;
  // With a catalogue entry the same stream resolves.
  const std::string_view ops[] = {"eq", "and", "or"};
  const SharedTable cat[] = {{"ops", 1, ops}};
  const auto q = binary(bytes, cat);
  ASSERT_EQ(q->result.error, Error::kNone);
  EXPECT_EQ(dump(q->doc), "flagB::('eq' 1)");
  // A catalogue entry of another version does not apply.
  const SharedTable cat2[] = {{"ops", 2, ops}};
  EXPECT_EQ(binary(bytes, cat2)->result.error, Error::kUnknownSymbol);
}

TEST(IonBinary, MalformedInputs) {
  const struct {
    std::string bytes;
    Error error;
  } cases[] = {
      {"", Error::kBadVersionMarker},
      {std::string("\xE0\x01\x00", 3), Error::kBadVersionMarker},
      {std::string("\xE0\x02\x00\xEA", 4), Error::kBadVersionMarker},
      {std::string("\xE0\x01\x00\xEA\xE0\x01", 6), Error::kBadVersionMarker},
      {std::string("\xE0\x01\x00\xEA\xF0", 5), Error::kBadTypeCode},             // reserved type 15
      {std::string("\xE0\x01\x00\xEA\x12", 5), Error::kBadTypeCode},             // bool L=2
      {std::string("\xE0\x01\x00\xEA\x30", 5), Error::kBadTypeCode},             // negative zero int
      {std::string("\xE0\x01\x00\xEA\x42\x00\x00", 7), Error::kBadTypeCode},     // float L=2
      {std::string("\xE0\x01\x00\xEA\xE0", 5), Error::kBadVersionMarker},        // E0 at top level = marker
      {std::string("\xE0\x01\x00\xEA\xEF", 5), Error::kBadTypeCode},             // null annotation wrapper
      {std::string("\xE0\x01\x00\xEA\xD1\x80", 6), Error::kBadTypeCode},         // empty sorted struct
      {std::string("\xE0\x01\x00\xEA\xE3\x81\x84\x00", 8), Error::kBadTypeCode},  // annotated NOP pad
      {std::string("\xE0\x01\x00\xEA\xE3\x80\x21\x01", 8), Error::kBadLength},    // annot_length 0
      {std::string("\xE0\x01\x00\xEA\xE5\x81\x84\x21\x01\x02", 10), Error::kBadLength},  // value shorter than wrapper
      {std::string("\xE0\x01\x00\xEA\xB2\x22\x01\x20", 8), Error::kBadLength},   // child runs past list
      {std::string("\xE0\x01\x00\xEA\xB2\x22\x01", 7), Error::kTruncated},       // ... and past the input
      {std::string("\xE0\x01\x00\xEA\x71\x0A", 6), Error::kUnknownSymbol},       // no local table
      {std::string("\xE0\x01\x00\xEA\x72\x00\x0A", 7), Error::kUnknownSymbol},   // $10, leading zero byte
      {std::string("\xE0\x01\x00\xEA\x82\xC3\x28", 7), Error::kBadUtf8},
      // a 2049-byte magnitude: beyond kMaxIntBytes
      {std::string("\xE0\x01\x00\xEA\x2E\x10\x81", 7) + std::string(2049, '\x01'), Error::kIntOutOfRange},
      {std::string("\xE0\x01\x00\xEA\x64\x80\x0F\xE8\x8D", 9), Error::kBadTimestamp},  // month 13
      {std::string("\xE0\x01\x00\xEA\x63\x80\x80\x81", 8), Error::kBadTimestamp},  // year 0
      {std::string("\xE0\x01\x00\xEA\x66\x80\x0F\xE8\x81\x81\x81", 11), Error::kBadTimestamp},  // hour without minute
  };
  for (const auto& c : cases) {
    const auto p = binary(c.bytes);
    EXPECT_EQ(p->result.error, c.error) << "case bytes " << esc(c.bytes) << " got "
                                        << error_message(p->result.error);
  }
  std::string deep("\xE0\x01\x00\xEA", 4);
  // kMaxDepth + 1 nested one-element lists using L=14 lengths.
  std::string inner = "\x20";
  for (size_t i = 0; i < kMaxDepth + 1; ++i) {
    std::string w;
    if (inner.size() < 14) {
      w += static_cast<char>(0xB0 | inner.size());
    } else {
      w += '\xBE';
      size_t len = inner.size();
      std::string v;
      v += static_cast<char>(0x80 | (len & 0x7F));
      len >>= 7;
      while (len > 0) {
        v.insert(v.begin(), static_cast<char>(len & 0x7F));
        len >>= 7;
      }
      w += v;
    }
    inner = w + inner;
  }
  EXPECT_EQ(binary(deep + inner)->result.error, Error::kTooDeep);
}

// Every proper prefix of a one-value stream is rejected; prefixes of a
// multi-value stream either fail or yield a prefix of its values.
TEST(IonBinary, EveryPrefixOfFixtures) {
  for (const char* name : {"all_types.hex", "symbols.hex", "imports.hex"}) {
    const std::string bytes = read_hex(name);
    const std::string_view ops[] = {"eq", "and", "or"};
    const SharedTable cat[] = {{"ops", 1, ops}};
    const std::string full = dump(binary(bytes, cat)->doc);
    for (size_t len = 0; len < bytes.size(); ++len) {
      const std::string cut = bytes.substr(0, len);
      const auto p = binary(cut, cat);
      if (p->result.error == Error::kNone) {
        const std::string part = dump(p->doc);
        EXPECT_EQ(full.compare(0, part.size(), part), 0) << name << " prefix " << len;
      } else {
        EXPECT_LE(p->result.offset, len) << name << " prefix " << len;
      }
    }
  }
  // A single value (the symbol-table fixture's first value) is rejected at every cut.
  const std::string one("\xE0\x01\x00\xEA\xBE\x8E\x21\x01\x21\x02\x21\x03\x21\x04\x21\x05\x21\x06\x21\x07", 20);
  ASSERT_EQ(binary(one)->result.error, Error::kNone);
  for (size_t len = 5; len < one.size(); ++len) {
    EXPECT_NE(binary(one.substr(0, len))->result.error, Error::kNone) << len;
  }
}

// ---------------------------------------------------------------- text -> binary round trip

// A small Ion binary writer (test only): local symbol table + values.
class Encoder {
 public:
  std::string encode(const Document& doc, std::mt19937* pad_rng) {
    rng_ = pad_rng;
    for (const Node* n = doc.first; n != nullptr; n = n->next_sibling) collect(*n);
    std::string body;
    for (const Node* n = doc.first; n != nullptr; n = n->next_sibling) body += value(*n);
    std::string out("\xE0\x01\x00\xEA", 4);
    if (!symbols_.empty()) {
      std::string list;
      for (const std::string& s : symbols_) list += typed(0x8, s);
      std::string st = varuint(7) + typed(0xB, list);
      out += annotated({3}, typed(0xD, st));
    }
    return out + body;
  }

 private:
  std::vector<std::string> symbols_;
  std::map<std::string, uint64_t> sid_;
  std::mt19937* rng_ = nullptr;

  uint64_t sid(std::string_view s) {
    static const char* sys[] = {"$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols",
                                "max_id", "$ion_shared_symbol_table"};
    for (uint64_t i = 0; i < 9; ++i) {
      if (s == sys[i]) return i + 1;
    }
    auto it = sid_.find(std::string(s));
    if (it != sid_.end()) return it->second;
    symbols_.emplace_back(s);
    return sid_[std::string(s)] = 9 + symbols_.size();
  }
  void collect(const Node& n) {
    for (size_t i = 0; i < n.num_annotations; ++i) sid(n.annotations[i]);
    if (!n.field_name.empty()) sid(n.field_name);
    if (n.type == Type::kSymbol && !n.is_null) sid(n.text);
    for (const Node* c = n.first_child; c != nullptr; c = c->next_sibling) collect(*c);
  }
  static std::string varuint(uint64_t v) {
    std::string out(1, static_cast<char>(0x80 | (v & 0x7F)));
    for (v >>= 7; v > 0; v >>= 7) out.insert(out.begin(), static_cast<char>(v & 0x7F));
    return out;
  }
  static std::string varint(int64_t v, bool negative_zero = false) {
    const bool neg = v < 0 || negative_zero;
    uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    std::string out;
    out += static_cast<char>(0x80 | (mag & 0x3F) | (neg && mag < 64 ? 0x40 : 0));
    if (mag < 64) return out;
    out[0] = static_cast<char>(0x80 | (mag & 0x7F));
    mag >>= 7;
    while (mag >= 64) {
      out.insert(out.begin(), static_cast<char>(mag & 0x7F));
      mag >>= 7;
    }
    out.insert(out.begin(), static_cast<char>(mag | (neg ? 0x40 : 0)));
    return out;
  }
  static std::string uint_bytes(uint64_t v) {
    std::string out;
    for (; v > 0; v >>= 8) out.insert(out.begin(), static_cast<char>(v & 0xFF));
    return out;
  }
  std::string typed(int type, const std::string& body) {
    std::string out;
    if (body.size() < 14) {
      out += static_cast<char>(type << 4 | static_cast<int>(body.size()));
    } else {
      out += static_cast<char>(type << 4 | 14);
      out += varuint(body.size());
    }
    return out + body;
  }
  std::string pad() {
    if (rng_ == nullptr || (*rng_)() % 4 != 0) return "";
    const size_t n = (*rng_)() % 20;
    return typed(0, std::string(n, '\x55'));
  }
  std::string annotated(const std::vector<uint64_t>& sids, const std::string& v) {
    std::string a;
    for (uint64_t s : sids) a += varuint(s);
    return typed(0xE, varuint(a.size()) + a + v);
  }
  std::string value(const Node& n) {
    std::string v = bare(n);
    if (n.num_annotations == 0) return v;
    std::vector<uint64_t> sids;
    for (size_t i = 0; i < n.num_annotations; ++i) sids.push_back(sid(n.annotations[i]));
    return annotated(sids, v);
  }
  std::string bare(const Node& n) {
    static const int kCode[] = {0x0, 0x1, 0x2, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA, 0xB, 0xC, 0xD};
    if (n.is_null) return std::string(1, static_cast<char>(kCode[static_cast<int>(n.type)] << 4 | 0xF));
    switch (n.type) {
      case Type::kBool: return std::string(1, n.bool_value ? '\x11' : '\x10');
      case Type::kInt: {
        const uint64_t mag = n.int_value < 0 ? 0 - static_cast<uint64_t>(n.int_value) : n.int_value;
        return typed(n.int_value < 0 ? 0x3 : 0x2, uint_bytes(mag));
      }
      case Type::kFloat: {
        uint64_t bits;
        std::memcpy(&bits, &n.float_value, 8);
        std::string b;
        for (int i = 7; i >= 0; --i) b += static_cast<char>(bits >> (i * 8));
        return typed(0x4, b);
      }
      case Type::kDecimal: {
        for (int k = 0; k < 16; ++k) {
          const double c = n.float_value * std::pow(10.0, k);
          if (c == std::floor(c) && std::fabs(c) < 9e15) {
            const auto ci = static_cast<int64_t>(c);
            std::string coef = uint_bytes(ci < 0 ? -ci : ci);
            if (coef.empty() || (coef[0] & 0x80)) coef.insert(coef.begin(), '\0');
            if (ci < 0) coef[0] = static_cast<char>(coef[0] | 0x80);
            if (ci == 0) coef.clear();
            return typed(0x5, varint(-k) + coef);
          }
        }
        ADD_FAILURE() << "decimal not encodable";
        return "";
      }
      case Type::kTimestamp: {
        const Timestamp& t = n.timestamp;
        int64_t days = t.epoch_s / 86400;
        int64_t secs = t.epoch_s % 86400;
        if (secs < 0) {
          secs += 86400;
          --days;
        }
        // civil_from_days (Howard Hinnant)
        days += 719468;
        const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
        const unsigned doe = static_cast<unsigned>(days - era * 146097);
        const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        const unsigned mp = (5 * doy + 2) / 153;
        const unsigned d = doy - (153 * mp + 2) / 5 + 1;
        const unsigned m = mp < 10 ? mp + 3 : mp - 9;
        const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
        std::string b = varint(t.offset_min, t.precision <= Precision::kDay) + varuint(y);
        if (t.precision >= Precision::kMonth) b += varuint(m);
        if (t.precision >= Precision::kDay) b += varuint(d);
        if (t.precision >= Precision::kMinute) b += varuint(secs / 3600) + varuint(secs / 60 % 60);
        if (t.precision >= Precision::kSecond) b += varuint(secs % 60);
        if (t.precision == Precision::kFraction) b += varint(-9) + uint_bytes(t.nanos);
        return typed(0x6, b);
      }
      case Type::kSymbol: return typed(0x7, uint_bytes(sid(n.text)));
      case Type::kString: return typed(0x8, std::string(n.text));
      case Type::kClob: return typed(0x9, std::string(n.text));
      case Type::kBlob: return typed(0xA, std::string(n.text));
      case Type::kList:
      case Type::kSexp:
      case Type::kStruct: {
        std::string body;
        // Inside a struct a NOP pad stands as a field value, after a field ID.
        auto padding = [&]() {
          const std::string p = pad();
          return p.empty() || n.type != Type::kStruct ? p : varuint(0) + p;
        };
        for (const Node* c = n.first_child; c != nullptr; c = c->next_sibling) {
          body += padding();
          if (n.type == Type::kStruct) body += varuint(sid(c->field_name));
          body += value(*c);
        }
        body += padding();
        return typed(n.type == Type::kList ? 0xB : n.type == Type::kSexp ? 0xC : 0xD, body);
      }
      default: return "";
    }
  }
};

TEST(IonBinary, TextAndBinaryYieldTheSameTree) {
  const unsigned seed = std::random_device{}();
  std::printf("ion round-trip padding seed %u\n", seed);
  std::mt19937 rng(seed);
  const std::string docs[] = {
      read_file(std::string(TEST_DATA_DIR) + "/ion/profile.ion"),
      "null.int true -9223372036854775808 1.5e0 -0.125 2024T 2012-03-04T05:06:07.25-08:00 "
      "sym \"str\" {{aGk=}} {{\"clob\"}} [1,[2]] (a (b c)) {x:1, y:{z:[]}} a::b::c",
      "'a b'::{'f g': 'h i', \"long field name that needs a L=14 length\": \"and a value longer than 13\"}",
  };
  for (const std::string& d : docs) {
    const auto t = text(d);
    ASSERT_EQ(t->result.error, Error::kNone);
    Encoder enc;
    const std::string bytes = enc.encode(t->doc, &rng);
    const auto b = binary(bytes);
    ASSERT_EQ(b->result.error, Error::kNone) << error_message(b->result.error) << " at " << b->result.offset << " sid " << b->result.symbol_id << " " << b->result.detail
                                             << " seed " << seed;
    // Offsets and timestamp offsets differ by encoding; the dump ignores them.
    EXPECT_EQ(dump(b->doc), dump(t->doc)) << "seed " << seed;
  }
}

TEST(IonBinary, RandomCorruptionNeverCrashes) {
  const unsigned seed = std::random_device{}();
  std::printf("ion corruption seed %u\n", seed);
  std::mt19937 rng(seed);
  const std::string src = read_file(std::string(TEST_DATA_DIR) + "/ion/profile.ion");
  const auto t = text(src);
  Encoder enc;
  const std::string good = enc.encode(t->doc, nullptr);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[4 + rng() % (bad.size() - 4)] = static_cast<char>(rng());
    const auto p = binary(bad);
    if (p->result.error != Error::kNone) {
      EXPECT_LE(p->result.offset, bad.size());
    }
  }
}

}  // namespace

namespace {

// profile.10n is the binary form of profile.ion (this encoder, no padding),
// used by the variants tests for the binary compile path. Regenerate with
// ION_REGENERATE=1 after changing profile.ion.
TEST(IonBinary, ProfileBinaryFixtureMatchesText) {
  const std::string src = read_file(std::string(TEST_DATA_DIR) + "/ion/profile.ion");
  const auto t = text(src);
  ASSERT_EQ(t->result.error, Error::kNone);
  Encoder enc;
  const std::string bytes = enc.encode(t->doc, nullptr);
  const std::string path = std::string(TEST_DATA_DIR) + "/ion/profile.10n";
  if (std::getenv("ION_REGENERATE") != nullptr) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  const std::string stored = read_file(path);
  EXPECT_EQ(stored, bytes);
  const auto b = binary(stored);
  ASSERT_EQ(b->result.error, Error::kNone);
  EXPECT_EQ(dump(b->doc), dump(t->doc));
}

}  // namespace

namespace {

// Every reader budget at its worst, at the largest profile size (4 MiB):
// each case is accepted or refused as stated, with a message when refused,
// and the arena never grows beyond the stated bound. The time is printed (it
// is checked at -O2 by bench/ion_budget.cpp, not here under ASan).
TEST(IonBudget, WorstCasesAt4MiB) {
  const size_t size = 4u << 20;
  // An arena of the most any 4 MiB document can use: kMaxValues values of
  // 8 bytes each, 5 of them annotations (binary), i.e. 192 arena bytes per
  // value, plus decoded text and copied symbols. The reader's caps stop every
  // case before this runs out.
  const size_t cap = kMaxValues * (sizeof(Node) + 5 * 16) + 2 * size + kMaxSymbolSlots * 16;
  std::vector<uint8_t> mem(cap);
  for (const worst::Case& c : worst::cases(size)) {
    Arena arena{mem.data(), mem.size(), 0};
    Document doc{};
    const auto t0 = std::chrono::steady_clock::now();
    const ParseResult r = c.binary ? parse_binary(c.input, arena, doc) : parse_text(c.input, arena, doc);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("ion budget: %-48s %8zu bytes %8.1f ms (ASan) %6.1f arena bytes/byte: %s%s%s\n", c.name,
                c.input.size(), ms, static_cast<double>(arena.used) / static_cast<double>(c.input.size()),
                error_message(r.error), r.detail[0] ? ": " : "", r.detail);
    EXPECT_EQ(r.error, c.expected) << c.name << ": " << error_message(r.error) << " " << r.detail;
    if (r.error != Error::kNone) {
      EXPECT_NE(r.detail[0], 0) << c.name << ": a refusal names its limit";
    }
    EXPECT_LE(arena.used, c.input.size() * kMaxArenaBytesPerInputByte + kMaxSymbolSlots * 16) << c.name;
    EXPECT_LE(arena.used, kMaxValues * (sizeof(Node) + 8 + kMaxAnnotations * 16) + c.input.size() * 3 +
                              kMaxSymbolSlots * 16)
        << c.name;
  }
}

// Memory per input byte at its worst for each kind of value, with an arena
// of exactly the stated bound: never kOutOfMemory.
TEST(IonBudget, ArenaBoundPerInputByte) {
  const std::string ivm("\xE0\x01\x00\xEA", 4);
  struct Dense {
    const char* name;
    bool binary;
    std::string input;
  } cases[] = {
      {"binary nulls", true, worst::fill(ivm, "\x0F", 65536)},
      {"binary annotated nulls", true, worst::fill(ivm, "\xE3\x81\x84\x0F", 65536)},
      {"binary symbol list of empty strings", true,
       ivm + worst::typed(0xE, worst::varuint(1) + worst::varuint(3) +
                                   worst::typed(0xD, worst::varuint(7) + worst::typed(0xB, std::string(30000, '\x80'))))},
      {"binary 9-byte integers", true, worst::fill(ivm, std::string("\x29\x01\0\0\0\0\0\0\0\0", 10), 65536)},
      {"binary small decimals", true, worst::fill(ivm, "\x52\x80\x01", 65536)},
      {"text empty lists", false, worst::fill("", "[]", 65536)},
      {"text annotated ints", false, worst::fill("", "a::0 ", 65536)},
      {"text symbol list", false, "$ion_symbol_table::{symbols:[" + worst::fill("", "\"\",", 60000) + "]}"},
  };
  for (const Dense& c : cases) {
    const size_t cap = c.input.size() * kMaxArenaBytesPerInputByte;
    std::vector<uint8_t> mem(cap);
    Arena arena{mem.data(), cap, 0};
    Document doc{};
    const ParseResult r = c.binary ? parse_binary(c.input, arena, doc) : parse_text(c.input, arena, doc);
    EXPECT_EQ(r.error, Error::kNone) << c.name << ": " << error_message(r.error) << " " << r.detail;
    std::printf("ion arena: %-40s %6.1f bytes per input byte (bound %zu)\n", c.name,
                static_cast<double>(arena.used) / static_cast<double>(c.input.size()), kMaxArenaBytesPerInputByte);
  }
}

}  // namespace
