// text: the one home of the small byte-string helpers every layer uses: ASCII case, digits, hex,
// decimal parsing, trimming, slicing and percent-decoding.
//
// Owns: pure functions over std::string_view and caller-provided buffers; no allocation, no locale
// (bytes >= 0x80 are never letters or digits, whatever LC_CTYPE says). Knows nothing of protocols:
// what counts as whitespace or which escapes are legal is the caller's choice of function or set.
//
// Contracts, the same in every module:
// - slice(s, begin, end) is the half-open range [begin, end) of s; the caller guarantees
//   begin <= end <= s.size() (no clamping, unlike substr).
// - parse_* take decimal digits only (no sign, no spaces, no "0x"), refuse an empty string and
//   overflow, and write *out only on success.
// - hex_value is -1 for a byte that is not a hex digit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::text {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }

constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// Digits for percent-encoding (RFC 3986 §2.1 recommends upper case) and for hex dumps of digests.
inline constexpr char kHexUpper[] = "0123456789ABCDEF";
inline constexpr char kHexLower[] = "0123456789abcdef";

// ASCII case-insensitive comparisons (header names, DNS names, setting values).
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
bool iends_with(std::string_view s, std::string_view suffix);

constexpr std::string_view slice(std::string_view s, size_t begin, size_t end) {
  return std::string_view(s.data() + begin, end - begin);
}

// Sets of bytes to trim: optional whitespace of HTTP (RFC 9110 §5.6.3: SP / HTAB), and JSON's
// insignificant whitespace (RFC 8259 §2: SP / HTAB / LF / CR).
inline constexpr std::string_view kOws = " \t";
inline constexpr std::string_view kJsonSpace = " \t\n\r";
// s without leading and trailing bytes that are in set.
std::string_view trim(std::string_view s, std::string_view set = kOws);

// Decimal digits only, overflow-checked; empty -> false.
bool parse_u64(std::string_view s, uint64_t* out);
// As parse_u64, and the value must be <= max.
bool parse_uint(std::string_view s, uint64_t max, uint64_t* out);

// RFC 3986 §2.1: "%XX" -> the byte, every other byte as it is ('+' stays '+'). Appends to out at
// *len (out has room for cap bytes in all); false on a malformed escape ('%' not followed by two hex
// digits) or when out is full. *len counts the bytes written, also on failure.
bool percent_decode(std::string_view in, char* out, size_t cap, size_t* len);

// Writes s as it appears in a message: in double quotes, with control bytes, '"' and '\\' as \\xhh
// (a logged message never carries a raw newline or escape sequence), cut after max_shown bytes of s
// with "..." after the closing quote (what is quoted is exactly what s holds). NUL-terminated within cap; returns the length written.
// out needs max_shown * 4 + 6 bytes to hold the longest form.
size_t quote(char* out, size_t cap, std::string_view s, size_t max_shown);

}  // namespace appconfig::text
