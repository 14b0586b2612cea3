// Tests for appconfig::flags: is_flag_document and the ?flag= filter. Every
// multi-key answer is checked to be valid JSON and compared byte for byte to
// an expected string; a randomized test writes document keys in randomly
// escaped spellings and compares against a model built from plain maps.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/flags/flags.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "appconfig/formats/json.h"

namespace flags = appconfig::flags;
namespace json = appconfig::json;

namespace {

struct Result {
  flags::FilterError error;
  std::string body;
  size_t bad_index = SIZE_MAX;
  size_t pieces = 0;
};

// Runs filter() with a generous scratch and joins the pieces as writev would.
Result run(std::string_view doc, const std::vector<std::string>& key_strings, size_t scratch_cap = 4096) {
  std::vector<std::string_view> keys(key_strings.begin(), key_strings.end());
  std::vector<char> scratch(scratch_cap ? scratch_cap : 1);
  flags::Filtered out;
  Result r;
  r.error = flags::filter(doc, keys, scratch.data(), scratch_cap, out, &r.bad_index);
  if (r.error == flags::FilterError::kNone) {
    size_t total = 0;
    for (size_t i = 0; i < out.num_pieces; ++i) {
      r.body.append(out.pieces[i].data, out.pieces[i].len);
      total += out.pieces[i].len;
    }
    EXPECT_EQ(total, out.total_bytes);
    r.pieces = out.num_pieces;
  }
  return r;
}

const std::string kDoc = R"( {
  "dark_mode" : { "enabled" : true, "theme": "night", "levels": [1, 2, {"x": "}"}] },
  "beta":{"enabled":false},
  "price_test": {"enabled": true, "discount": 0.15, "currency": "EUR"},
  "a\/b": {"enabled": true, "slash": 1},
  "\u00e9t\u00E9": {"enabled": false},
  "q\"uote\\": {"enabled": true},
  "emoji\ud83d\ude00": {"enabled": true, "n": -1e400},
  "dup": {"enabled": false, "v": 1},
  "dup": {"enabled": true, "v": 2}
} )";

}  // namespace

TEST(FlagsDocument, Recognises) {
  EXPECT_TRUE(flags::is_flag_document(kDoc));
  EXPECT_TRUE(flags::is_flag_document("{}"));
  EXPECT_TRUE(flags::is_flag_document(" \n{ } \n"));
  EXPECT_TRUE(flags::is_flag_document(R"({"a":{"enabled":true}})"));
  EXPECT_TRUE(flags::is_flag_document(R"({"a":{"x":1,"enabled":false,"y":{"z":[]}}})"));
  EXPECT_TRUE(flags::is_flag_document(R"({"a":{"en\u0061bled":true}})"));  // escaped key
  EXPECT_TRUE(flags::is_flag_document(R"({"a":{"enabled":1,"enabled":true}})"));  // last wins
  EXPECT_TRUE(flags::is_flag_document(R"({"a":{"enabled":true},"a":{"enabled":false}})"));
  EXPECT_TRUE(flags::is_flag_document(" {\t\"a\"\r\n:\n{\t\"enabled\"\n:\rtrue\n}\n}\n"));
}

TEST(FlagsDocument, Rejects) {
  for (const char* s : {
           "", "   ", "[]", "null", "true", "\"{}\"", "1", "[{\"a\":{\"enabled\":true}}]",
           R"({"a":{}})",
           R"({"a":[]})",
           R"({"a":true})",
           R"({"a":null})",
           R"({"a":{"enabled":"true"}})",
           R"({"a":{"enabled":1}})",
           R"({"a":{"enabled":null}})",
           R"({"a":{"Enabled":true}})",
           R"({"a":{"enabled ":true}})",
           R"({"a":{"x":{"enabled":true}}})",  // nested does not count
           R"({"a":{"enabled":true,"enabled":null}})",  // last duplicate wins
           R"({"a":{"enabled":true},"b":1})",
           R"({"a":{"enabled":true},"b":{"enabled":false},"c":{}})",
           R"({"a":{"enabled":true}} x)",  // trailing data: not valid JSON
           R"({"a":{"enabled":true},})",
           R"({"a":{"enabled":tru}})",
           "\xEF\xBB\xBF{}",  // BOM
           "{\"a\xC3\":{\"enabled\":true}}",  // bad UTF-8 in a key
       }) {
    EXPECT_FALSE(flags::is_flag_document(s)) << s;
  }
}

TEST(FlagsFilter, OneKeyGivesTheRawValue) {
  Result r = run(kDoc, {"dark_mode"});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(r.body, R"({ "enabled" : true, "theme": "night", "levels": [1, 2, {"x": "}"}] })");
  EXPECT_EQ(r.pieces, 1u);
  r = run(kDoc, {"beta"});
  EXPECT_EQ(r.body, R"({"enabled":false})");
  r = run(kDoc, {"emoji\xF0\x9F\x98\x80"});
  EXPECT_EQ(r.body, R"({"enabled": true, "n": -1e400})");  // number bytes untouched
  // The piece points into the document itself: no copy.
  std::vector<std::string_view> keys = {"beta"};
  flags::Filtered out;
  ASSERT_EQ(flags::filter(kDoc, keys, nullptr, 0, out, nullptr), flags::FilterError::kNone);
  ASSERT_EQ(out.num_pieces, 1u);
  EXPECT_GE(out.pieces[0].data, kDoc.data());
  EXPECT_LE(out.pieces[0].data + out.pieces[0].len, kDoc.data() + kDoc.size());
}

TEST(FlagsFilter, SeveralKeysInQueryOrder) {
  Result r = run(kDoc, {"price_test", "beta", "dark_mode"});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  const std::string want =
      R"({"price_test":{"enabled": true, "discount": 0.15, "currency": "EUR"},"beta":{"enabled":false},)"
      R"("dark_mode":{ "enabled" : true, "theme": "night", "levels": [1, 2, {"x": "}"}] }})";
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(json::validate(r.body).error, json::Error::kNone);
  EXPECT_EQ(r.pieces, 2u * 3 + 1);
  EXPECT_TRUE(flags::is_flag_document(r.body));
}

TEST(FlagsFilter, RepeatedQueryKeysAppearOnce) {
  Result r = run(kDoc, {"beta", "dark_mode", "beta", "dark_mode", "beta"});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(r.body,
            R"({"beta":{"enabled":false},"dark_mode":{ "enabled" : true, "theme": "night", "levels": [1, 2, {"x": "}"}] }})");
  // One distinct key, repeated: the bare flag.
  r = run(kDoc, {"beta", "beta", "beta"});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(r.body, R"({"enabled":false})");
}

TEST(FlagsFilter, DuplicateDocumentKeysLastWins) {
  Result r = run(kDoc, {"dup"});
  EXPECT_EQ(r.body, R"({"enabled": true, "v": 2})");
  r = run(kDoc, {"beta", "dup"});
  EXPECT_EQ(r.body, R"({"beta":{"enabled":false},"dup":{"enabled": true, "v": 2}})");
}

TEST(FlagsFilter, EscapedKeysInDocumentAndOutput) {
  // Query keys are plain text; they match the decoded document keys.
  Result r = run(kDoc, {"a/b"});
  EXPECT_EQ(r.body, R"({"enabled": true, "slash": 1})");
  EXPECT_EQ(run(kDoc, {"a\\/b"}).error, flags::FilterError::kUnknownFlag);
  r = run(kDoc, {"\xC3\xA9t\xC3\xA9", "q\"uote\\", "a/b", "emoji\xF0\x9F\x98\x80"});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  const std::string want =
      "{\"\xC3\xA9t\xC3\xA9\":{\"enabled\": false},\"q\\\"uote\\\\\":{\"enabled\": true},"
      "\"a/b\":{\"enabled\": true, \"slash\": 1},\"emoji\xF0\x9F\x98\x80\":{\"enabled\": true, \"n\": -1e400}}";
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(json::validate(r.body).error, json::Error::kNone);
  // Control characters and NUL in keys are escaped in the output.
  const std::string doc = R"({"x\ny":{"enabled":true},"t\u0000\u001f":{"enabled":false}})";
  ASSERT_TRUE(flags::is_flag_document(doc));
  r = run(doc, {"x\ny", std::string("t\0\x1f", 3)});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(r.body, R"({"x\ny":{"enabled":true},"t\u0000\u001f":{"enabled":false}})");
  EXPECT_EQ(json::validate(r.body).error, json::Error::kNone);
  EXPECT_EQ(json::find(r.body, std::string("t\0\x1f", 3)), std::optional<std::string_view>(R"({"enabled":false})"));
}

TEST(FlagsFilter, UnknownKeys) {
  Result r = run(kDoc, {"nope"});
  EXPECT_EQ(r.error, flags::FilterError::kUnknownFlag);
  EXPECT_EQ(r.bad_index, 0u);
  r = run(kDoc, {"beta", "nope", "dark_mode", "also_nope"});
  EXPECT_EQ(r.error, flags::FilterError::kUnknownFlag);
  EXPECT_EQ(r.bad_index, 1u);
  r = run(kDoc, {"beta", "beta", "also_nope", "nope"});
  EXPECT_EQ(r.error, flags::FilterError::kUnknownFlag);
  EXPECT_EQ(r.bad_index, 2u);
  // Keys of nested objects are not flags.
  for (const char* k : {"enabled", "theme", "x", "v", "", "dark_mode ", "Beta", "e\xCC\x81t\xC3\xA9"}) {
    r = run(kDoc, {k});
    EXPECT_EQ(r.error, flags::FilterError::kUnknownFlag) << k;
    EXPECT_EQ(r.bad_index, 0u);
  }
  // bad_key_index may be null.
  std::vector<std::string_view> keys = {"nope"};
  flags::Filtered out;
  char scratch[64];
  EXPECT_EQ(flags::filter(kDoc, keys, scratch, sizeof scratch, out, nullptr), flags::FilterError::kUnknownFlag);
  // Every flag of the empty document is unknown.
  r = run("{}", {"a"});
  EXPECT_EQ(r.error, flags::FilterError::kUnknownFlag);
}

TEST(FlagsFilter, NoKeysGivesWholeDocument) {
  Result r = run(kDoc, {});
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(r.body, kDoc);
}

TEST(FlagsFilter, NotAFlagDocument) {
  for (const char* doc : {"[]", "\"x\"", "", "{", "[{\"beta\":{\"enabled\":true}}]"}) {
    EXPECT_EQ(run(doc, {"beta"}).error, flags::FilterError::kNotFlagDocument) << doc;
  }
  // A selected member that is not an object.
  EXPECT_EQ(run(R"({"beta":1,"a":{"enabled":true}})", {"beta"}).error, flags::FilterError::kNotFlagDocument);
  EXPECT_EQ(run(R"({"beta":1,"a":{"enabled":true}})", {"a", "beta"}).error, flags::FilterError::kNotFlagDocument);
}

TEST(FlagsFilter, KeyCountLimit) {
  std::string doc = "{";
  std::vector<std::string> keys;
  for (size_t i = 0; i <= flags::kMaxFlagKeys; ++i) {
    keys.push_back("f" + std::to_string(i));
    doc += (i ? "," : "") + std::string("\"") + keys.back() + "\":{\"enabled\":" + (i % 2 ? "true" : "false") + "}";
  }
  doc += "}";
  ASSERT_TRUE(flags::is_flag_document(doc));
  Result r = run(doc, keys);
  EXPECT_EQ(r.error, flags::FilterError::kTooManyKeys);
  keys.pop_back();
  ASSERT_EQ(keys.size(), flags::kMaxFlagKeys);
  r = run(doc, keys);
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(json::validate(r.body).error, json::Error::kNone);
  EXPECT_EQ(r.pieces, 2 * flags::kMaxFlagKeys + 1);
  EXPECT_LE(r.pieces, flags::kMaxPieces);
  // 32 + duplicates is over the limit even though only 32 are distinct: the
  // limit bounds the work on the raw query.
  keys.push_back("f0");
  EXPECT_EQ(run(doc, keys).error, flags::FilterError::kTooManyKeys);
}

TEST(FlagsFilter, ScratchCapacity) {
  std::vector<std::string> keys = {"beta", "q\"uote\\"};
  std::vector<std::string_view> views(keys.begin(), keys.end());
  const size_t needed = flags::scratch_bytes_needed(views);
  EXPECT_EQ(needed, (4 + 7) * 6 + 2 * 4);
  EXPECT_EQ(run(kDoc, keys, needed).error, flags::FilterError::kNone);
  EXPECT_EQ(run(kDoc, keys, needed - 1).error, flags::FilterError::kScratchTooSmall);
  EXPECT_EQ(run(kDoc, keys, 0).error, flags::FilterError::kScratchTooSmall);
  EXPECT_EQ(run(kDoc, {"beta"}, 0).error, flags::FilterError::kNone);  // one key needs none
  // Worst case (every byte a control character) fits in scratch_bytes_needed.
  const std::string ctrl(50, '\x01');
  std::string doc = "{\"";
  for (int i = 0; i < 50; ++i) doc += "\\u0001";
  doc += "\":{\"enabled\":true},\"b\":{\"enabled\":false}}";
  ASSERT_TRUE(flags::is_flag_document(doc));
  keys = {ctrl, "b"};
  views.assign(keys.begin(), keys.end());
  Result r = run(doc, keys, flags::scratch_bytes_needed(views));
  ASSERT_EQ(r.error, flags::FilterError::kNone);
  EXPECT_EQ(json::validate(r.body).error, json::Error::kNone);
  EXPECT_EQ(json::find(r.body, ctrl), std::optional<std::string_view>(R"({"enabled":true})"));
}

TEST(FlagsFilter, ErrorMessages) {
  for (int e = 0; e <= static_cast<int>(flags::FilterError::kScratchTooSmall); ++e) {
    const char* msg = flags::filter_error_message(static_cast<flags::FilterError>(e));
    ASSERT_NE(msg, nullptr);
    EXPECT_GT(std::strlen(msg), 1u);
  }
}

// Random flag documents whose keys are written in random spellings (raw UTF-8,
// \uXXXX, \/ and surrogate pairs), queried with random key lists, against a
// model built from the plain key -> value map.
TEST(FlagsFilter, RandomizedAgainstModel) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("RandomizedAgainstModel seed %u\n", seed);
  std::mt19937 rng(seed);
  const std::vector<std::string> alphabet = {"a", "b", "/", "\"", "\\", "\n", "\xC3\xA9", "\xF0\x9F\x98\x80", " ", "-"};
  auto spell = [&](const std::string& unit) -> std::string {
    // A random valid JSON spelling of one character.
    const unsigned char c = unit[0];
    const int pick = rng() % 3;
    if (unit == "\xF0\x9F\x98\x80") return pick == 0 ? unit : (pick == 1 ? "\\uD83D\\uDE00" : "\\ud83d\\ude00");
    if (unit == "\xC3\xA9") return pick == 0 ? unit : "\\u00e9";
    if (unit == "\"") return pick == 0 ? "\\\"" : "\\u0022";
    if (unit == "\\") return pick == 0 ? "\\\\" : "\\u005C";
    if (unit == "\n") return pick == 0 ? "\\n" : "\\u000a";
    if (unit == "/") return pick == 0 ? "/" : "\\/";
    if (pick == 2) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      return buf;
    }
    return unit;
  };
  auto model_escape = [](const std::string& k) {
    std::string o;
    for (unsigned char c : k) {
      if (c == '"' || c == '\\') { o += '\\'; o += static_cast<char>(c); }
      else if (c == '\n') o += "\\n";
      else o += static_cast<char>(c);
    }
    return o;
  };
  for (int round = 0; round < 2000; ++round) {
    std::map<std::string, std::string> model;
    std::string doc = "{";
    const int num_flags = rng() % 8;
    std::vector<std::string> names;
    for (int f = 0; f < num_flags; ++f) {
      std::string plain, raw;
      const int len = rng() % 4;
      for (int i = 0; i < len; ++i) {
        const std::string& u = alphabet[rng() % alphabet.size()];
        plain += u;
        raw += spell(u);
      }
      const std::string value = "{\"enabled\":" + std::string(rng() % 2 ? "true" : "false") +
                                ",\"n\":" + std::to_string(rng() % 1000) + "}";
      if (f) doc += rng() % 2 ? "," : " ,\n ";
      doc += "\"" + raw + "\"" + (rng() % 2 ? ":" : " : ") + value;
      model[plain] = value;  // later duplicates overwrite, like the reader
      names.push_back(plain);
    }
    doc += "}";
    ASSERT_TRUE(flags::is_flag_document(doc)) << doc;
    std::vector<std::string> query;
    const int num_keys = 1 + rng() % 5;
    for (int k = 0; k < num_keys; ++k) {
      if (!names.empty() && rng() % 8 != 0) query.push_back(names[rng() % names.size()]);
      else query.push_back("zz" + std::to_string(rng() % 3));
    }
    // Model answer.
    std::vector<std::string> distinct;
    size_t first_unknown = SIZE_MAX;
    for (size_t k = 0; k < query.size(); ++k) {
      if (std::find(distinct.begin(), distinct.end(), query[k]) != distinct.end()) continue;
      distinct.push_back(query[k]);
      if (!model.count(query[k]) && first_unknown == SIZE_MAX) first_unknown = k;
    }
    const Result r = run(doc, query);
    if (first_unknown != SIZE_MAX) {
      ASSERT_EQ(r.error, flags::FilterError::kUnknownFlag) << doc;
      ASSERT_EQ(r.bad_index, first_unknown) << doc;
      continue;
    }
    ASSERT_EQ(r.error, flags::FilterError::kNone) << doc;
    std::string want;
    if (distinct.size() == 1) {
      want = model[distinct[0]];
    } else {
      want = "{";
      for (size_t i = 0; i < distinct.size(); ++i) {
        want += (i ? ",\"" : "\"") + model_escape(distinct[i]) + "\":" + model[distinct[i]];
      }
      want += "}";
    }
    ASSERT_EQ(r.body, want) << doc;
    ASSERT_EQ(json::validate(r.body).error, json::Error::kNone) << r.body;
  }
}
