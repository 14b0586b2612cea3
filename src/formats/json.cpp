// json: strict RFC 8259 validation and raw-span access. See include/appconfig/formats/json.h.
#include "appconfig/formats/json.h"
#include "appconfig/core/text.h"
#include "appconfig/core/utf8.h"

#include <algorithm>
#include <cstring>

namespace appconfig::json {
namespace {

using Byte = unsigned char;

// RFC 8259 §2: only these four (text::kJsonSpace); form feed and NBSP are not whitespace.
constexpr bool is_ws(Byte c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

using text::hex_value;
using text::is_digit;

// Length of the well-formed UTF-8 sequence at p (1..4), or 0 when it is
// ill-formed or cut short (RFC 3629 §4, via utf8::decode).
size_t utf8_length(const Byte* p, const Byte* end) {
  uint32_t cp;
  return utf8::decode(p, static_cast<size_t>(end - p), 0, cp);
}

size_t encode_utf8(uint32_t cp, char* out) { return utf8::encode(cp, out); }

// Reads 4 hex digits at p into *v: kBadEscape at a non-hex byte, kTruncated
// when the input ends first (so "\u12" + '"' is a bad escape, "\u12" at
// the end of input a truncation).
Error hex4(const Byte* p, const Byte* end, uint32_t* v) {
  *v = 0;
  for (int i = 0; i < 4; ++i) {
    if (p + i == end) return Error::kTruncated;
    const int h = hex_value(p[i]);
    if (h < 0) return Error::kBadEscape;
    *v = (*v << 4) | static_cast<uint32_t>(h);
  }
  return Error::kNone;
}

// One unit of a string body starting at p (p < end, *p != '"'): a run of one
// UTF-8 character or one escape (a surrogate pair counts as one escape).
// On success sets *consumed (input bytes) and, when out != nullptr, writes the
// decoded UTF-8 bytes (1..4) to out and their count to *out_len.
// The one routine shared by validate(), key_equals() and decode_string(), so
// all three accept exactly the same strings.
Error decode_unit(const Byte* p, const Byte* end, size_t* consumed, char* out, size_t* out_len) {
  const Byte c = *p;
  if (c < 0x20) return Error::kControlInString;  // RFC 8259 §7: must be escaped
  if (c != '\\') {
    const size_t len = utf8_length(p, end);
    if (len == 0) return Error::kBadUtf8;
    if (out != nullptr) {
      std::memcpy(out, p, len);
      *out_len = len;
    }
    *consumed = len;
    return Error::kNone;
  }
  if (end - p < 2) return Error::kTruncated;
  char simple = 0;
  switch (p[1]) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '/': simple = '/'; break;
    case 'b': simple = '\b'; break;
    case 'f': simple = '\f'; break;
    case 'n': simple = '\n'; break;
    case 'r': simple = '\r'; break;
    case 't': simple = '\t'; break;
    case 'u': break;
    default: return Error::kBadEscape;
  }
  if (simple != 0) {
    if (out != nullptr) {
      out[0] = simple;
      *out_len = 1;
    }
    *consumed = 2;
    return Error::kNone;
  }
  uint32_t cp = 0;
  Error e = hex4(p + 2, end, &cp);
  if (e != Error::kNone) return e;
  size_t used = 6;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return Error::kLoneSurrogate;  // low without high
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    // RFC 8259 §7: a character outside the BMP is a UTF-16 surrogate pair.
    if (end - p < 8) return end - p == 6 || p[6] == '\\' ? Error::kTruncated : Error::kLoneSurrogate;
    if (p[6] != '\\' || p[7] != 'u') return Error::kLoneSurrogate;
    uint32_t low = 0;
    e = hex4(p + 8, end, &low);
    if (e != Error::kNone) return e;
    if (low < 0xDC00 || low > 0xDFFF) return Error::kLoneSurrogate;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    used = 12;
  }
  if (out != nullptr) *out_len = encode_utf8(cp, out);
  *consumed = used;
  return Error::kNone;
}

// Scans a string token whose opening quote is at text[pos]. On success sets
// *next to the index after the closing quote.
Error scan_string(const Byte* base, size_t size, size_t pos, size_t* next, size_t* err_at) {
  const Byte* end = base + size;
  const Byte* p = base + pos + 1;
  for (;;) {
    // Fast path over plain ASCII, the common case in configuration files.
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
    if (p == end) {
      *err_at = size;
      return Error::kTruncated;
    }
    if (*p == '"') {
      *next = static_cast<size_t>(p - base) + 1;
      return Error::kNone;
    }
    size_t consumed = 0;
    const Error e = decode_unit(p, end, &consumed, nullptr, nullptr);
    if (e != Error::kNone) {
      *err_at = static_cast<size_t>(p - base);
      return e;
    }
    p += consumed;
  }
}

// RFC 8259 §6: number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ).
Error scan_number(const Byte* base, size_t size, size_t pos, size_t* next, size_t* err_at) {
  size_t i = pos;
  if (base[i] == '-') ++i;
  if (i == size || !is_digit(base[i])) {
    *err_at = i;
    return Error::kBadNumber;
  }
  if (base[i] == '0') {
    ++i;
  } else {
    while (i < size && is_digit(base[i])) ++i;
  }
  if (i < size && base[i] == '.') {
    ++i;
    if (i == size || !is_digit(base[i])) {
      *err_at = i;
      return Error::kBadNumber;
    }
    while (i < size && is_digit(base[i])) ++i;
  }
  if (i < size && (base[i] == 'e' || base[i] == 'E')) {
    ++i;
    if (i < size && (base[i] == '+' || base[i] == '-')) ++i;
    if (i == size || !is_digit(base[i])) {
      *err_at = i;
      return Error::kBadNumber;
    }
    while (i < size && is_digit(base[i])) ++i;
  }
  // A number glued to more number-like bytes ("01", "1.2.3", "0x1", "1e5e")
  // is reported as a bad number rather than as a stray character.
  if (i < size) {
    const Byte c = base[i];
    if (is_digit(c) || c == '.' || c == '+' || c == '-' || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z')) {
      *err_at = i;
      return Error::kBadNumber;
    }
  }
  *next = i;
  return Error::kNone;
}

// Where the validator is in the grammar.
enum class Want : uint8_t {
  kValue,         // any value (after '[' + ',' or ':' or at the top)
  kValueOrClose,  // just after '[': a value or ']'
  kKeyOrClose,    // just after '{': a key or '}'
  kKey,           // after ',' in an object
  kColon,         // after a key
  kCommaOrClose,  // after a value inside a container
};

// An open container on the validator's stack (an enum, not a byte: stores to a byte array may
// alias anything, and would keep the validator's state out of registers).
enum class Open : uint8_t { kArray, kObject };

// Index of the first non-whitespace byte at or after i.
size_t skip_ws(std::string_view t, size_t i) {
  while (i < t.size() && is_ws(static_cast<Byte>(t[i]))) ++i;
  return i;
}

// Index just after the string token starting at t[i] == '"', or npos. Only
// escapes are honoured: the token is assumed validated.
size_t skip_string(std::string_view t, size_t i) {
  ++i;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '\\') {
      i += 2;
    } else if (c == '"') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return std::string_view::npos;
}

// Index just after the value starting at t[i], or npos. Containers are
// skipped by counting brackets outside strings (the text is validated, so
// the brackets match); scalars end at the next delimiter.
size_t skip_value(std::string_view t, size_t i) {
  if (i >= t.size()) return std::string_view::npos;
  const char first = t[i];
  if (first == '"') return skip_string(t, i);
  if (first == '{' || first == '[') {
    size_t depth = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"') {
        i = skip_string(t, i);
        if (i == std::string_view::npos) return i;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
        if (depth == 0) return i + 1;
      }
      ++i;
    }
    return std::string_view::npos;
  }
  size_t j = i;
  while (j < t.size()) {
    const char c = t[j];
    if (is_ws(static_cast<Byte>(c)) || c == ',' || c == ']' || c == '}' || c == ':' || c == '"' ||
        c == '{' || c == '[') {
      break;
    }
    ++j;
  }
  return j == i ? std::string_view::npos : j;
}

// true, false or null at t[i] (c is its first byte): {kNone, index after it}, or the error.
ValidateResult scan_literal(std::string_view t, size_t i) {
  const Byte c = static_cast<Byte>(t[i]);
  std::string_view literal;
  if (c == 't') literal = "true";
  if (c == 'f') literal = "false";
  if (c == 'n') literal = "null";
  if (literal.empty()) return {Error::kUnexpectedChar, i};
  const std::string_view rest = text::slice(t, i, i + std::min(literal.size(), t.size() - i));
  if (rest != literal) {
    // A prefix of the literal cut by the end of input is a truncation.
    if (rest.size() < literal.size() && text::slice(literal, 0, rest.size()) == rest) {
      return {Error::kTruncated, t.size()};
    }
    return {Error::kUnexpectedChar, i};
  }
  return {Error::kNone, i + literal.size()};
}

// The validator between tokens: where it is in the grammar and the open containers. Each step
// reads one token at text[i] (not whitespace) and answers {kNone, index after it} or the error.
struct Validator {
  explicit Validator(std::string_view t)
      : text(t), base(reinterpret_cast<const Byte*>(t.data())), size(t.size()) {}

  std::string_view text;
  const Byte* base;
  size_t size;
  Open stack[kMaxDepth];  // per open container (left uninitialised)
  size_t depth = 0;
  Want want = Want::kValue;

  // The text ended here: valid after one complete top-level value.
  ValidateResult at_end() const {
    if (depth == 0 && want == Want::kCommaOrClose) return {Error::kNone, size};
    return {Error::kTruncated, size};
  }

  ValidateResult close(size_t i) {
    --depth;
    want = Want::kCommaOrClose;
    return {Error::kNone, i + 1};
  }

  // The token at text[i] (not whitespace), as the state asks: punctuation, a key, a closing
  // bracket or a value.
  ValidateResult step(size_t i) {
    const Byte c = base[i];
    switch (want) {
      case Want::kColon:
        if (c != ':') return {Error::kUnexpectedChar, i};
        want = Want::kValue;
        return {Error::kNone, i + 1};
      case Want::kCommaOrClose: return comma_or_close(i);
      case Want::kKeyOrClose:
        if (c == '}') return close(i);
        return key(i);
      case Want::kKey: return key(i);
      case Want::kValueOrClose:
        if (c == ']') return close(i);
        break;
      case Want::kValue: break;
    }
    return value(i);
  }

  ValidateResult comma_or_close(size_t i) {
    if (depth == 0) return {Error::kTrailingData, i};
    const Byte c = base[i];
    const Open top = stack[depth - 1];
    if (c == ',') {
      want = top == Open::kArray ? Want::kValue : Want::kKey;
      return {Error::kNone, i + 1};
    }
    if ((top == Open::kArray && c == ']') || (top == Open::kObject && c == '}')) return close(i);
    return {Error::kUnexpectedChar, i};
  }

  ValidateResult key(size_t i) {
    if (base[i] != '"') return {Error::kUnexpectedChar, i};
    size_t next = 0, err_at = 0;
    const Error e = scan_string(base, size, i, &next, &err_at);
    if (e != Error::kNone) return {e, err_at};
    want = Want::kColon;
    return {Error::kNone, next};
  }

  // A value: an opening bracket (one level deeper) or a whole scalar.
  ValidateResult value(size_t i) {
    const Byte c = base[i];
    if (c == '[' || c == '{') {
      if (depth == kMaxDepth) return {Error::kTooDeep, i};
      stack[depth++] = c == '[' ? Open::kArray : Open::kObject;
      want = c == '[' ? Want::kValueOrClose : Want::kKeyOrClose;
      return {Error::kNone, i + 1};
    }
    size_t next = 0, err_at = 0;
    Error e = Error::kNone;
    if (c == '"') {
      e = scan_string(base, size, i, &next, &err_at);
    } else if (c == '-' || is_digit(c)) {
      e = scan_number(base, size, i, &next, &err_at);
    } else {
      const ValidateResult r = scan_literal(text, i);
      if (r.error != Error::kNone) return r;
      next = r.offset;
    }
    if (e != Error::kNone) return {e, err_at};
    want = Want::kCommaOrClose;
    return {Error::kNone, next};
  }
};

}  // namespace

const char* error_message(Error error) {
  switch (error) {
    case Error::kNone: return "valid JSON";
    case Error::kEmpty: return "no JSON value (empty or whitespace only)";
    case Error::kUnexpectedChar: return "unexpected character";
    case Error::kBadNumber: return "malformed number (RFC 8259 section 6)";
    case Error::kBadString: return "malformed string token";
    case Error::kBadEscape: return "invalid escape sequence in string";
    case Error::kLoneSurrogate: return "\\u escape is a lone UTF-16 surrogate";
    case Error::kBadUtf8: return "invalid UTF-8 in string";
    case Error::kControlInString: return "unescaped control character in string";
    case Error::kTooDeep: return "arrays/objects nested too deeply";
    case Error::kTrailingData: return "unexpected data after the JSON value";
    case Error::kTruncated: return "JSON text ends inside a value";
    case Error::kByteOrderMark: return "UTF-8 byte order mark before JSON text; save without BOM";
  }
  return "unknown JSON error";
}

ValidateResult validate(std::string_view text) {
  const Byte* base = reinterpret_cast<const Byte*>(text.data());
  const size_t size = text.size();
  if (size >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF) {
    return {Error::kByteOrderMark, 0};
  }
  Validator v(text);
  size_t i = skip_ws(text, 0);
  if (i == size) return {Error::kEmpty, i};
  for (;;) {
    i = skip_ws(text, i);
    if (i == size) return v.at_end();
    const ValidateResult r = v.step(i);
    if (r.error != Error::kNone) return r;
    i = r.offset;
  }
}

ObjectIter::ObjectIter(std::string_view object_text) : text_(object_text) {
  pos_ = skip_ws(text_, 0);
  if (pos_ >= text_.size() || text_[pos_] != '{') {
    ok_ = false;
    done_ = true;
    return;
  }
  pos_ = skip_ws(text_, pos_ + 1);
  if (pos_ < text_.size() && text_[pos_] == '}') {
    done_ = true;
    if (skip_ws(text_, pos_ + 1) != text_.size()) ok_ = false;
  }
}

bool ObjectIter::next(Member& out) {
  if (done_ || !ok_) return false;
  auto fail = [this] {
    ok_ = false;
    done_ = true;
    return false;
  };
  const size_t key_start = pos_;
  if (key_start >= text_.size() || text_[key_start] != '"') return fail();
  const size_t key_end = skip_string(text_, key_start);
  if (key_end == std::string_view::npos) return fail();
  size_t i = skip_ws(text_, key_end);
  if (i >= text_.size() || text_[i] != ':') return fail();
  const size_t value_start = skip_ws(text_, i + 1);
  const size_t value_end = skip_value(text_, value_start);
  if (value_end == std::string_view::npos) return fail();
  i = skip_ws(text_, value_end);
  if (i >= text_.size()) return fail();
  if (text_[i] == ',') {
    pos_ = skip_ws(text_, i + 1);
  } else if (text_[i] == '}') {
    done_ = true;
    if (skip_ws(text_, i + 1) != text_.size()) return fail();
  } else {
    return fail();
  }
  out.raw_key = text::slice(text_, key_start, key_end);
  out.raw_value = text::slice(text_, value_start, value_end);
  return true;
}

bool key_equals(std::string_view raw_key, std::string_view text) {
  if (raw_key.size() < 2 || raw_key.front() != '"' || raw_key.back() != '"') return false;
  const Byte* p = reinterpret_cast<const Byte*>(raw_key.data()) + 1;
  const Byte* end = reinterpret_cast<const Byte*>(raw_key.data()) + raw_key.size() - 1;
  size_t t = 0;
  while (p < end) {
    if (*p == '"') return false;  // unescaped quote inside: not one token
    if (*p != '\\' && *p >= 0x20 && *p < 0x80) {
      // ASCII fast path.
      if (t >= text.size() || static_cast<Byte>(text[t]) != *p) return false;
      ++p;
      ++t;
      continue;
    }
    char buf[4];
    size_t consumed = 0, len = 0;
    if (decode_unit(p, end, &consumed, buf, &len) != Error::kNone) return false;
    if (text.size() - t < len || std::memcmp(text.data() + t, buf, len) != 0) return false;
    p += consumed;
    t += len;
  }
  return t == text.size();
}

std::optional<std::string_view> find(std::string_view object_text, std::string_view key) {
  ObjectIter it(object_text);
  Member m;
  std::optional<std::string_view> found;
  while (it.next(m)) {
    if (key_equals(m.raw_key, key)) found = m.raw_value;  // last duplicate wins
  }
  if (!it.ok()) return std::nullopt;
  return found;
}

Kind kind_of(std::string_view raw_value) {
  const std::string_view v = text::trim(raw_value, text::kJsonSpace);
  if (v.empty()) return Kind::kInvalid;
  switch (v.front()) {
    case '{': return Kind::kObject;
    case '[': return Kind::kArray;
    case '"': return Kind::kString;
    case '-': return Kind::kNumber;
    default: break;
  }
  if (is_digit(static_cast<Byte>(v.front()))) return Kind::kNumber;
  if (v == "true") return Kind::kTrue;
  if (v == "false") return Kind::kFalse;
  if (v == "null") return Kind::kNull;
  return Kind::kInvalid;
}

long decode_string(std::string_view raw_string, char* out, size_t cap) {
  if (raw_string.size() < 2 || raw_string.front() != '"' || raw_string.back() != '"') return -1;
  const Byte* p = reinterpret_cast<const Byte*>(raw_string.data()) + 1;
  const Byte* end = reinterpret_cast<const Byte*>(raw_string.data()) + raw_string.size() - 1;
  size_t written = 0;
  while (p < end) {
    if (*p == '"') return -1;
    char buf[4];
    size_t consumed = 0, len = 0;
    if (decode_unit(p, end, &consumed, buf, &len) != Error::kNone) return -1;
    if (cap - written < len) return -1;
    std::memcpy(out + written, buf, len);
    p += consumed;
    written += len;
  }
  return static_cast<long>(written);
}

size_t escaped_length(std::string_view s) {
  size_t n = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    n += (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') ? 2 : c < 0x20 ? 6 : 1;
  }
  return n;
}

size_t escape(std::string_view s, char* out, size_t cap) {
  size_t n = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    char buf[6];
    size_t len = 0;
    if (c == '"' || c == '\\') {
      buf[0] = '\\', buf[1] = static_cast<char>(c), len = 2;
    } else if (c == '\n' || c == '\t' || c == '\r') {
      buf[0] = '\\', buf[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r', len = 2;
    } else if (c < 0x20) {
      buf[0] = '\\', buf[1] = 'u', buf[2] = '0', buf[3] = '0';
      buf[4] = text::kHexLower[c >> 4], buf[5] = text::kHexLower[c & 0xF];
      len = 6;
    } else {
      buf[0] = static_cast<char>(c), len = 1;
    }
    if (cap - n < len) break;
    for (size_t k = 0; k < len; ++k) out[n + k] = buf[k];
    n += len;
  }
  return n;
}

}  // namespace appconfig::json
