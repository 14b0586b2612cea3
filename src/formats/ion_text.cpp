// ion_text: the Ion 1.0 text reader (parse_text). See include/appconfig/formats/ion.h; what it
// shares with the binary reader is in include/appconfig/formats/ion_internal.h (src/formats/ion.cpp),
// text timestamps are in src/formats/ion_timestamp.cpp.
//
// References: Amazon Ion 1.0 specification (amazon-ion.github.io/ion-docs): "Text Encoding"
// (values, annotations, comments, long strings, s-expressions with operator symbols, numbers).
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"
#include "appconfig/core/utf8.h"
#include "appconfig/formats/ion.h"
#include "appconfig/formats/ion_internal.h"

#include <array>
#include <cstring>

namespace appconfig::ion {
namespace {

using namespace internal;
using text::hex_value;
using text::is_digit;

// RFC 4648 §4: the 6-bit value of each byte of the base64 alphabet, kPad for '=', kNotBase64 for
// every other byte (one load per character of a blob).
constexpr int8_t kPad = -1;
constexpr int8_t kNotBase64 = -2;
constexpr std::array<int8_t, 256> kBase64 = [] {
  std::array<int8_t, 256> t{};
  for (int8_t& v : t) v = kNotBase64;
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) t[static_cast<Byte>(kAlphabet[i])] = static_cast<int8_t>(i);
  t['='] = kPad;
  return t;
}();

// Sets an integer node from its sign and decimal magnitude: int_value when it
// fits in 64 bits, else `big` with the digits (int_value saturated).
void set_int(Node& n, bool negative, std::string_view digits) {
  uint64_t mag;
  const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  n.negative = negative && !(digits.size() == 1 && digits[0] == '0');
  if (text::parse_uint(digits, limit, &mag)) {
    n.int_value = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
    return;
  }
  n.big = true;
  n.text = digits;
  n.int_value = negative ? INT64_MIN : INT64_MAX;
}

// The text reader: a cursor (pos_) over the input, one member function per grammar rule; decoded
// text goes to the top of the arena through a Sink. One per parse_text() call.
class TextReader : Reader {
 public:
  TextReader(std::string_view text, Arena& arena, std::span<const SharedTable> catalogue)
      : Reader(reinterpret_cast<const Byte*>(text.data()), text.size(), arena, catalogue) {}

  ParseResult run(Document& out) {
    out = Document{.first = nullptr, .num_values = 0};
    Node* last = nullptr;
    for (;;) {
      if (!skip_ws()) return result_;
      if (pos_ >= n_) break;
      bare_ivm_ = false;
      Node* v = value(0, false);
      if (v == nullptr) return result_;
      if (bare_ivm_ && v->type == Type::kSymbol && v->num_annotations == 0) {
        // An unquoted $ion_<major>_<minor> at top level is a version marker.
        if (v->text != "$ion_1_0") {
          fail(Error::kBadVersionMarker, v->offset);
          return result_;
        }
        reset_symbols();
        continue;
      }
      if (is_symbol_table(*v)) {
        if (!load_symbol_table(*v)) return result_;
        continue;
      }
      append_top_level(out, last, v);
    }
    return result_;
  }

 private:
  size_t pos_ = 0;
  bool bare_ivm_ = false;  // the last symbol read was an unquoted $ion_<d>_<d>

  std::nullptr_t fail(Error e, size_t at) {
    Reader::fail(e, at);
    return nullptr;
  }

  bool at(size_t i, Byte c) const { return i < n_ && s_[i] == c; }
  bool starts(size_t i, std::string_view lit) const {
    return i + lit.size() <= n_ && std::memcmp(s_ + i, lit.data(), lit.size()) == 0;
  }

  static bool is_ws(Byte c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
  static bool ident_start(Byte c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? true : c == '_' || c == '$'; }
  static bool ident_char(Byte c) { return ident_start(c) || is_digit(c); }
  static bool operator_char(Byte c) { return c != 0 && std::strchr("!#%&*+-./;<=>?@^`|~", c) != nullptr; }

  // Skips whitespace only: comments are not allowed inside {{ }}.
  void skip_plain_ws() {
    while (pos_ < n_ && is_ws(s_[pos_])) ++pos_;
  }

  // Skips whitespace and comments. False (error set) on an unterminated block comment.
  bool skip_ws() {
    while (pos_ < n_) {
      if (is_ws(s_[pos_])) {
        ++pos_;
      } else if (starts(pos_, "//")) {
        // A line comment ends at LF, CR LF or a lone CR.
        while (pos_ < n_ && s_[pos_] != '\n' && s_[pos_] != '\r') ++pos_;
      } else if (starts(pos_, "/*")) {
        const size_t start = pos_;
        pos_ += 2;
        while (pos_ < n_ && !starts(pos_, "*/")) ++pos_;
        if (pos_ >= n_) {
          fail(Error::kTruncated, start);
          return false;
        }
        pos_ += 2;
      } else {
        break;
      }
    }
    return true;
  }

  // Writes decoded text at the top of the arena; commit() makes it permanent.
  struct Sink {
    char* base;
    size_t cap;
    size_t len;
    bool put(const char* p, size_t k) {
      if (len + k > cap) return false;
      std::memcpy(base + len, p, k);
      len += k;
      return true;
    }
  };
  Sink begin_sink() {
    return Sink{.base = reinterpret_cast<char*>(arena_.base + arena_.used), .cap = arena_.cap - arena_.used, .len = 0};
  }
  std::string_view commit(const Sink& sink) {
    arena_.used += sink.len;
    return std::string_view(sink.base, sink.len);
  }

  // Decodes one quoted segment starting after its opening delimiter; `quote`
  // is '"' (short string), '\'' (quoted symbol) or 0 for a ''' long string.
  // On success pos_ is after the closing delimiter.
  bool quoted(Sink& sink, Byte quote, bool ascii_only) {
    const size_t start = pos_;
    for (;;) {
      if (pos_ >= n_) {
        fail(Error::kTruncated, start);
        return false;
      }
      const Byte c = s_[pos_];
      if (quote == 0 && starts(pos_, "'''")) {
        pos_ += 3;
        return true;
      }
      if (quote != 0 && c == quote) {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!escape(sink, ascii_only)) return false;
        continue;
      }
      if (quote == 0 && c == '\r') {
        // Long strings and clobs: CR LF and a lone CR are read as LF.
        pos_ += at(pos_ + 1, '\n') ? 2 : 1;
        if (!sink.put("\n", 1)) {
          fail(Error::kOutOfMemory, pos_);
          return false;
        }
        continue;
      }
      // Raw whitespace other than newlines may appear in any string; CR and LF
      // only in long strings (Ion 1.0 text).
      if (c < 0x20 && !(quote == 0 && is_ws(c)) && c != '\t' && c != '\v' && c != '\f') {
        fail(Error::kBadString, pos_);
        return false;
      }
      if (ascii_only && c >= 0x80) {
        fail(Error::kBadBlob, pos_);
        return false;
      }
      const size_t len = utf8_len(s_, n_, pos_);
      if (len == 0) {
        fail(Error::kBadUtf8, pos_);
        return false;
      }
      if (!sink.put(reinterpret_cast<const char*>(s_ + pos_), len)) {
        fail(Error::kOutOfMemory, pos_);
        return false;
      }
      pos_ += len;
    }
  }

  // The byte a one-character escape stands for (\0 \a \b \t \n \f \r \v \" \' \? \\ \/), or -1.
  static int simple_escape(Byte c) {
    switch (c) {
      case '0': return 0;
      case 'a': return '\a';
      case 'b': return '\b';
      case 't': return '\t';
      case 'n': return '\n';
      case 'f': return '\f';
      case 'r': return '\r';
      case 'v': return '\v';
      case '"': return '"';
      case '\'': return '\'';
      case '?': return '?';
      case '\\': return '\\';
      case '/': return '/';
      default: return -1;
    }
  }

  // The escape whose backslash is at pos_: a one-character escape, \xHH, \uHHHH, \UHHHHHHHH, or a
  // backslash before a line end (the line continues, nothing is written).
  bool escape(Sink& sink, bool ascii_only) {
    const size_t start = pos_;
    ++pos_;  // backslash
    if (pos_ >= n_) {
      fail(Error::kTruncated, start);
      return false;
    }
    const Byte c = s_[pos_++];
    switch (c) {
      case '\n': return true;  // line continuation
      case '\r':
        if (at(pos_, '\n')) ++pos_;
        return true;
      case 'x':
      case 'u':
      case 'U': return code_point_escape(sink, c, start, ascii_only);
      default: break;
    }
    const int simple = simple_escape(c);
    if (simple < 0) {
      fail(Error::kBadString, start);
      return false;
    }
    const char ch = static_cast<char>(simple);
    if (!sink.put(&ch, 1)) {
      fail(Error::kOutOfMemory, start);
      return false;
    }
    return true;
  }

  // \x, \u or \U (letter c, just read) and its hex digits: the code point as UTF-8 (in a clob,
  // ascii_only, \x is the raw byte and \u, \U are refused). A \u high surrogate followed by a \u low
  // surrogate is one code point; a lone surrogate is refused.
  bool code_point_escape(Sink& sink, Byte c, size_t start, bool ascii_only) {
    const size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
    if (ascii_only && c != 'x') {
      fail(Error::kBadBlob, start);
      return false;
    }
    uint32_t cp = 0;
    for (size_t k = 0; k < digits; ++k) {
      const int h = pos_ < n_ ? hex_value(s_[pos_]) : -1;
      if (h < 0) {
        fail(Error::kBadString, start);
        return false;
      }
      cp = cp * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF && c == 'u') join_low_surrogate(cp);
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      fail(Error::kBadString, start);
      return false;
    }
    char buf[4];
    size_t len;
    if (c == 'x' && ascii_only) {
      buf[0] = static_cast<char>(cp);
      len = 1;
    } else {
      len = utf8::encode(cp, buf);
    }
    if (!sink.put(buf, len)) {
      fail(Error::kOutOfMemory, start);
      return false;
    }
    return true;
  }

  // After the high surrogate cp: when \uDC00-\uDFFF follows at pos_, cp becomes the pair's code
  // point and pos_ moves past it; anything else leaves both alone.
  void join_low_surrogate(uint32_t& cp) {
    if (!starts(pos_, "\\u")) return;
    uint32_t lo = 0;
    bool ok = pos_ + 6 <= n_;
    for (size_t k = 2; ok && k < 6; ++k) {
      const int h = hex_value(s_[pos_ + k]);
      ok = h >= 0;
      lo = lo * 16 + static_cast<uint32_t>(h < 0 ? 0 : h);
    }
    if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      pos_ += 6;
    }
  }

  // One or more ''' segments separated by whitespace and comments
  // (concatenated); inside a clob ({{ }}), by whitespace only.
  bool long_string(Sink& sink, bool ascii_only) {
    while (starts(pos_, "'''")) {
      pos_ += 3;
      if (!quoted(sink, 0, ascii_only)) return false;
      const size_t save = pos_;
      if (ascii_only) {
        skip_plain_ws();
      } else if (!skip_ws()) {
        return false;
      }
      if (!starts(pos_, "'''")) {
        pos_ = save;
        break;
      }
    }
    return true;
  }

  // Reads a symbol token usable as an annotation or field name: identifier,
  // 'quoted' or $N. Returns false (no error) when none is here.
  bool symbol_token(std::string_view& text, bool& ok) {
    ok = true;
    if (pos_ >= n_) return false;
    const Byte c = s_[pos_];
    if (c == '\'' && !starts(pos_, "'''")) {
      ++pos_;
      Sink sink = begin_sink();
      if (!quoted(sink, '\'', false)) {
        ok = false;
        return false;
      }
      text = commit(sink);
      return true;
    }
    if (ident_start(c)) {
      const size_t start = pos_;
      while (pos_ < n_ && ident_char(s_[pos_])) ++pos_;
      text = std::string_view(reinterpret_cast<const char*>(s_ + start), pos_ - start);
      if (is_keyword(text)) {
        pos_ = start;
        return false;
      }
      if (!resolve_sid(text, start)) {
        ok = false;
        return false;
      }
      return true;
    }
    return false;
  }

  // $N (digits only) is a symbol ID: its text comes from the current symbol
  // table ($0: text unknown).
  bool resolve_sid(std::string_view& text, size_t at_offset) {
    if (text.size() < 2 || text[0] != '$') return true;
    uint64_t sid = 0;
    for (size_t i = 1; i < text.size(); ++i) {
      if (!is_digit(text[i])) return true;
      sid = sid * 10 + static_cast<uint64_t>(text[i] - '0');
      if (sid > 0xFFFFFFFFull) sid = 0xFFFFFFFFull;
    }
    return symbol_text(sid, at_offset, text);
  }

  // null, true, false and nan are values, never symbol tokens: unquoted they
  // cannot be annotations or field names (Ion 1.0 text: keywords).
  static bool is_keyword(std::string_view word) {
    return word == "null" || word == "true" || word == "false" || word == "nan";
  }

  Node* value(size_t depth, bool in_sexp) {
    AnnotationBuffer buf;  // not zeroed: 256 bytes per value would be a third of the text reader's time
    std::string_view* annots = buf.v;
    size_t num_annots = 0;
    for (;;) {
      const size_t save = pos_;
      const size_t used_before = arena_.used;
      std::string_view text;
      bool ok;
      if (!symbol_token(text, ok)) {
        if (!ok) return nullptr;
        break;
      }
      const size_t token_end = pos_;
      if (!skip_ws()) return nullptr;
      if (!starts(pos_, "::")) {
        if (s_[save] == '\'') {
          // A quoted symbol value: keep the text decoded (not decoded twice).
          pos_ = token_end;
          Node* n = alloc(Type::kSymbol, save);
          if (n == nullptr) return nullptr;
          n->text = text;
          if (!copy_annotations(arena_, n, annots, num_annots)) return fail(Error::kOutOfMemory, pos_);
          return n;
        }
        pos_ = save;
        arena_.used = used_before;  // read again as the value
        break;
      }
      if (num_annots == kMaxAnnotations) return fail(Error::kTooManyAnnotations, save);
      annots[num_annots++] = text;
      pos_ += 2;
      if (!skip_ws()) return nullptr;
    }
    Node* n = bare_value(depth, in_sexp);
    if (n == nullptr) return nullptr;
    if (!copy_annotations(arena_, n, annots, num_annots)) return fail(Error::kOutOfMemory, pos_);
    return n;
  }

  Node* bare_value(size_t depth, bool in_sexp) {
    if (pos_ >= n_) return fail(Error::kTruncated, pos_);
    const size_t start = pos_;
    const Byte c = s_[pos_];
    if (c == '[' || c == '(') return sequence(depth, c == '[' ? Type::kList : Type::kSexp);
    if (c == '{') return starts(pos_, "{{") ? lob() : structure(depth);
    if (c == '"' || starts(pos_, "'''")) {
      Node* n = alloc(Type::kString, start);
      if (n == nullptr) return nullptr;
      Sink sink = begin_sink();
      if (c == '"') {
        ++pos_;
        if (!quoted(sink, '"', false)) return nullptr;
      } else if (!long_string(sink, false)) {
        return nullptr;
      }
      n->text = commit(sink);
      return n;
    }
    if (c == '\'') {
      std::string_view text;
      bool ok;
      if (!symbol_token(text, ok)) return nullptr;
      Node* n = alloc(Type::kSymbol, start);
      if (n != nullptr) n->text = text;
      return n;
    }
    if (is_digit(c) || (c == '-' && pos_ + 1 < n_ && is_digit(s_[pos_ + 1]))) return number();
    if ((c == '+' || c == '-') && starts(pos_ + 1, "inf") && stop_at(pos_ + 4)) {
      Node* n = alloc(Type::kFloat, start);
      if (n == nullptr) return nullptr;
      n->float_value = c == '+' ? __builtin_huge_val() : -__builtin_huge_val();
      pos_ += 4;
      return n;
    }
    if (ident_start(c)) return keyword_or_symbol();
    if (in_sexp && operator_char(c)) {
      while (pos_ < n_ && operator_char(s_[pos_]) && !starts(pos_, "//") && !starts(pos_, "/*")) ++pos_;
      Node* n = alloc(Type::kSymbol, start);
      if (n != nullptr) n->text = std::string_view(reinterpret_cast<const char*>(s_ + start), pos_ - start);
      return n;
    }
    return fail(Error::kUnexpected, start);
  }

  // Ion's numeric stop characters: what may follow a number or keyword.
  bool stop_at(size_t i) const {
    if (i >= n_) return true;
    const Byte c = s_[i];
    if (is_ws(c)) return true;
    if (c != 0 && std::strchr(",]}){[(\"'", c) != nullptr) return true;
    return starts(i, "//") || starts(i, "/*");
  }

  // $ion_<digits>_<digits>: the shape of an Ion version marker.
  static bool is_version_marker(std::string_view w) {
    if (w.size() < 8 || w.substr(0, 5) != "$ion_") return false;
    size_t i = 5;
    const size_t major = i;
    while (i < w.size() && is_digit(w[i])) ++i;
    if (i == major || i >= w.size() || w[i] != '_') return false;
    const size_t minor = ++i;
    while (i < w.size() && is_digit(w[i])) ++i;
    return i > minor && i == w.size();
  }

  // The type a typed null names (null.int: "int"), by its type_name(); false for none.
  static bool null_type(std::string_view name, Type& type) {
    for (size_t i = 0; i <= static_cast<size_t>(Type::kStruct); ++i) {
      if (name == type_name(static_cast<Type>(i))) {
        type = static_cast<Type>(i);
        return true;
      }
    }
    return false;
  }

  Node* keyword_or_symbol() {
    const size_t start = pos_;
    while (pos_ < n_ && ident_char(s_[pos_])) ++pos_;
    std::string_view word(reinterpret_cast<const char*>(s_ + start), pos_ - start);
    if (word == "null") {
      Type type = Type::kNull;
      if (at(pos_, '.')) {
        const size_t t0 = ++pos_;
        while (pos_ < n_ && ident_char(s_[pos_])) ++pos_;
        const std::string_view t(reinterpret_cast<const char*>(s_ + t0), pos_ - t0);
        if (!null_type(t, type)) return fail(Error::kUnexpected, t0);
      }
      Node* n = alloc(type, start);
      if (n != nullptr) n->is_null = true;
      return n;
    }
    if (word == "true" || word == "false") {
      Node* n = alloc(Type::kBool, start);
      if (n != nullptr) n->bool_value = word == "true";
      return n;
    }
    if (word == "nan") {
      Node* n = alloc(Type::kFloat, start);
      if (n != nullptr) n->float_value = __builtin_nan("");
      return n;
    }
    bare_ivm_ = is_version_marker(word);
    if (!resolve_sid(word, start)) return nullptr;
    Node* n = alloc(Type::kSymbol, start);
    if (n != nullptr) n->text = word;
    return n;
  }

  // Digits accepted by `is_ok` with single underscores between them (Ion 1.0
  // text), from tok[i]; each digit is passed to `put`. False when none.
  template <typename Ok, typename Put>
  static bool digit_run(std::string_view tok, size_t& i, Ok is_ok, Put put) {
    const size_t d0 = i;
    while (i < tok.size()) {
      const Byte c = static_cast<Byte>(tok[i]);
      if (is_ok(c)) {
        if (!put(c)) return false;
        ++i;
      } else if (c == '_' && i > d0 && i + 1 < tok.size() && is_ok(static_cast<Byte>(tok[i + 1]))) {
        ++i;
      } else {
        break;
      }
    }
    return i > d0;
  }

  // Numbers and timestamps: the token runs to one of Ion's stop characters.
  __attribute__((noinline)) Node* number() {
    const size_t start = pos_;
    while (pos_ < n_ && (ident_char(s_[pos_]) || s_[pos_] == '.' || s_[pos_] == '+' || s_[pos_] == '-' ||
                         s_[pos_] == ':')) {
      if (s_[pos_] == '$') break;
      ++pos_;
    }
    const std::string_view tok(reinterpret_cast<const char*>(s_ + start), pos_ - start);
    if (!stop_at(pos_)) return fail(Error::kBadNumber, pos_);
    if (is_timestamp_token(tok)) return timestamp(tok, start);
    size_t i = 0;
    const bool negative = tok[0] == '-';
    if (negative) ++i;
    Node* n = alloc(Type::kInt, start);  // before the sink: alloc takes the arena top
    if (n == nullptr) return nullptr;
    if (i + 1 < tok.size() && tok[i] == '0' && ((tok[i + 1] | 0x20) == 'x' || (tok[i + 1] | 0x20) == 'b')) {
      return radix_int(*n, tok, i + 2, (tok[i + 1] | 0x20) == 'x' ? 4 : 1, negative, start);
    }
    return decimal_number(*n, tok, i, negative, start);
  }

  // Timestamps: four digits then '-' or 'T'.
  static bool is_timestamp_token(std::string_view tok) {
    return tok.size() >= 5 && is_digit(tok[0]) && is_digit(tok[1]) && is_digit(tok[2]) && is_digit(tok[3]) &&
           (tok[4] == '-' || tok[4] == 'T');
  }

  // A timestamp token; its fraction digits are kept as written (Node::text, exponent).
  Node* timestamp(std::string_view tok, size_t start) {
    Timestamp ts;
    std::string_view fraction;
    if (!parse_timestamp_text(tok, ts, &fraction)) return fail(Error::kBadTimestamp, start);
    if (ts.precision == Precision::kMonth && tok.back() != 'T') {
      // W3C allows YYYY-MM; Ion text needs the T (2024-01T), as ion-java.
      fail_detail(Error::kBadTimestamp, start, "a month-precision timestamp ends in T: write %.7sT", tok.data());
      return nullptr;
    }
    Node* n = alloc(Type::kTimestamp, start);
    if (n == nullptr) return nullptr;
    n->timestamp = ts;
    if (ts.precision == Precision::kFraction) {
      if (fraction.size() > 0x7FFFFFFF) return fail(Error::kBadTimestamp, start);
      n->exponent = -static_cast<int32_t>(fraction.size());
      size_t z = 0;
      while (z + 1 < fraction.size() && fraction[z] == '0') ++z;
      n->text = fraction.substr(z);
    }
    return n;
  }

  // A number in decimal digits from tok[i] (after its sign) into n: an int, a decimal ('.' or a d
  // exponent) or a float (an e exponent). The digits go to the top of the arena and stay there
  // for big ints and decimals.
  Node* decimal_number(Node& n, std::string_view tok, size_t i, bool negative, size_t start) {
    Sink sink = begin_sink();
    bool room = true;
    auto put = [&](Byte c) {
      const char ch = static_cast<char>(c);
      room = sink.put(&ch, 1);
      return room;
    };
    auto dec = [](Byte b) { return is_digit(b); };
    const size_t int_start = i;
    const bool any = digit_run(tok, i, dec, put);
    if (!room) return fail(Error::kOutOfMemory, start);
    if (!any) return fail(Error::kBadNumber, start);
    if (tok[int_start] == '0' && i - int_start > 1) return fail(Error::kBadNumber, start);  // leading zero
    if (i == tok.size()) {
      const std::string_view digits(sink.base, sink.len);
      set_int(n, negative, digits);
      if (n.big) n.text = commit(sink);
      return &n;
    }
    size_t frac_digits = 0;
    if (tok[i] == '.') {
      ++i;
      const size_t before = sink.len;
      if (i < tok.size() && is_digit(tok[i])) {
        digit_run(tok, i, dec, put);
        if (!room) return fail(Error::kOutOfMemory, start);
      }
      frac_digits = sink.len - before;
    }
    bool is_float = false;
    int64_t exp = 0;
    if (i < tok.size() && ((tok[i] | 0x20) == 'e' || (tok[i] | 0x20) == 'd')) {
      is_float = (tok[i] | 0x20) == 'e';
      ++i;
      if (!exponent_digits(tok, i, exp)) return fail(Error::kBadNumber, start);
    }
    if (i != tok.size()) return fail(Error::kBadNumber, start);
    return float_or_decimal(n, sink, negative, is_float, exp - static_cast<int64_t>(frac_digits), start);
  }

  // The exponent after e or d, from tok[i]: an optional sign, then digits. Saturates far beyond
  // any exponent we keep (decimals: 32 bits). False without digits.
  static bool exponent_digits(std::string_view tok, size_t& i, int64_t& exp) {
    bool exp_negative = false;
    if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) exp_negative = tok[i++] == '-';
    auto dec = [](Byte b) { return is_digit(b); };
    auto put_exp = [&](Byte c) {
      if (exp < (int64_t{1} << 40)) exp = exp * 10 + (c - '0');
      return true;
    };
    if (!digit_run(tok, i, dec, put_exp)) return false;
    if (exp_negative) exp = -exp;
    return true;
  }

  // n as a float or a decimal of coefficient digits (in the sink, leading zeros dropped) ×
  // 10^exponent; a decimal keeps its digits in the arena.
  Node* float_or_decimal(Node& n, const Sink& sink, bool negative, bool is_float, int64_t exponent, size_t start) {
    std::string_view coef(sink.base, sink.len);
    while (coef.size() > 1 && coef[0] == '0') coef.remove_prefix(1);
    n.negative = negative;
    if (is_float) {
      n.type = Type::kFloat;
      n.negative = false;
      return Reader::to_double(n, negative, coef, exponent, start) ? &n : nullptr;
    }
    if (exponent < INT32_MIN || exponent > INT32_MAX) {
      fail(Error::kIntOutOfRange, start);
      error::fail(result_.detail, sizeof result_.detail, "decimal exponent beyond 32 bits");
      return nullptr;
    }
    n.type = Type::kDecimal;
    n.exponent = static_cast<int32_t>(exponent);
    commit(sink);
    n.text = coef;
    return Reader::to_double(n, negative, coef, exponent, start) ? &n : nullptr;
  }

  std::nullptr_t too_many_digits(size_t start) {
    fail_detail(Error::kIntOutOfRange, start, "more than %zu bytes of magnitude", kMaxIntBytes);
    return nullptr;
  }

  // 0x / 0b integers: digits to a big-endian magnitude, then as binary ints.
  __attribute__((noinline)) Node* radix_int(Node& n, std::string_view tok, size_t i, unsigned bits_per_digit,
                                            bool negative, size_t start) {
    const size_t d0 = i;
    auto ok = [bits_per_digit](Byte b) { return bits_per_digit == 4 ? hex_value(b) >= 0 : (b == '0' || b == '1'); };
    size_t significant = 0;
    auto count = [&](Byte c) {
      if (significant > 0 || c != '0') ++significant;
      return true;
    };
    if (!digit_run(tok, i, ok, count) || i != tok.size()) return fail(Error::kBadNumber, start);
    if (significant * bits_per_digit > kMaxIntBytes * 8) return too_many_digits(start);
    Byte mag[kMaxIntBytes];
    const size_t len = (significant * bits_per_digit + 7) / 8;
    std::memset(mag, 0, len);
    // Fill from the least significant end.
    size_t bit = 0;
    for (size_t k = tok.size(); k-- > d0;) {
      if (tok[k] == '_') continue;
      const unsigned v = static_cast<unsigned>(hex_value(static_cast<Byte>(tok[k])));
      for (unsigned b = 0; b < bits_per_digit; ++b, ++bit) {
        if (bit >= len * 8) break;
        if ((v >> b) & 1) mag[len - 1 - bit / 8] = static_cast<Byte>(mag[len - 1 - bit / 8] | (1u << (bit % 8)));
      }
      if (bit >= len * 8) break;
    }
    if (!int_from_magnitude(n, negative, mag, len, start)) return nullptr;
    return &n;
  }

  Node* sequence(size_t depth, Type type) {
    const size_t start = pos_;
    if (depth + 1 > kMaxDepth) return fail(Error::kTooDeep, start);
    const Byte close = type == Type::kList ? ']' : ')';
    ++pos_;
    Node* n = alloc(type, start);
    if (n == nullptr) return nullptr;
    Node* last = nullptr;
    for (;;) {
      if (!skip_ws()) return nullptr;
      if (pos_ >= n_) return fail(Error::kTruncated, start);
      if (s_[pos_] == close) {
        ++pos_;
        return n;
      }
      Node* child = value(depth + 1, type == Type::kSexp);
      if (child == nullptr) return nullptr;
      if (last == nullptr) {
        n->first_child = child;
      } else {
        last->next_sibling = child;
      }
      last = child;
      ++n->num_children;
      if (type == Type::kList) {
        if (!skip_ws()) return nullptr;
        if (at(pos_, ',')) {
          ++pos_;
        } else if (!at(pos_, ']')) {
          return pos_ >= n_ ? fail(Error::kTruncated, start) : fail(Error::kUnexpected, pos_);
        }
      }
    }
  }

  Node* structure(size_t depth) {
    const size_t start = pos_;
    if (depth + 1 > kMaxDepth) return fail(Error::kTooDeep, start);
    ++pos_;
    Node* n = alloc(Type::kStruct, start);
    if (n == nullptr) return nullptr;
    Node* last = nullptr;
    for (;;) {
      if (!skip_ws()) return nullptr;
      if (pos_ >= n_) return fail(Error::kTruncated, start);
      if (s_[pos_] == '}') {
        ++pos_;
        return n;
      }
      std::string_view name;
      const size_t name_at = pos_;
      if (s_[pos_] == '"' || starts(pos_, "'''")) {
        Sink sink = begin_sink();
        if (s_[pos_] == '"') {
          ++pos_;
          if (!quoted(sink, '"', false)) return nullptr;
        } else if (!long_string(sink, false)) {
          return nullptr;
        }
        name = commit(sink);
      } else {
        bool ok;
        if (!symbol_token(name, ok)) return ok ? fail(Error::kUnexpected, name_at) : nullptr;
      }
      if (!skip_ws()) return nullptr;
      if (!at(pos_, ':') || at(pos_ + 1, ':')) return fail(Error::kUnexpected, pos_);
      ++pos_;
      if (!skip_ws()) return nullptr;
      Node* child = value(depth + 1, false);
      if (child == nullptr) return nullptr;
      child->field_name = name;
      if (last == nullptr) {
        n->first_child = child;
      } else {
        last->next_sibling = child;
      }
      last = child;
      ++n->num_children;
      if (!skip_ws()) return nullptr;
      if (at(pos_, ',')) {
        ++pos_;
      } else if (!at(pos_, '}')) {
        return pos_ >= n_ ? fail(Error::kTruncated, start) : fail(Error::kUnexpected, pos_);
      }
    }
  }

  // {{ base64 }} or {{ "clob" }} / {{ '''clob''' }}.
  Node* lob() {
    const size_t start = pos_;
    pos_ += 2;
    skip_plain_ws();
    Node* n = alloc(Type::kBlob, start);  // before the sink: alloc reuses the arena top
    if (n == nullptr) return nullptr;
    Sink sink = begin_sink();
    Type type = Type::kBlob;
    if (at(pos_, '"') || starts(pos_, "'''")) {
      type = Type::kClob;
      if (at(pos_, '"')) {
        ++pos_;
        if (!quoted(sink, '"', true)) return nullptr;
      } else if (!long_string(sink, true)) {
        return nullptr;
      }
      skip_plain_ws();
    } else if (!base64(sink, start)) {
      return nullptr;
    }
    if (!starts(pos_, "}}")) return pos_ >= n_ ? fail(Error::kTruncated, start) : fail(Error::kBadBlob, pos_);
    pos_ += 2;
    n->type = type;
    n->text = commit(sink);
    return n;
  }

  // RFC 4648 §4 base64 with padding up to the closing }}; whitespace allowed between characters.
  bool base64(Sink& sink, size_t start) {
    uint32_t acc = 0;
    int bits = 0;
    size_t chars = 0, pad = 0;
    while (pos_ < n_ && s_[pos_] != '}') {
      const Byte c = s_[pos_];
      const int v = kBase64[c];
      if (v == kNotBase64) {
        if (!is_ws(c)) return Reader::fail(Error::kBadBlob, pos_);
        ++pos_;
        continue;
      }
      if (v == kPad) {
        ++pad;
      } else {
        if (pad > 0) return Reader::fail(Error::kBadBlob, pos_);
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          const char b = static_cast<char>((acc >> bits) & 0xFF);
          if (!sink.put(&b, 1)) return Reader::fail(Error::kOutOfMemory, pos_);
        }
      }
      ++chars;
      ++pos_;
    }
    if (chars % 4 != 0 || pad > 2) return Reader::fail(Error::kBadBlob, start);
    return true;
  }
};

}  // namespace

ParseResult parse_text(std::string_view text, Arena& arena, Document& out, std::span<const SharedTable> catalogue) {
  TextReader reader(text, arena, catalogue);
  return reader.run(out);
}

}  // namespace appconfig::ion
