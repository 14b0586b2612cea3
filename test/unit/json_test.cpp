// Tests for appconfig::json: the JSONTestSuite corpus, exact error codes and
// offsets, every prefix of every valid file, a differential check against an
// independent recursive reference validator on random mutated documents, and
// the raw-span accessors (ObjectIter, find, key_equals, decode_string, kind_of).
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/formats/json.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <cstring>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace json = appconfig::json;
namespace fs = std::filesystem;

namespace {

std::string read_binary(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A copy in a heap block of exactly text.size() bytes, so that ASan reports
// any read one past the end (std::string would hide it behind its NUL).
struct Exact {
  explicit Exact(std::string_view text) : size(text.size()), data(new char[text.size() ? text.size() : 1]) {
    if (size) std::memcpy(data.get(), text.data(), size);
  }
  std::string_view view() const { return {data.get(), size}; }
  size_t size;
  std::unique_ptr<char[]> data;
};

json::ValidateResult validate_exact(std::string_view text) {
  Exact e(text);
  return json::validate(e.view());
}

std::vector<fs::path> files_in(const char* sub) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fs::path(TEST_DATA_DIR) / "json" / sub)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------ reference validator
// Deliberately written differently from src/formats/json.cpp: recursive descent, code
// points decoded arithmetically, same policy (depth 128, lone surrogates and
// BOM rejected). Used only as an oracle for verdicts.
struct Ref {
  const std::string& s;
  size_t i = 0;
  bool ok = true;

  explicit Ref(const std::string& text) : s(text) {}
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool hex4(unsigned* v) {
    if (i + 4 > s.size()) return false;
    *v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + k];
      unsigned d;
      if (isdigit(static_cast<unsigned char>(c))) d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      *v = *v * 16 + d;
    }
    i += 4;
    return true;
  }
  bool utf8() {
    unsigned char c = s[i];
    int n;
    unsigned cp;
    if (c < 0x80) { ++i; return true; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static const unsigned kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    for (;;) {
      if (i >= s.size()) return false;
      unsigned char c = s[i];
      if (c == '"') { ++i; return true; }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i;
        if (i >= s.size()) return false;
        char e = s[i++];
        if (std::string("\"\\/bfnrt").find(e) != std::string::npos) continue;
        if (e != 'u') return false;
        unsigned v;
        if (!hex4(&v)) return false;
        if (v >= 0xDC00 && v <= 0xDFFF) return false;
        if (v >= 0xD800 && v <= 0xDBFF) {
          unsigned w;
          if (!eat('\\') || !eat('u') || !hex4(&w)) return false;
          if (w < 0xDC00 || w > 0xDFFF) return false;
        }
        continue;
      }
      if (!utf8()) return false;
    }
  }
  bool digits() {
    size_t b = i;
    while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > b;
  }
  bool number() {
    eat('-');
    if (eat('0')) {
    } else if (i < s.size() && s[i] >= '1' && s[i] <= '9') {
      digits();
    } else {
      return false;
    }
    if (eat('.') && !digits()) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool lit(const char* w) {
    size_t n = strlen(w);
    if (s.compare(i, n, w) != 0) return false;
    i += n;
    return true;
  }
  bool value(int depth) {
    ws();
    if (i >= s.size()) return false;
    char c = s[i];
    if (c == '{' || c == '[') {
      if (depth >= 128) return false;
      char close = c == '{' ? '}' : ']';
      ++i;
      ws();
      if (eat(close)) return true;
      for (;;) {
        if (c == '{') {
          ws();
          if (!string()) return false;
          ws();
          if (!eat(':')) return false;
        }
        if (!value(depth + 1)) return false;
        ws();
        if (eat(close)) return true;
        if (!eat(',')) return false;
      }
    }
    if (c == '"') return string();
    if (c == '-' || isdigit(static_cast<unsigned char>(c))) return number();
    return lit("true") || lit("false") || lit("null");
  }
  bool document() {
    if (!value(0)) return false;
    ws();
    return i == s.size();
  }
};

bool ref_valid(const std::string& s) { return Ref(s).document(); }

}  // namespace

// ------------------------------------------------------------ corpus

// Our verdicts on the implementation-defined files (docs/json.md explains them).
const std::map<std::string, bool> kImplementationDefined = {
    {"i_number_double_huge_neg_exp.json", true},
    {"i_number_huge_exp.json", true},
    {"i_number_neg_int_huge_exp.json", true},
    {"i_number_pos_double_huge_exp.json", true},
    {"i_number_real_neg_overflow.json", true},
    {"i_number_real_pos_overflow.json", true},
    {"i_number_real_underflow.json", true},
    {"i_number_too_big_neg_int.json", true},
    {"i_number_too_big_pos_int.json", true},
    {"i_number_very_big_negative_int.json", true},
    {"i_object_key_lone_2nd_surrogate.json", false},
    {"i_string_1st_surrogate_but_2nd_missing.json", false},
    {"i_string_1st_valid_surrogate_2nd_invalid.json", false},
    {"i_string_UTF-16LE_with_BOM.json", false},
    {"i_string_UTF-8_invalid_sequence.json", false},
    {"i_string_UTF8_surrogate_U+D800.json", false},
    {"i_string_incomplete_surrogate_and_escape_valid.json", false},
    {"i_string_incomplete_surrogate_pair.json", false},
    {"i_string_incomplete_surrogates_escape_valid.json", false},
    {"i_string_invalid_lonely_surrogate.json", false},
    {"i_string_invalid_surrogate.json", false},
    {"i_string_invalid_utf-8.json", false},
    {"i_string_inverted_surrogates_U+1D11E.json", false},
    {"i_string_iso_latin_1.json", false},
    {"i_string_lone_second_surrogate.json", false},
    {"i_string_lone_utf8_continuation_byte.json", false},
    {"i_string_not_in_unicode_range.json", false},
    {"i_string_overlong_sequence_2_bytes.json", false},
    {"i_string_overlong_sequence_6_bytes.json", false},
    {"i_string_overlong_sequence_6_bytes_null.json", false},
    {"i_string_truncated-utf-8.json", false},
    {"i_string_utf16BE_no_BOM.json", false},
    {"i_string_utf16LE_no_BOM.json", false},
    {"i_structure_500_nested_arrays.json", false},
    {"i_structure_UTF-8_BOM_empty_object.json", false},
};

TEST(JsonCorpus, TestParsingVerdicts) {
  size_t y = 0, n = 0, i = 0;
  for (const fs::path& p : files_in("test_parsing")) {
    const std::string name = p.filename().string();
    const std::string text = read_binary(p);
    const json::ValidateResult r = validate_exact(text);
    const bool accepted = r.error == json::Error::kNone;
    SCOPED_TRACE(name + ": " + json::error_message(r.error) + " at " + std::to_string(r.offset));
    // The reference validator must agree with us on every file.
    EXPECT_EQ(accepted, ref_valid(text));
    EXPECT_LE(r.offset, text.size());
    if (name[0] == 'y') {
      ++y;
      EXPECT_TRUE(accepted);
    } else if (name[0] == 'n') {
      ++n;
      EXPECT_FALSE(accepted);
    } else {
      ++i;
      auto it = kImplementationDefined.find(name);
      ASSERT_NE(it, kImplementationDefined.end());
      EXPECT_EQ(accepted, it->second);
    }
  }
  EXPECT_EQ(y, 95u);
  EXPECT_EQ(n, 188u);
  EXPECT_EQ(i, 35u);
}

TEST(JsonCorpus, DeepNestingRejectedCleanly) {
  const std::string deep = read_binary(fs::path(TEST_DATA_DIR) / "json/test_parsing/n_structure_100000_opening_arrays.json");
  ASSERT_GE(deep.size(), 100000u);
  auto r = validate_exact(deep);
  EXPECT_EQ(r.error, json::Error::kTooDeep);
  EXPECT_EQ(r.offset, json::kMaxDepth);
  const std::string mixed = read_binary(fs::path(TEST_DATA_DIR) / "json/test_parsing/n_structure_open_array_object.json");
  r = validate_exact(mixed);
  EXPECT_EQ(r.error, json::Error::kTooDeep);
}

// Every proper prefix of a valid container document is invalid, and must be
// rejected without reading past the end (exact-size buffers under ASan).
TEST(JsonCorpus, EveryPrefixOfValidContainersRejected) {
  size_t checked = 0;
  for (const fs::path& p : files_in("test_parsing")) {
    if (p.filename().string()[0] != 'y') continue;
    const std::string text = read_binary(p);
    size_t b = 0;
    while (b < text.size() && (text[b] == ' ' || text[b] == '\n' || text[b] == '\t' || text[b] == '\r')) ++b;
    size_t e = text.size();
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\n' || text[e - 1] == '\t' || text[e - 1] == '\r')) --e;
    if (b == e || (text[b] != '[' && text[b] != '{')) continue;
    for (size_t cut = 0; cut < e; ++cut) {
      const auto r = validate_exact(std::string_view(text).substr(0, cut));
      EXPECT_NE(r.error, json::Error::kNone) << p.filename() << " cut at " << cut;
      EXPECT_LE(r.offset, cut);
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000u);
}

// test_transform has no verdicts; these pin our policy (docs/json.md).
TEST(JsonCorpus, TestTransformPolicy) {
  const std::map<std::string, bool> expected = {
      {"number_-9223372036854775808.json", true},
      {"number_-9223372036854775809.json", true},
      {"number_1.0.json", true},
      {"number_1.000000000000000005.json", true},
      {"number_1000000000000000.json", true},
      {"number_10000000000000000999.json", true},
      {"number_1e-999.json", true},
      {"number_1e6.json", true},
      {"number_9223372036854775807.json", true},
      {"number_9223372036854775808.json", true},
      {"object_key_nfc_nfd.json", true},
      {"object_key_nfd_nfc.json", true},
      {"object_same_key_different_values.json", true},
      {"object_same_key_same_value.json", true},
      {"object_same_key_unclear_values.json", true},
      {"string_1_escaped_invalid_codepoint.json", false},
      {"string_1_invalid_codepoint.json", false},
      {"string_2_escaped_invalid_codepoints.json", false},
      {"string_2_invalid_codepoints.json", false},
      {"string_3_escaped_invalid_codepoints.json", false},
      {"string_3_invalid_codepoints.json", false},
      {"string_with_escaped_NULL.json", true},
  };
  size_t count = 0;
  for (const fs::path& p : files_in("test_transform")) {
    const std::string name = p.filename().string();
    const std::string text = read_binary(p);
    auto it = expected.find(name);
    ASSERT_NE(it, expected.end()) << name;
    const auto r = validate_exact(text);
    EXPECT_EQ(r.error == json::Error::kNone, it->second) << name << ": " << json::error_message(r.error);
    ++count;
  }
  EXPECT_EQ(count, expected.size());

  const auto dir = fs::path(TEST_DATA_DIR) / "json/test_transform";
  // Duplicates: the last value wins.
  std::string doc = read_binary(dir / "object_same_key_different_values.json");  // {"a":1,"a":2}
  auto v = json::find(doc, "a");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "2");
  doc = read_binary(dir / "object_same_key_unclear_values.json");  // {"a":0, "a":-0}
  v = json::find(doc, "a");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "-0");  // raw bytes: -0 stays -0
  // Numbers pass through byte for byte.
  doc = read_binary(dir / "number_10000000000000000999.json");
  json::ObjectIter it(doc);
  EXPECT_FALSE(it.ok());  // it is an array, not an object
  // NFC and NFD keys are different keys: no normalisation.
  doc = read_binary(dir / "object_key_nfc_nfd.json");
  json::ObjectIter it2(doc);
  json::Member m1, m2, m3;
  ASSERT_TRUE(it2.next(m1));
  ASSERT_TRUE(it2.next(m2));
  EXPECT_FALSE(it2.next(m3));
  EXPECT_TRUE(it2.ok());
  EXPECT_NE(m1.raw_key, m2.raw_key);
  EXPECT_TRUE(json::key_equals(m1.raw_key, "\xC3\xA9"));   // é precomposed
  EXPECT_TRUE(json::key_equals(m2.raw_key, "e\xCC\x81"));  // e + combining acute
  EXPECT_FALSE(json::key_equals(m1.raw_key, "e\xCC\x81"));
  // Escaped NUL is kept.
  doc = read_binary(dir / "string_with_escaped_NULL.json");  // ["A\u0000B"]
  const auto start = doc.find('"');
  const auto end = doc.rfind('"');
  char out[16];
  const long len = json::decode_string(std::string_view(doc).substr(start, end - start + 1), out, sizeof out);
  ASSERT_EQ(len, 3);
  EXPECT_EQ(std::string(out, 3), std::string("A\0B", 3));
}

// ------------------------------------------------------------ exact errors

struct ErrorCase {
  std::string text;
  json::Error error;
  size_t offset;
};

TEST(JsonValidate, ErrorsAndOffsets) {
  using E = json::Error;
  const std::vector<ErrorCase> cases = {
      {"", E::kEmpty, 0},
      {" \t\r\n", E::kEmpty, 4},
      {"\f1", E::kUnexpectedChar, 0},
      {"\xEF\xBB\xBF{}", E::kByteOrderMark, 0},
      {"\xEF\xBB\xBF", E::kByteOrderMark, 0},
      {"01", E::kBadNumber, 1},
      {"-", E::kBadNumber, 1},
      {"-a", E::kBadNumber, 1},
      {"1.", E::kBadNumber, 2},
      {"1.e3", E::kBadNumber, 2},
      {"1e", E::kBadNumber, 2},
      {"1e+", E::kBadNumber, 3},
      {"[1.2.3]", E::kBadNumber, 4},
      {"0x10", E::kBadNumber, 1},
      {"+1", E::kUnexpectedChar, 0},
      {".5", E::kUnexpectedChar, 0},
      {"NaN", E::kUnexpectedChar, 0},
      {"[1,]", E::kUnexpectedChar, 3},
      {"[,1]", E::kUnexpectedChar, 1},
      {"{\"a\":1,}", E::kUnexpectedChar, 7},
      {"{\"a\" 1}", E::kUnexpectedChar, 5},
      {"{a:1}", E::kUnexpectedChar, 1},
      {"{'a':1}", E::kUnexpectedChar, 1},
      {"[1}", E::kUnexpectedChar, 2},
      {"{\"a\":1]", E::kUnexpectedChar, 6},
      {"[", E::kTruncated, 1},
      {"[1", E::kTruncated, 2},
      {"{\"a\":", E::kTruncated, 5},
      {"\"abc", E::kTruncated, 4},
      {"tru", E::kTruncated, 3},
      {"[nul", E::kTruncated, 4},
      {"trUe", E::kUnexpectedChar, 0},
      {"truex", E::kTrailingData, 4},
      {"[] []", E::kTrailingData, 3},
      {"1 2", E::kTrailingData, 2},
      {"\"a\"x", E::kTrailingData, 3},
      {"\"a\x01\"", E::kControlInString, 2},
      {"\"a\tb\"", E::kControlInString, 2},
      {std::string("\"a\0b\"", 5), E::kControlInString, 2},
      {"\"\\x41\"", E::kBadEscape, 1},
      {"\"\\'\"", E::kBadEscape, 1},
      {"\"\\u12G4\"", E::kBadEscape, 1},
      {"\"\\u12\"", E::kBadEscape, 1},
      {"\"\\u", E::kTruncated, 1},
      {"\"\\u12", E::kTruncated, 1},
      {"\"\\uD800", E::kTruncated, 1},
      {"\"\\uD800\\", E::kTruncated, 1},
      {"\"\\uD800\\u", E::kTruncated, 1},
      {"\"\\uD800\\uDC0", E::kTruncated, 1},
      {"\"\\uD800\\uDC0G\"", E::kBadEscape, 1},
      {"\"\\uD800\\x\"", E::kLoneSurrogate, 1},
      {"\"\\uD800x\"", E::kLoneSurrogate, 1},
      {"\"\\", E::kTruncated, 1},
      {"\"\\uD800\"", E::kLoneSurrogate, 1},
      {"\"\\uDC00\"", E::kLoneSurrogate, 1},
      {"\"\\uD800\\n\"", E::kLoneSurrogate, 1},
      {"\"\\uD800\\uD800\"", E::kLoneSurrogate, 1},
      {"\"\\uD800\\u00e9\"", E::kLoneSurrogate, 1},
      {"\"x\xC3\"", E::kBadUtf8, 2},
      {"\"\xC0\xAF\"", E::kBadUtf8, 1},         // overlong '/'
      {"\"\xE0\x80\xAF\"", E::kBadUtf8, 1},     // overlong
      {"\"\xED\xA0\x80\"", E::kBadUtf8, 1},     // raw surrogate
      {"\"\xF4\x90\x80\x80\"", E::kBadUtf8, 1}, // > U+10FFFF
      {"\"\xF8\x88\x80\x80\x80\"", E::kBadUtf8, 1},
      {"\"\x80\"", E::kBadUtf8, 1},
      {"\xC3\xA9", E::kUnexpectedChar, 0},  // UTF-8 outside a string
  };
  for (const ErrorCase& c : cases) {
    const auto r = validate_exact(c.text);
    EXPECT_EQ(static_cast<int>(r.error), static_cast<int>(c.error))
        << "input: " << testing::PrintToString(c.text) << " got " << json::error_message(r.error);
    EXPECT_EQ(r.offset, c.offset) << "input: " << testing::PrintToString(c.text);
    EXPECT_EQ(ref_valid(c.text), false) << testing::PrintToString(c.text);
  }
}

TEST(JsonValidate, AcceptsEdgeCases) {
  const std::vector<std::string> ok = {
      "0", "-0", "-0.0e-0", "1E+400", "123456789012345678901234567890", "\"\"", "true", " null ",
      "[]", "{}", "[[],{}]", "{\"\":\"\"}", "{\"a\":1,\"a\":2}",
      "\"\\u0000\"", "\"\\uD83D\\uDE00\"", "\"\\uFFFF\"", "\"\\/\\\\\\\"\\b\\f\\n\\r\\t\"",
      "\"\xF0\x9F\x98\x80\"", "\"\xEF\xBF\xBF\"", "\"\xF4\x8F\xBF\xBF\"", "\"\x7F\"",
      " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n} \t\r\n",
  };
  for (const std::string& s : ok) {
    const auto r = validate_exact(s);
    EXPECT_EQ(r.error, json::Error::kNone) << testing::PrintToString(s) << ": " << json::error_message(r.error);
    EXPECT_TRUE(ref_valid(s)) << s;
  }
}

TEST(JsonValidate, DepthLimitBoundary) {
  for (const char* pair : {"[]", "{}"}) {
    for (size_t depth : {json::kMaxDepth - 1, json::kMaxDepth, json::kMaxDepth + 1}) {
      std::string s;
      for (size_t d = 0; d < depth; ++d) s += pair[0] == '[' ? "[" : (d + 1 < depth ? "{\"k\":" : "{");
      if (pair[0] == '{') {
        s.pop_back();
        s += "{";
      }
      for (size_t d = 0; d < depth; ++d) s += pair[1];
      const auto r = validate_exact(s);
      if (depth <= json::kMaxDepth) {
        EXPECT_EQ(r.error, json::Error::kNone) << pair << " depth " << depth;
      } else {
        EXPECT_EQ(r.error, json::Error::kTooDeep) << pair << " depth " << depth;
      }
      EXPECT_EQ(r.error == json::Error::kNone, ref_valid(s));
    }
  }
}

TEST(JsonValidate, ErrorMessagesAreDistinct) {
  std::set<std::string> seen;
  for (int e = 0; e <= static_cast<int>(json::Error::kByteOrderMark); ++e) {
    const char* msg = json::error_message(static_cast<json::Error>(e));
    ASSERT_NE(msg, nullptr);
    EXPECT_TRUE(seen.insert(msg).second) << msg;
  }
}

// ------------------------------------------------------------ differential random test

namespace {

std::string random_string_token(std::mt19937& rng) {
  static const std::vector<std::string> parts = {
      "a", "Z", " ", "\\\"", "\\\\", "\\/", "\\n", "\\u0041", "\\u00e9", "\\uD83D\\uDE00", "\xC3\xA9",
      "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "{", "]", ":", ",", "\\u0000"};
  std::string s = "\"";
  const int n = rng() % 5;
  for (int i = 0; i < n; ++i) s += parts[rng() % parts.size()];
  return s + "\"";
}

void random_value(std::mt19937& rng, int depth, std::string& out) {
  static const std::vector<std::string> scalars = {
      "0", "-1", "3.25", "1e10", "-0.5E-3", "true", "false", "null", "12345678901234567890"};
  const int pick = depth > 6 ? rng() % 2 : rng() % 4;
  auto ws = [&] {
    static const char* w[] = {"", "", " ", "\n", "\t", "\r\n "};
    out += w[rng() % 6];
  };
  ws();
  if (pick == 0) {
    out += scalars[rng() % scalars.size()];
  } else if (pick == 1) {
    out += random_string_token(rng);
  } else if (pick == 2) {
    out += '[';
    const int n = rng() % 4;
    for (int i = 0; i < n; ++i) {
      if (i) out += ',';
      random_value(rng, depth + 1, out);
    }
    ws();
    out += ']';
  } else {
    out += '{';
    const int n = rng() % 4;
    for (int i = 0; i < n; ++i) {
      if (i) out += ',';
      ws();
      out += random_string_token(rng);
      ws();
      out += ':';
      random_value(rng, depth + 1, out);
    }
    ws();
    out += '}';
  }
  ws();
}

void mutate(std::mt19937& rng, std::string& s) {
  static const char kBase[] = "{}[]\":,\\ u0123456789abcdefDEe+-.tnrfl\t\n\x01\x7F";
  static const std::string alphabet = std::string(kBase, sizeof kBase - 1) +
                                      "\xC3\xA9\xED\xA0\x80\xF4\x90\xC0\xFF\xEF\xBB\xBF" + std::string(1, '\0');
  const int edits = 1 + rng() % 3;
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    const char c = alphabet[rng() % alphabet.size()];
    switch (rng() % 3) {
      case 0: s.insert(s.begin() + pos, c); break;
      case 1: if (pos < s.size()) s.erase(pos, 1); break;
      default: if (pos < s.size()) s[pos] = c; break;
    }
  }
}

}  // namespace

TEST(JsonValidate, DifferentialAgainstReference) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("DifferentialAgainstReference seed %u\n", seed);
  std::mt19937 rng(seed);
  size_t valid = 0, invalid = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    random_value(rng, 0, s);
    ASSERT_EQ(validate_exact(s).error, json::Error::kNone) << testing::PrintToString(s);
    ASSERT_TRUE(ref_valid(s)) << testing::PrintToString(s);
    mutate(rng, s);
    const auto r = validate_exact(s);
    const bool ours = r.error == json::Error::kNone;
    ASSERT_EQ(ours, ref_valid(s)) << testing::PrintToString(s) << " ours: " << json::error_message(r.error);
    ASSERT_LE(r.offset, s.size());
    (ours ? valid : invalid)++;
  }
  // Mutations must exercise both verdicts, or the test is not testing anything.
  EXPECT_GT(valid, 1000u);
  EXPECT_GT(invalid, 1000u);
}

// ------------------------------------------------------------ ObjectIter / find

namespace {
std::vector<std::pair<std::string, std::string>> members(std::string_view text, bool* ok) {
  std::vector<std::pair<std::string, std::string>> out;
  json::ObjectIter it(text);
  json::Member m;
  while (it.next(m)) out.emplace_back(std::string(m.raw_key), std::string(m.raw_value));
  *ok = it.ok();
  return out;
}
}  // namespace

TEST(JsonObjectIter, MembersAsRawSpans) {
  const std::string doc =
      " \r\n{ \"a\" : 1 ,\t\"b\\u0041\":{\"x\":[1,\"]}\",{\"y\":\"\\\"}\"}]}, \"c\":\"s,}\"\n,\"d\" :true,"
      "\"e\":-1.5e+3,\"f\":null,\"g\":[],\"a\":false } \n";
  ASSERT_EQ(validate_exact(doc).error, json::Error::kNone);
  Exact exact(doc);
  bool ok = false;
  const auto got = members(exact.view(), &ok);
  EXPECT_TRUE(ok);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"\"a\"", "1"},
      {"\"b\\u0041\"", "{\"x\":[1,\"]}\",{\"y\":\"\\\"}\"}]}"},
      {"\"c\"", "\"s,}\""},
      {"\"d\"", "true"},
      {"\"e\"", "-1.5e+3"},
      {"\"f\"", "null"},
      {"\"g\"", "[]"},
      {"\"a\"", "false"},
  };
  EXPECT_EQ(got, want);
  for (const auto& [k, v] : got) EXPECT_EQ(validate_exact(v).error, json::Error::kNone) << v;
  // Spans point into the input: no copies.
  json::ObjectIter it(exact.view());
  json::Member m;
  ASSERT_TRUE(it.next(m));
  EXPECT_GE(m.raw_key.data(), exact.view().data());
  EXPECT_LT(m.raw_value.data(), exact.view().data() + exact.size);

  EXPECT_EQ(json::find(exact.view(), "a"), std::optional<std::string_view>("false"));  // last wins
  EXPECT_EQ(json::find(exact.view(), "bA"), std::optional<std::string_view>(want[1].second));
  EXPECT_EQ(json::find(exact.view(), "b\\u0041"), std::nullopt);  // keys compare decoded
  EXPECT_EQ(json::find(exact.view(), "x"), std::nullopt);         // nested keys are not members
  EXPECT_EQ(json::find(exact.view(), "y"), std::nullopt);
  EXPECT_EQ(json::find(exact.view(), ""), std::nullopt);
}

TEST(JsonObjectIter, EmptyAndNonObjects) {
  bool ok = false;
  EXPECT_TRUE(members("{}", &ok).empty());
  EXPECT_TRUE(ok);
  EXPECT_TRUE(members(" {\n} ", &ok).empty());
  EXPECT_TRUE(ok);
  for (const char* s : {"", " ", "[]", "[{\"a\":1}]", "\"{}\"", "1", "null", "{", "{\"a\"", "{\"a\":",
                        "{\"a\":1", "{\"a\":1,", "{\"a\":1} x", "{} {}", "{\"a\":1 \"b\":2}", "{1:2}",
                        "{\"a\\\"}", "{\"a\":[1}"}) {
    Exact e(s);
    members(e.view(), &ok);
    EXPECT_FALSE(ok) << s;
    EXPECT_EQ(json::find(e.view(), "a"), std::nullopt) << s;
  }
}

TEST(JsonObjectIter, CorpusObjectsIterateToValidValues) {
  size_t objects = 0;
  for (const fs::path& p : files_in("test_parsing")) {
    const std::string text = read_binary(p);
    if (json::validate(text).error != json::Error::kNone) continue;
    Exact e(text);
    json::ObjectIter it(e.view());
    json::Member m;
    size_t n = 0;
    while (it.next(m)) {
      ++n;
      EXPECT_EQ(validate_exact(m.raw_key).error, json::Error::kNone) << p.filename();
      EXPECT_EQ(validate_exact(m.raw_value).error, json::Error::kNone) << p.filename();
      std::vector<char> buf(m.raw_key.size());
      EXPECT_GE(json::decode_string(m.raw_key, buf.data(), buf.size()), 0) << p.filename();
    }
    if (it.ok()) {
      ++objects;
    } else {
      EXPECT_EQ(n, 0u) << p.filename();
      EXPECT_NE(json::kind_of(text), json::Kind::kObject) << p.filename();
    }
  }
  EXPECT_GT(objects, 10u);
}

// ------------------------------------------------------------ key_equals / decode_string / kind_of

TEST(JsonStrings, KeyEquals) {
  EXPECT_TRUE(json::key_equals("\"\"", ""));
  EXPECT_TRUE(json::key_equals("\"abc\"", "abc"));
  EXPECT_FALSE(json::key_equals("\"abc\"", "ab"));
  EXPECT_FALSE(json::key_equals("\"ab\"", "abc"));
  EXPECT_FALSE(json::key_equals("\"abc\"", "abd"));
  EXPECT_TRUE(json::key_equals("\"\\u0041\\u0062c\"", "Abc"));
  EXPECT_TRUE(json::key_equals("\"a\\/b\"", "a/b"));
  EXPECT_TRUE(json::key_equals("\"\\\"q\\\\\"", "\"q\\"));
  EXPECT_TRUE(json::key_equals("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t"));
  EXPECT_TRUE(json::key_equals("\"\\u00e9\"", "\xC3\xA9"));
  EXPECT_TRUE(json::key_equals("\"\xC3\xA9\"", "\xC3\xA9"));
  EXPECT_TRUE(json::key_equals("\"\\u20AC\"", "\xE2\x82\xAC"));
  EXPECT_TRUE(json::key_equals("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80"));
  EXPECT_TRUE(json::key_equals("\"\\ud83d\\ude00x\"", "\xF0\x9F\x98\x80x"));
  EXPECT_TRUE(json::key_equals("\"\\u0000\"", std::string_view("\0", 1)));
  EXPECT_FALSE(json::key_equals("\"\\u0000\"", ""));
  // Malformed tokens equal nothing.
  for (const char* bad : {"", "\"", "abc", "\"abc", "abc\"", "\"\\\"", "\"a\"b\"", "\"\\uD83D\"",
                          "\"\\uDE00\"", "\"\\x41\"", "\"\\u004\"", "\"\x01\"", "\"\xC3\"", "\"\xED\xA0\x80\""}) {
    Exact e(bad);
    EXPECT_FALSE(json::key_equals(e.view(), "")) << bad;
    EXPECT_FALSE(json::key_equals(e.view(), "abc")) << bad;
    EXPECT_FALSE(json::key_equals(e.view(), "\"")) << bad;
    EXPECT_FALSE(json::key_equals(e.view(), "A")) << bad;
    char out[32];
    EXPECT_EQ(json::decode_string(e.view(), out, sizeof out), -1) << bad;
  }
  // Prefix / extension of multi-byte characters.
  EXPECT_FALSE(json::key_equals("\"\\u00e9\"", "\xC3"));
  EXPECT_FALSE(json::key_equals("\"\\u00e9\"", "\xC3\xA9\xA9"));
}

TEST(JsonStrings, DecodeString) {
  char out[64];
  auto dec = [&](std::string_view raw, size_t cap = 64) -> std::string {
    Exact e(raw);
    const long n = json::decode_string(e.view(), out, cap);
    return n < 0 ? std::string("<error>") : std::string(out, static_cast<size_t>(n));
  };
  EXPECT_EQ(dec("\"\""), "");
  EXPECT_EQ(dec("\"plain\""), "plain");
  EXPECT_EQ(dec("\"a\\\"b\\\\c\\/d\""), "a\"b\\c/d");
  EXPECT_EQ(dec("\"\\u0041\\u00E9\\u20ac\\uD834\\uDD1E\""), "A\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E");
  EXPECT_EQ(dec("\"\\uDBFF\\uDFFF\""), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(dec("\"\\uD800\\uDC00\""), "\xF0\x90\x80\x80");
  EXPECT_EQ(dec("\"\\u07FF\\u0800\\uFFFF\""), "\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF");
  EXPECT_EQ(dec("\"\\u0000x\""), std::string("\0x", 2));
  // Capacity: exact fits, one less fails (also mid multi-byte character).
  EXPECT_EQ(dec("\"abc\"", 3), "abc");
  EXPECT_EQ(dec("\"abc\"", 2), "<error>");
  EXPECT_EQ(dec("\"a\\u20ac\"", 4), "a\xE2\x82\xAC");
  EXPECT_EQ(dec("\"a\\u20ac\"", 3), "<error>");
  EXPECT_EQ(dec("\"\"", 0), "");
  EXPECT_EQ(json::decode_string("\"x\"", nullptr, 0), -1);
  // Round trip with validate on every y_ string file's first string token.
  for (const fs::path& p : files_in("test_parsing")) {
    const std::string name = p.filename().string();
    if (name.rfind("y_string_", 0) != 0) continue;
    const std::string text = read_binary(p);  // ["…"]
    const size_t b = text.find('"');
    const size_t e = text.rfind('"');
    ASSERT_NE(b, e) << name;
    std::vector<char> buf(e - b + 1);
    Exact raw(std::string_view(text).substr(b, e - b + 1));
    EXPECT_GE(json::decode_string(raw.view(), buf.data(), buf.size()), 0) << name;
  }
}

TEST(JsonStrings, KindOf) {
  using K = json::Kind;
  EXPECT_EQ(json::kind_of("{}"), K::kObject);
  EXPECT_EQ(json::kind_of(" {\"a\":1} "), K::kObject);
  EXPECT_EQ(json::kind_of("[1]"), K::kArray);
  EXPECT_EQ(json::kind_of("\"s\""), K::kString);
  EXPECT_EQ(json::kind_of("-1"), K::kNumber);
  EXPECT_EQ(json::kind_of("0.5"), K::kNumber);
  EXPECT_EQ(json::kind_of("true"), K::kTrue);
  EXPECT_EQ(json::kind_of("\ttrue\n"), K::kTrue);
  EXPECT_EQ(json::kind_of("false"), K::kFalse);
  EXPECT_EQ(json::kind_of("null"), K::kNull);
  EXPECT_EQ(json::kind_of(""), K::kInvalid);
  EXPECT_EQ(json::kind_of("   "), K::kInvalid);
  EXPECT_EQ(json::kind_of("tru"), K::kInvalid);
  EXPECT_EQ(json::kind_of("truee"), K::kInvalid);
  EXPECT_EQ(json::kind_of("True"), K::kInvalid);
  EXPECT_EQ(json::kind_of("nul"), K::kInvalid);
  EXPECT_EQ(json::kind_of("x"), K::kInvalid);
}

// The worst shapes of the 4 MiB configuration limit (docs/json.md, "Cost",
// has their times): each validates to the right verdict in one pass, and the
// same text with one byte broken at its end is refused at that byte, so the
// whole input was read (no shortcut, no rescan).
TEST(JsonValidate, WorstShapesAtTheConfigurationLimit) {
  const size_t n = 4u << 20;
  std::string deep_unit;
  for (size_t i = 0; i + 1 < json::kMaxDepth; ++i) deep_unit += "[";
  for (size_t i = 0; i + 1 < json::kMaxDepth; ++i) deep_unit += "]";
  struct Shape {
    const char* name;
    std::string open, unit, close;
  } shapes[] = {
      {"surrogate pairs", "\"", "\\ud83d\\ude00", "\""},
      {"numbers", "[", "-1.5e+300,", "0]"},
      {"127-deep arrays", "[", deep_unit + ",", "0]"},
      {"small members", "{", "\"k\":{},", "\"z\":0}"},
      {"3-byte UTF-8", "\"", "\xe2\x82\xac", "\""},
  };
  for (const Shape& s : shapes) {
    std::string text = s.open;
    while (text.size() + s.unit.size() + s.close.size() < n) text += s.unit;
    text += s.close;
    EXPECT_EQ(json::validate(text).error, json::Error::kNone) << s.name;
    std::string broken = text;
    broken[broken.size() - s.close.size() - 1] = '\x01';  // a control byte just before the closing part
    const json::ValidateResult r = json::validate(broken);
    EXPECT_NE(r.error, json::Error::kNone) << s.name;
    EXPECT_GE(r.offset, broken.size() - s.close.size() - s.unit.size() - 1) << s.name;
  }
}
