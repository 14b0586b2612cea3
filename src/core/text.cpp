// text — see include/appconfig/core/text.h.
#include "appconfig/core/text.h"

namespace appconfig::text {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

namespace {
// A loop over the (two to four) bytes of a set: cheaper than string_view::find's call per byte on
// the per-read Context path.
bool in_set(char c, std::string_view set) {
  for (char x : set)
    if (x == c) return true;
  return false;
}
}  // namespace

std::string_view trim(std::string_view s, std::string_view set) {
  while (!s.empty() && in_set(s.front(), set)) s.remove_prefix(1);
  while (!s.empty() && in_set(s.back(), set)) s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, uint64_t* out) { return parse_uint(s, UINT64_MAX, out); }

bool parse_uint(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (d > max || v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool percent_decode(std::string_view in, char* out, size_t cap, size_t* len) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return false;  // fewer than two characters follow
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>((hi << 4) | lo);
      i += 2;
    }
    if (*len >= cap) return false;
    out[(*len)++] = c;
  }
  return true;
}

size_t quote(char* out, size_t cap, std::string_view s, size_t max_shown) {
  size_t n = 0;
  auto put = [&](char c) {
    if (n + 1 < cap) out[n++] = c;
  };
  put('"');
  const size_t shown = s.size() > max_shown ? max_shown : s.size();
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      put('\\');
      put('x');
      put(kHexLower[c >> 4]);
      put(kHexLower[c & 15]);
    } else {
      put(static_cast<char>(c));
    }
  }
  put('"');
  if (shown < s.size()) {
    put('.');
    put('.');
    put('.');
  }
  if (cap > 0) out[n] = '\0';
  return n;
}

}  // namespace appconfig::text
