// core/text, core/calendar and core/error: the one home of the small helpers every layer uses.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "appconfig/core/calendar.h"
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"

namespace appconfig {
namespace {

TEST(Text, CaseIsAsciiOnly) {
  EXPECT_EQ(text::lower('A'), 'a');
  EXPECT_EQ(text::lower('z'), 'z');
  EXPECT_EQ(text::lower('\xC4'), '\xC4');  // no locale: bytes >= 0x80 are never letters
  EXPECT_TRUE(text::iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(text::iequals("abc", "abcd"));
  EXPECT_FALSE(text::iequals("\xC4", "\xE4"));
  EXPECT_TRUE(text::istarts_with("HTTPS_PROXY", "https_"));
  EXPECT_TRUE(text::iends_with("api.EXAMPLE.com", ".example.COM"));
  EXPECT_FALSE(text::iends_with("com", ".com"));
  EXPECT_TRUE(text::is_alnum('7') && text::is_alpha('x') && !text::is_alpha('_') && !text::is_digit('a'));
}

TEST(Text, HexDigits) {
  EXPECT_EQ(text::hex_value('0'), 0);
  EXPECT_EQ(text::hex_value('f'), 15);
  EXPECT_EQ(text::hex_value('F'), 15);
  EXPECT_EQ(text::hex_value('g'), -1);
  EXPECT_EQ(text::hex_value('\0'), -1);
  EXPECT_EQ(text::kHexUpper[10], 'A');
  EXPECT_EQ(text::kHexLower[10], 'a');
}

TEST(Text, SliceIsHalfOpenBeginEnd) {
  std::string_view s = "abcdef";
  EXPECT_EQ(text::slice(s, 1, 4), "bcd");
  EXPECT_EQ(text::slice(s, 3, 3), "");
  EXPECT_EQ(text::slice(s, 0, 6), s);
}

TEST(Text, TrimUsesTheGivenSet) {
  EXPECT_EQ(text::trim(" \t a b \t "), "a b");
  EXPECT_EQ(text::trim("\r\n x \n", text::kJsonSpace), "x");
  EXPECT_EQ(text::trim("\r x \r"), "\r x \r");  // OWS is SP / HTAB only
  EXPECT_EQ(text::trim("   "), "");
  EXPECT_EQ(text::trim(""), "");
  EXPECT_EQ(text::trim("xxaxx", "x"), "a");
}

TEST(Text, DecimalIsDigitsOnlyAndOverflowChecked) {
  uint64_t v = 7;
  EXPECT_TRUE(text::parse_u64("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  v = 7;
  EXPECT_FALSE(text::parse_u64("18446744073709551616", &v));
  EXPECT_FALSE(text::parse_u64("", &v));
  EXPECT_FALSE(text::parse_u64("+1", &v));
  EXPECT_FALSE(text::parse_u64(" 1", &v));
  EXPECT_FALSE(text::parse_u64("0x10", &v));
  EXPECT_EQ(v, 7u);  // untouched on failure
  EXPECT_TRUE(text::parse_uint("65535", 65535, &v));
  EXPECT_EQ(v, 65535u);
  EXPECT_FALSE(text::parse_uint("65536", 65535, &v));
  EXPECT_FALSE(text::parse_uint("7", 5, &v));  // a digit above a small maximum
  EXPECT_TRUE(text::parse_uint("0005", 5, &v));
  EXPECT_EQ(v, 5u);
}

TEST(Text, PercentDecodeAppendsAndRefusesMalformedEscapes) {
  char out[16];
  size_t len = 0;
  ASSERT_TRUE(text::percent_decode("a%2Fb+%41", out, sizeof out, &len));
  EXPECT_EQ(std::string(out, len), "a/b+A");
  ASSERT_TRUE(text::percent_decode("%7e", out, sizeof out, &len));  // appends
  EXPECT_EQ(std::string(out, len), "a/b+A~");
  len = 0;
  EXPECT_FALSE(text::percent_decode("%4", out, sizeof out, &len));
  len = 0;
  EXPECT_FALSE(text::percent_decode("%G1", out, sizeof out, &len));
  len = 0;
  EXPECT_FALSE(text::percent_decode("abcd", out, 3, &len));  // out full
  EXPECT_EQ(len, 3u);
}

TEST(Text, QuoteEscapesControlBytesAndCuts) {
  char out[64];
  const size_t n = text::quote(out, sizeof out, "a\nb\"c\\\x7f", 120);
  EXPECT_EQ(n, strlen(out));
  EXPECT_STREQ(out, "\"a\\x0ab\\x22c\\x5c\\x7f\"");
  text::quote(out, sizeof out, "abcdef", 3);
  EXPECT_STREQ(out, "\"abc\"...");
  char tiny[4];
  text::quote(tiny, sizeof tiny, "abcdef", 120);
  EXPECT_STREQ(tiny, "\"ab");  // cut at the buffer, NUL-terminated
}

TEST(Calendar, DaysFromCivil) {
  EXPECT_EQ(calendar::days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(calendar::days_from_civil(2026, 12, 4), 20791);
  EXPECT_EQ(calendar::days_from_civil(1, 1, 1), -719162);
  EXPECT_EQ(calendar::days_from_civil(0, 3, 1), -719468);
  // Consecutive days across every month end of a leap and a common year.
  for (int64_t y : {1900, 2000, 2023, 2024}) {
    for (unsigned m = 1; m <= 12; ++m) {
      const unsigned last = calendar::days_in_month(y, m);
      const int64_t next = m == 12 ? calendar::days_from_civil(y + 1, 1, 1) : calendar::days_from_civil(y, m + 1, 1);
      EXPECT_EQ(calendar::days_from_civil(y, m, last) + 1, next) << y << "-" << m;
    }
  }
  EXPECT_EQ(calendar::days_in_month(2023, 13), 0u);
  EXPECT_TRUE(calendar::is_leap_year(2000));
  EXPECT_FALSE(calendar::is_leap_year(2100));
}

TEST(Error, FailFormatsTruncatesAndReturnsFalse) {
  char buf[16];
  EXPECT_FALSE(error::fail(buf, sizeof buf, "region %s is %d characters long", "eu-west-1", 9));
  EXPECT_STREQ(buf, "region eu-west-");  // cut at the buffer, NUL-terminated
  EXPECT_FALSE(error::fail(nullptr, 0, "ignored %d", 1));
  char small[1] = {'x'};
  EXPECT_FALSE(error::fail(small, 0, "nothing written"));
  EXPECT_EQ(small[0], 'x');
}

TEST(Error, AppendAddsAfterAPrefix) {
  char buf[32];
  error::fail(buf, sizeof buf, "manifest key %s: ", "A:E:P");
  EXPECT_FALSE(error::append(buf, sizeof buf, "bad %s", "writeTo"));
  EXPECT_STREQ(buf, "manifest key A:E:P: bad writeTo");
  error::append(buf, sizeof buf, " and more than fits");
  EXPECT_EQ(strlen(buf), sizeof buf - 1);
}

}  // namespace
}  // namespace appconfig
