// ion: Ion 1.0 text and binary readers. See include/appconfig/formats/ion.h.
//
// References: Amazon Ion 1.0 specification (amazon-ion.github.io/ion-docs):
// "Text Encoding", "Binary Encoding" (type descriptors, VarUInt/VarInt/UInt/
// Int fields), "Symbols" (local symbol tables, imports, system symbols 1-9).
#include "appconfig/formats/ion.h"
#include "appconfig/core/utf8.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace appconfig::ion {

const char kUnknownTextMarker[1] = {0};

namespace {

using Byte = unsigned char;

// Ion 1.0 system symbol table, symbol IDs 1-9.
constexpr std::string_view kSystemSymbols[] = {
    "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols", "max_id",
    "$ion_shared_symbol_table",
};
constexpr size_t kNumSystemSymbols = 9;
const std::string_view kUnknownText(kUnknownTextMarker, 0);

constexpr Byte kVersionMarker[4] = {0xE0, 0x01, 0x00, 0xEA};

// Longest numeric token we convert with strtod (digits of a double and an
// exponent fit many times over; longer spellings are rejected).
constexpr size_t kMaxNumberToken = 128;

bool is_digit(Byte c) { return c >= '0' && c <= '9'; }

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm (proleptic Gregorian calendar).
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned days_in_month(unsigned y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

struct Fields {
  unsigned year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  uint32_t nanos = 0;
  int offset_min = 0;
  Precision precision = Precision::kYear;
};

// Nanoseconds of the fraction 0.<digits> × 10^(digits - scale), i.e. the
// first nine of `scale` fraction digits whose last digits.size() are `digits`.
uint32_t fraction_nanos(std::string_view digits, uint64_t scale) {
  uint32_t nanos = 0;
  const uint64_t lead = scale - digits.size();  // zeros before the digits
  for (uint64_t k = 0; k < 9; ++k) {
    unsigned d = 0;
    if (k >= lead && k - lead < digits.size()) d = static_cast<unsigned>(digits[k - lead] - '0');
    nanos = nanos * 10 + d;
  }
  return nanos;
}

bool fields_valid(const Fields& f) {
  return f.year >= 1 && f.year <= 9999 && f.month >= 1 && f.month <= 12 && f.day >= 1 &&
         f.day <= days_in_month(f.year, f.month) && f.hour <= 23 && f.minute <= 59 && f.second <= 59 &&
         f.offset_min > -24 * 60 && f.offset_min < 24 * 60;
}

// fields are local time at offset_min when `local`, else UTC.
Timestamp to_timestamp(const Fields& f, bool local) {
  int64_t s = days_from_civil(f.year, f.month, f.day) * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
  if (local) s -= static_cast<int64_t>(f.offset_min) * 60;
  return Timestamp{s, f.nanos, static_cast<int16_t>(f.offset_min), f.precision};
}

size_t utf8_len(const Byte* s, size_t n, size_t i) {
  uint32_t cp;
  return utf8::decode(s, n, i, cp);
}

bool valid_utf8(const Byte* s, size_t n) {
  for (size_t i = 0; i < n;) {
    const size_t len = utf8_len(s, n, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

size_t put_utf8(uint32_t cp, char* out) { return utf8::encode(cp, out); }

// Adds a top-level value to the document, in order; a bare $ion_1_0 version
// marker (text or binary) is not a value.
void append_top_level(Document& out, Node*& last, Node* v) {
  if (v->type == Type::kSymbol && !v->is_null && v->num_annotations == 0 && v->text == "$ion_1_0") return;
  if (last == nullptr)
    out.first = v;
  else
    last->next_sibling = v;
  last = v;
  ++out.num_values;
}

int hex_value(Byte c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

Node* new_node(Arena& arena, Type type, size_t offset) {
  void* mem = arena.alloc(sizeof(Node), alignof(Node));
  if (mem == nullptr) return nullptr;
  Node* n = static_cast<Node*>(mem);
  std::memset(static_cast<void*>(n), 0, sizeof(Node));
  n->type = type;
  n->offset = static_cast<uint32_t>(offset);
  return n;
}

// Room for one value's annotations on the stack, left uninitialised.
union AnnotationBuffer {
  AnnotationBuffer() {}
  std::string_view v[kMaxAnnotations];
};

bool copy_annotations(Arena& arena, Node* n, const std::string_view* annots, size_t count) {
  if (count == 0) return true;
  void* mem = arena.alloc(sizeof(std::string_view) * count, alignof(std::string_view));
  if (mem == nullptr) return false;
  auto* dst = static_cast<std::string_view*>(mem);
  for (size_t i = 0; i < count; ++i) dst[i] = annots[i];
  n->annotations = dst;
  n->num_annotations = static_cast<uint8_t>(count);
  return true;
}

// The text forms of parse_timestamp(); `fraction` (when given) receives the
// fraction-of-second digits as written.
bool parse_timestamp_text(std::string_view text, Timestamp& out, std::string_view* fraction) {
  const auto* s = reinterpret_cast<const Byte*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto num = [&](size_t digits, unsigned& v) {
    if (i + digits > n) return false;
    v = 0;
    for (size_t k = 0; k < digits; ++k) {
      if (!is_digit(s[i + k])) return false;
      v = v * 10 + (s[i + k] - '0');
    }
    i += digits;
    return true;
  };
  auto lit = [&](Byte c) {
    if (i < n && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  Fields f;
  // Date part; each precision may end here, optionally with a trailing T.
  auto done = [&](Precision p) {
    f.precision = p;
    if (i == n || (i + 1 == n && s[i] == 'T')) {
      if (!fields_valid(f)) return false;
      out = to_timestamp(f, false);
      out.offset_unknown = true;  // a date has no local offset
      return true;
    }
    return false;
  };
  if (!num(4, f.year)) return false;
  if (done(Precision::kYear)) return true;
  if (!lit('-') || !num(2, f.month)) return false;
  if (done(Precision::kMonth)) return true;
  if (!lit('-') || !num(2, f.day)) return false;
  if (done(Precision::kDay)) return true;
  if (!lit('T') || !num(2, f.hour) || !lit(':') || !num(2, f.minute)) return false;
  f.precision = Precision::kMinute;
  if (lit(':')) {
    if (!num(2, f.second)) return false;
    f.precision = Precision::kSecond;
    if (lit('.')) {
      const size_t d0 = i;
      uint32_t nanos = 0;
      size_t k = 0;
      while (i < n && is_digit(s[i])) {
        if (k < 9) nanos = nanos * 10 + (s[i] - '0');
        ++k;
        ++i;
      }
      if (i == d0) return false;
      if (fraction != nullptr) *fraction = text.substr(d0, i - d0);
      for (; k < 9; ++k) nanos *= 10;
      f.nanos = nanos;
      f.precision = Precision::kFraction;
    }
  }
  bool unknown = false;
  if (lit('Z')) {
    f.offset_min = 0;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    const bool negative = s[i] == '-';
    ++i;
    unsigned oh, om;
    if (!num(2, oh) || !lit(':') || !num(2, om) || oh > 23 || om > 59) return false;
    f.offset_min = static_cast<int>(oh * 60 + om) * (negative ? -1 : 1);
    unknown = negative && f.offset_min == 0;  // -00:00
  } else {
    return false;
  }
  if (i != n || !fields_valid(f)) return false;
  out = to_timestamp(f, true);
  out.offset_unknown = unknown;
  return true;
}

// ---------------------------------------------------------------- exact numbers

// Room for the digits of a kMaxIntBytes magnitude, plus one 9-digit chunk.
constexpr size_t kDigitsBuffer = kMaxIntDigits + 9;

// A big-endian magnitude (leading zero bytes already dropped, len ≤
// kMaxIntBytes) as decimal digits, most significant first; "0" for len 0.
// Repeated division of 32-bit limbs by 10^9: (len/4) × (digits/9) word
// operations, about 1,200 per input byte at the limit.
size_t magnitude_digits(const Byte* mag, size_t len, char* out) {
  uint32_t limbs[kMaxIntBytes / 4 + 1];
  size_t n = 0;
  size_t i = 0;
  const size_t head = len % 4;
  if (head != 0) {
    uint32_t v = 0;
    for (; i < head; ++i) v = (v << 8) | mag[i];
    limbs[n++] = v;
  }
  for (; i < len; i += 4) {
    limbs[n++] = static_cast<uint32_t>(mag[i]) << 24 | static_cast<uint32_t>(mag[i + 1]) << 16 |
                 static_cast<uint32_t>(mag[i + 2]) << 8 | mag[i + 3];
  }
  char chunks[kDigitsBuffer];  // 9-digit chunks, least significant chunk first
  size_t num_chunks = 0;
  size_t first = 0;  // first non-zero limb
  while (first < n && limbs[first] == 0) ++first;
  while (first < n) {
    uint64_t rem = 0;
    for (size_t k = first; k < n; ++k) {
      const uint64_t cur = rem << 32 | limbs[k];
      limbs[k] = static_cast<uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    char* c = chunks + num_chunks * 9;
    for (int d = 8; d >= 0; --d) {
      c[d] = static_cast<char>('0' + rem % 10);
      rem /= 10;
    }
    ++num_chunks;
    while (first < n && limbs[first] == 0) ++first;
  }
  if (num_chunks == 0) {
    out[0] = '0';
    return 1;
  }
  size_t len_out = 0;
  for (size_t k = num_chunks; k-- > 0;) {
    const char* c = chunks + k * 9;
    size_t d = 0;
    if (k == num_chunks - 1) {
      while (d < 8 && c[d] == '0') ++d;  // no leading zeros
    }
    for (; d < 9; ++d) out[len_out++] = c[d];
  }
  return len_out;
}

// Decimal digits (no leading zeros) to a 64-bit magnitude; false beyond.
bool digits_u64(std::string_view digits, uint64_t& v) {
  v = 0;
  if (digits.size() > 20) return false;
  for (const char ch : digits) {
    const uint64_t d = static_cast<uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  return true;
}

// Sets an integer node from its sign and decimal magnitude: int_value when it
// fits in 64 bits, else `big` with the digits (int_value saturated).
void set_int(Node& n, bool negative, std::string_view digits) {
  uint64_t mag;
  const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  n.negative = negative && !(digits.size() == 1 && digits[0] == '0');
  if (digits_u64(digits, mag) && mag <= limit) {
    n.int_value = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
    return;
  }
  n.big = true;
  n.text = digits;
  n.int_value = negative ? INT64_MIN : INT64_MAX;
}

// Significant digits handed to strtod: a double's nearest value is decided
// by its first 768 significant digits (the longest exact halfway case has 767),
// so longer coefficients are cut to this many plus one sticky non-zero digit;
// strtod's work per value is then bounded whatever the input's length.
constexpr size_t kMaxStrtodDigits = 780;

// The double nearest to ±digits × 10^exponent (digits without leading zeros).
// buf needs kMaxStrtodDigits + 32 bytes.
// Exact fast path (Clinger): a coefficient below 2^53 and a power of ten
// that is itself exact round once, correctly. Most values take it.
bool fast_double(bool negative, std::string_view digits, int64_t exponent, double& out) {
  if (digits == "0") {
    out = negative ? -0.0 : 0.0;
    return true;
  }
  if (digits.size() <= 15 && exponent >= -22 && exponent <= 22) {
    static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t c = 0;
    for (const char ch : digits) c = c * 10 + static_cast<uint64_t>(ch - '0');
    double v = static_cast<double>(c);
    v = exponent < 0 ? v / kPow10[-exponent] : v * kPow10[exponent];
    out = negative ? -v : v;
    return true;
  }
  return false;
}

double decimal_to_double(bool negative, std::string_view digits, int64_t exponent, char* buf, size_t cap) {
  if (cap < kMaxStrtodDigits + 32) return 0.0;
  size_t k = 0;
  if (negative) buf[k++] = '-';
  if (digits.size() > kMaxStrtodDigits) {
    const bool sticky = digits.find_first_not_of('0', kMaxStrtodDigits) != std::string_view::npos;
    exponent += static_cast<int64_t>(digits.size() - kMaxStrtodDigits);
    digits = digits.substr(0, kMaxStrtodDigits);
    std::memcpy(buf + k, digits.data(), digits.size());
    k += digits.size();
    if (sticky) {
      buf[k++] = '1';
      --exponent;
    }
  } else {
    std::memcpy(buf + k, digits.data(), digits.size());
    k += digits.size();
  }
  // Beyond ±10^6 every double is 0 or infinite; clamping keeps the text short.
  if (exponent > 1000000) exponent = 1000000;
  if (exponent < -1000000) exponent = -1000000;
  std::snprintf(buf + k, cap - k, "e%lld", static_cast<long long>(exponent));
  return std::strtod(buf, nullptr);
}

// ---------------------------------------------------------------- symbol tables

// Symbol IDs [first_sid, first_sid + count) imported from one shared table.
// Imports take no memory per symbol: max_id may be large (ion-tests declare
// 2^31), and IDs are looked up by binary search over the ranges.
struct ImportRange {
  uint64_t first_sid;
  uint64_t count;
  const SharedTable* known;  // the catalogue's table, or nullptr
  std::string_view name;
  uint32_t version;
};

class Reader {
 protected:
  Reader(const Byte* s, size_t n, Arena& arena, std::span<const SharedTable> catalogue)
      : s_(s), n_(n), arena_(arena), catalogue_(catalogue) {}

  const Byte* s_;
  size_t n_;
  Arena& arena_;
  std::span<const SharedTable> catalogue_;
  ParseResult result_{Error::kNone, 0, 0, {}};
  // The current symbol table: system symbols, imports, then locals.
  const ImportRange* imports_ = nullptr;
  size_t num_imports_ = 0;
  const std::string_view* locals_ = nullptr;  // kUnknownText for slots without text
  size_t num_locals_ = 0;
  uint64_t first_local_ = kNumSystemSymbols + 1;  // ID of locals_[0]
  size_t slots_used_ = 0;                         // local slots allocated, against kMaxSymbolSlots
  uint64_t digit_work_ = 0;                       // limb divisions spent on digits, against kMaxDigitWork
  size_t num_values_ = 0;                         // nodes allocated, against kMaxValues
  size_t slow_numbers_ = 0;                       // strtod calls, against kMaxSlowNumbers

  // Charges the conversion of an n-byte magnitude to decimal digits (n/4
  // limbs divided once per 9 digits) to the document's budget, before the
  // work is done.
  bool charge_digits(size_t len, size_t at) {
    const uint64_t work = (len / 4 + 1) * (len * 241 / 900 + 1);
    digit_work_ += work;
    if (digit_work_ > kMaxDigitWork) {
      return fail_detail(Error::kIntOutOfRange, at,
                         "big numbers need more than %llu steps to turn into digits in this document",
                         static_cast<unsigned long long>(kMaxDigitWork));
    }
    return true;
  }

  bool fail(Error e, size_t at) {
    if (result_.error == Error::kNone) {
      result_.error = e;
      result_.offset = at < n_ ? at : n_;
    }
    return false;
  }
  template <typename... Args>
  bool fail_detail(Error e, size_t at, const char* fmt, Args... args) {
    if (result_.error != Error::kNone) return false;
    fail(e, at);
    std::snprintf(result_.detail, sizeof result_.detail, fmt, args...);
    return false;
  }

  Node* alloc(Type type, size_t at) {
    if (++num_values_ > kMaxValues) {
      fail_detail(Error::kTooManyValues, at, "more than %zu values in one document", kMaxValues);
      return nullptr;
    }
    Node* n = new_node(arena_, type, at);
    if (n == nullptr) fail(Error::kOutOfMemory, at);
    return n;
  }

  // float_value of a decimal or float: exact fast path, else strtod within
  // the document's kMaxSlowNumbers.
  bool to_double(Node& n, bool negative, std::string_view digits, int64_t exponent, size_t at) {
    if (fast_double(negative, digits, exponent, n.float_value)) return true;
    if (++slow_numbers_ > kMaxSlowNumbers) {
      return fail_detail(Error::kBadNumber, at, "more than %zu numbers need a slow exact conversion", kMaxSlowNumbers);
    }
    char buf[kMaxStrtodDigits + 32];
    n.float_value = decimal_to_double(negative, digits, exponent, buf, sizeof buf);
    return true;
  }

  // An integer from its sign and big-endian magnitude: int_value when it
  // fits in 64 bits, else `big` with the decimal digits in the arena.
  __attribute__((noinline)) bool int_from_magnitude(Node& n, bool negative, const Byte* mag, size_t len, size_t at) {
    while (len > 0 && mag[0] == 0) {
      ++mag;
      --len;
    }
    n.negative = negative && len > 0;
    if (len <= 8) {
      uint64_t v = 0;
      for (size_t i = 0; i < len; ++i) v = (v << 8) | mag[i];
      const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
      if (v <= limit) {
        n.int_value = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
        return true;
      }
    }
    if (len > kMaxIntBytes) {
      return fail_detail(Error::kIntOutOfRange, at, "more than %zu bytes of magnitude", kMaxIntBytes);
    }
    if (!charge_digits(len, at)) return false;
    char digits[kDigitsBuffer];
    const size_t num = magnitude_digits(mag, len, digits);
    char* text = static_cast<char*>(arena_.alloc(num, 1));
    if (text == nullptr) return fail(Error::kOutOfMemory, at);
    std::memcpy(text, digits, num);
    n.big = true;
    n.text = std::string_view(text, num);
    n.int_value = negative ? INT64_MIN : INT64_MAX;
    return true;
  }

  void reset_symbols() {
    imports_ = nullptr;
    num_imports_ = 0;
    locals_ = nullptr;
    num_locals_ = 0;
    first_local_ = kNumSystemSymbols + 1;
  }

  // Text of symbol ID `sid`; $0 and declared-without-text slots give the
  // unknown-text marker. Symbols of shared tables we do not have, and IDs
  // beyond the table, are errors naming where they came from. O(log imports).
  bool symbol_text(uint64_t sid, size_t at, std::string_view& text) {
    if (sid == 0) {
      text = kUnknownText;
      return true;
    }
    if (sid <= kNumSystemSymbols) {
      text = kSystemSymbols[sid - 1];
      return true;
    }
    if (sid >= first_local_) {
      if (sid - first_local_ < num_locals_) {
        text = locals_[sid - first_local_];
        return true;
      }
      fail(Error::kUnknownSymbol, at);
      result_.symbol_id = static_cast<uint32_t>(sid > 0xFFFFFFFFu ? 0xFFFFFFFFu : sid);
      std::snprintf(result_.detail, sizeof result_.detail, "beyond the symbol table (%llu symbols)",
                    static_cast<unsigned long long>(first_local_ + num_locals_ - 1));
      return false;
    }
    size_t lo = 0, hi = num_imports_;  // the range holding sid: last first_sid <= sid
    while (hi - lo > 1) {
      const size_t mid = lo + (hi - lo) / 2;
      (imports_[mid].first_sid <= sid ? lo : hi) = mid;
    }
    const ImportRange& r = imports_[lo];
    const uint64_t index = sid - r.first_sid;
    if (r.known != nullptr && index < r.known->symbols.size()) {
      text = r.known->symbols[index];
      return true;
    }
    fail(Error::kUnknownSymbol, at);
    result_.symbol_id = static_cast<uint32_t>(sid > 0xFFFFFFFFu ? 0xFFFFFFFFu : sid);
    std::snprintf(result_.detail, sizeof result_.detail,
                  "imported from shared table '%.*s' version %u, whose text is not known",
                  static_cast<int>(r.name.size() > 40 ? 40 : r.name.size()), r.name.data(), r.version);
    return false;
  }

  // A top-level struct whose first annotation is $ion_symbol_table is a local
  // symbol table, not a value.
  static bool is_symbol_table(const Node& v) {
    return v.type == Type::kStruct && v.num_annotations > 0 && v.annotations[0] == "$ion_symbol_table" &&
           !text_unknown(v.annotations[0]);
  }

  static const Node* field(const Node& s, std::string_view name) {
    for (const Node* f = s.first_child; f != nullptr; f = f->next_sibling) {
      if (f->field_name == name && !text_unknown(f->field_name)) return f;
    }
    return nullptr;
  }
  static std::string_view import_name(const Node& imp) {
    const Node* f = field(imp, "name");
    return f != nullptr && f->type == Type::kString && !f->is_null ? f->text : std::string_view{};
  }
  static uint32_t import_version(const Node& imp) {
    const Node* f = field(imp, "version");
    if (f == nullptr || f->type != Type::kInt || f->is_null || f->big || f->int_value < 1) return 1;
    return f->int_value > 0xFFFFFFF ? 0xFFFFFFF : static_cast<uint32_t>(f->int_value);
  }
  const SharedTable* find_import(std::string_view name, uint32_t version) const {
    for (const SharedTable& t : catalogue_) {
      if (t.name == name && t.version == version) return &t;
    }
    return nullptr;
  }

  // Symbol IDs an import occupies (Ion 1.0: max_id, or the known table's
  // size). An import without a usable name (or of $ion) takes none; one of an
  // unknown table needs a non-negative integer max_id.
  bool import_size(const Node& imp, uint64_t& max_id) {
    max_id = 0;
    if (imp.type != Type::kStruct || imp.is_null) return true;
    const std::string_view name = import_name(imp);
    if (name.empty() || name == "$ion") return true;
    const Node* m = field(imp, "max_id");
    if (m != nullptr && m->type == Type::kInt && !m->is_null) {
      if (m->negative) return fail_detail(Error::kBadSymbolTable, m->offset, "import max_id is negative");
      if (m->big || static_cast<uint64_t>(m->int_value) > kMaxSymbolId) {
        return fail_detail(Error::kTooManySymbols, m->offset, "import max_id beyond %llu",
                           static_cast<unsigned long long>(kMaxSymbolId));
      }
      max_id = static_cast<uint64_t>(m->int_value);
      return true;
    }
    const SharedTable* known = find_import(name, import_version(imp));
    if (known == nullptr) {
      return fail_detail(Error::kBadSymbolTable, imp.offset,
                         "import of unknown shared table '%.*s' without an integer max_id",
                         static_cast<int>(name.size() > 40 ? 40 : name.size()), name.data());
    }
    max_id = known->symbols.size();
    return true;
  }

  // Applies a local symbol table (Ion 1.0 "Symbols"): `imports` is a list of
  // shared-table imports or the symbol $ion_symbol_table (append to the
  // current table); `symbols` lists the new symbols (a non-string declares a
  // symbol without text). Each field may appear once; other fields and other
  // types are ignored. Memory: one ImportRange per import and 16 bytes per
  // local symbol, both backed by input bytes, except the locals an append
  // copies from the previous table (bounded in all by kMaxSymbolSlots).
  bool load_symbol_table(const Node& table) {
    if (table.is_null) {
      reset_symbols();
      return true;
    }
    const Node* imports = nullptr;
    const Node* symbols = nullptr;
    for (const Node* f = table.first_child; f != nullptr; f = f->next_sibling) {
      if (text_unknown(f->field_name)) continue;
      const Node** slot = f->field_name == "imports" ? &imports : f->field_name == "symbols" ? &symbols : nullptr;
      if (slot == nullptr) continue;
      if (*slot != nullptr) {
        return fail_detail(Error::kBadSymbolTable, f->offset, "field '%.*s' appears twice",
                           static_cast<int>(f->field_name.size()), f->field_name.data());
      }
      *slot = f;
    }
    const bool append = imports != nullptr && imports->type == Type::kSymbol && !imports->is_null &&
                        imports->text == "$ion_symbol_table";
    const bool import_list = imports != nullptr && imports->type == Type::kList && !imports->is_null;
    const bool symbol_list = symbols != nullptr && symbols->type == Type::kList && !symbols->is_null;

    const ImportRange* ranges = append ? imports_ : nullptr;
    size_t num_ranges = append ? num_imports_ : 0;
    uint64_t first_local = append ? first_local_ : kNumSystemSymbols + 1;
    if (import_list) {
      size_t count = 0;
      for (const Node* imp = imports->first_child; imp != nullptr; imp = imp->next_sibling) {
        uint64_t max_id;
        if (!import_size(*imp, max_id)) return false;
        if (max_id > 0) ++count;
      }
      auto* out = static_cast<ImportRange*>(arena_.alloc(sizeof(ImportRange) * count, alignof(ImportRange)));
      if (out == nullptr && count > 0) return fail(Error::kOutOfMemory, imports->offset);
      for (const Node* imp = imports->first_child; imp != nullptr; imp = imp->next_sibling) {
        uint64_t max_id;
        import_size(*imp, max_id);
        if (max_id == 0) continue;
        const std::string_view name = import_name(*imp);
        const uint32_t version = import_version(*imp);
        out[num_ranges++] = ImportRange{first_local, max_id, find_import(name, version), name, version};
        first_local += max_id;
        if (first_local > kMaxSymbolId) {
          return fail_detail(Error::kTooManySymbols, imp->offset, "imports declare more than %llu symbol IDs",
                             static_cast<unsigned long long>(kMaxSymbolId));
        }
      }
      ranges = out;
    }
    const size_t kept = append ? num_locals_ : 0;
    const size_t count = kept + (symbol_list ? symbols->num_children : 0);
    if (count > kMaxSymbols) {
      return fail_detail(Error::kTooManySymbols, table.offset, "more than %zu local symbols", kMaxSymbols);
    }
    slots_used_ += count;
    if (slots_used_ > kMaxSymbolSlots) {
      return fail_detail(Error::kTooManySymbols, table.offset, "symbol tables declare more than %zu symbols in all",
                         kMaxSymbolSlots);
    }
    auto* locals = static_cast<std::string_view*>(arena_.alloc(sizeof(std::string_view) * count, alignof(std::string_view)));
    if (locals == nullptr && count > 0) return fail(Error::kOutOfMemory, table.offset);
    for (size_t i = 0; i < kept; ++i) locals[i] = locals_[i];
    size_t next = kept;
    if (symbol_list) {
      for (const Node* sym = symbols->first_child; sym != nullptr; sym = sym->next_sibling) {
        locals[next++] = sym->type == Type::kString && !sym->is_null ? sym->text : kUnknownText;
      }
    }
    imports_ = ranges;
    num_imports_ = num_ranges;
    locals_ = locals;
    num_locals_ = count;
    first_local_ = first_local;
    return true;
  }
};

// ---------------------------------------------------------------- text reader

class TextReader : Reader {
 public:
  TextReader(std::string_view text, Arena& arena, std::span<const SharedTable> catalogue)
      : Reader(reinterpret_cast<const Byte*>(text.data()), text.size(), arena, catalogue) {}

  ParseResult run(Document& out) {
    out = Document{nullptr, 0};
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
    return Sink{reinterpret_cast<char*>(arena_.base + arena_.used), arena_.cap - arena_.used, 0};
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

  bool escape(Sink& sink, bool ascii_only) {
    const size_t start = pos_;
    ++pos_;  // backslash
    if (pos_ >= n_) {
      fail(Error::kTruncated, start);
      return false;
    }
    const Byte c = s_[pos_++];
    char ch;
    switch (c) {
      case '0': ch = 0; break;
      case 'a': ch = '\a'; break;
      case 'b': ch = '\b'; break;
      case 't': ch = '\t'; break;
      case 'n': ch = '\n'; break;
      case 'f': ch = '\f'; break;
      case 'r': ch = '\r'; break;
      case 'v': ch = '\v'; break;
      case '"': ch = '"'; break;
      case '\'': ch = '\''; break;
      case '?': ch = '?'; break;
      case '\\': ch = '\\'; break;
      case '/': ch = '/'; break;
      case '\n': return true;  // line continuation
      case '\r':
        if (at(pos_, '\n')) ++pos_;
        return true;
      case 'x':
      case 'u':
      case 'U': {
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
        if (cp >= 0xD800 && cp <= 0xDBFF && c == 'u' && starts(pos_, "\\u")) {
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
          len = put_utf8(cp, buf);
        }
        if (!sink.put(buf, len)) {
          fail(Error::kOutOfMemory, start);
          return false;
        }
        return true;
      }
      default: fail(Error::kBadString, start); return false;
    }
    if (!sink.put(&ch, 1)) {
      fail(Error::kOutOfMemory, start);
      return false;
    }
    return true;
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
      if (!is_digit(static_cast<Byte>(text[i]))) return true;
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
    while (i < w.size() && is_digit(static_cast<Byte>(w[i]))) ++i;
    if (i == major || i >= w.size() || w[i] != '_') return false;
    const size_t minor = ++i;
    while (i < w.size() && is_digit(static_cast<Byte>(w[i]))) ++i;
    return i > minor && i == w.size();
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
        static constexpr std::string_view kNames[] = {"null", "bool", "int", "float", "decimal", "timestamp",
                                                      "symbol", "string", "clob", "blob", "list", "sexp", "struct"};
        bool found = false;
        for (size_t i = 0; i < 13 && !found; ++i) {
          if (t == kNames[i]) {
            type = static_cast<Type>(i);
            found = true;
          }
        }
        if (!found) return fail(Error::kUnexpected, t0);
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
    // Timestamps: four digits then '-' or 'T'.
    if (tok.size() >= 5 && is_digit(tok[0]) && is_digit(tok[1]) && is_digit(tok[2]) && is_digit(tok[3]) &&
        (tok[4] == '-' || tok[4] == 'T')) {
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
    size_t i = 0;
    const bool negative = tok[0] == '-';
    if (negative) ++i;
    Node* n = alloc(Type::kInt, start);  // before the sink: alloc takes the arena top
    if (n == nullptr) return nullptr;
    if (i + 1 < tok.size() && tok[i] == '0' && ((tok[i + 1] | 0x20) == 'x' || (tok[i + 1] | 0x20) == 'b')) {
      return radix_int(*n, tok, i + 2, (tok[i + 1] | 0x20) == 'x' ? 4 : 1, negative, start);
    }
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
      set_int(*n, negative, digits);
      if (n->big) n->text = commit(sink);
      return n;
    }
    size_t frac_digits = 0;
    if (tok[i] == '.') {
      ++i;
      const size_t before = sink.len;
      if (i < tok.size() && is_digit(static_cast<Byte>(tok[i]))) {
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
      bool exp_negative = false;
      if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) exp_negative = tok[i++] == '-';
      // Saturates far beyond any exponent we keep (decimals: 32 bits).
      auto put_exp = [&](Byte c) {
        if (exp < (int64_t{1} << 40)) exp = exp * 10 + (c - '0');
        return true;
      };
      if (!digit_run(tok, i, dec, put_exp)) return fail(Error::kBadNumber, start);
      if (exp_negative) exp = -exp;
    }
    if (i != tok.size()) return fail(Error::kBadNumber, start);
    std::string_view coef(sink.base, sink.len);
    while (coef.size() > 1 && coef[0] == '0') coef.remove_prefix(1);
    const int64_t exponent = exp - static_cast<int64_t>(frac_digits);
    n->negative = negative;
    if (is_float) {
      n->type = Type::kFloat;
      n->negative = false;
      return Reader::to_double(*n, negative, coef, exponent, start) ? n : nullptr;
    }
    if (exponent < INT32_MIN || exponent > INT32_MAX) {
      fail(Error::kIntOutOfRange, start);
      std::snprintf(result_.detail, sizeof result_.detail, "decimal exponent beyond 32 bits");
      return nullptr;
    }
    n->type = Type::kDecimal;
    n->exponent = static_cast<int32_t>(exponent);
    commit(sink);
    n->text = coef;
    return Reader::to_double(*n, negative, coef, exponent, start) ? n : nullptr;
  }

  // float_value from the digits, using the free arena above `skip` bytes of
  // the sink as scratch.

  std::nullptr_t too_many_digits(size_t start) {
    fail_detail(Error::kIntOutOfRange, start, "more than %zu bytes of magnitude", kMaxIntBytes);
    return nullptr;
  }

  // 0x / 0b integers: digits to a big-endian magnitude, then as binary ints.
  __attribute__((noinline)) Node* radix_int(Node& n, std::string_view tok, size_t i, unsigned bits_per_digit, bool negative, size_t start) {
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
    } else {
      // RFC 4648 §4 base64 with padding; whitespace allowed between characters.
      uint32_t acc = 0;
      int bits = 0;
      size_t chars = 0, pad = 0;
      while (pos_ < n_ && s_[pos_] != '}') {
        const Byte c = s_[pos_];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (is_digit(c)) v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else if (c == '=') v = -1;
        else if (is_ws(c)) { ++pos_; continue; }
        else return fail(Error::kBadBlob, pos_);
        if (v < 0) {
          ++pad;
        } else {
          if (pad > 0) return fail(Error::kBadBlob, pos_);
          acc = (acc << 6) | static_cast<uint32_t>(v);
          bits += 6;
          if (bits >= 8) {
            bits -= 8;
            const char b = static_cast<char>((acc >> bits) & 0xFF);
            if (!sink.put(&b, 1)) return fail(Error::kOutOfMemory, pos_);
          }
        }
        ++chars;
        ++pos_;
      }
      if (chars % 4 != 0 || pad > 2) return fail(Error::kBadBlob, start);
    }
    if (!starts(pos_, "}}")) return pos_ >= n_ ? fail(Error::kTruncated, start) : fail(Error::kBadBlob, pos_);
    pos_ += 2;
    n->type = type;
    n->text = commit(sink);
    return n;
  }
};

// ---------------------------------------------------------------- binary reader

class BinaryReader : Reader {
 public:
  BinaryReader(std::string_view bytes, Arena& arena, std::span<const SharedTable> catalogue)
      : Reader(reinterpret_cast<const Byte*>(bytes.data()), bytes.size(), arena, catalogue) {}

  ParseResult run(Document& out) {
    out = Document{nullptr, 0};
    if (!looks_like_binary(std::string_view(reinterpret_cast<const char*>(s_), n_))) {
      fail(Error::kBadVersionMarker, 0);
      return result_;
    }
    Node* last = nullptr;
    size_t pos = 0;
    while (pos < n_) {
      if (s_[pos] == 0xE0) {
        if (pos + 4 > n_ || std::memcmp(s_ + pos, kVersionMarker, 4) != 0) {
          fail(Error::kBadVersionMarker, pos);
          return result_;
        }
        reset_symbols();
        pos += 4;
        continue;
      }
      Node* v = nullptr;
      if (!read_value(pos, n_, 0, v)) return result_;
      if (v == nullptr) continue;  // NOP padding
      if (is_symbol_table(*v)) {
        if (!load_symbol_table(*v)) return result_;
        continue;
      }
      append_top_level(out, last, v);
    }
    return result_;
  }

 private:
  bool varuint(size_t& pos, size_t end, uint64_t& v) {
    v = 0;
    for (;;) {
      if (pos >= end) return fail(pos >= n_ ? Error::kTruncated : Error::kBadLength, pos);
      const Byte b = s_[pos++];
      if (v > (UINT64_MAX >> 7)) return fail(Error::kIntOutOfRange, pos - 1);
      v = (v << 7) | (b & 0x7F);
      if (b & 0x80) return true;
    }
  }

  // VarInt: sign in bit 6 of the first byte. `negative_zero` reports -0
  // (the timestamp "unknown offset" encoding).
  bool varint(size_t& pos, size_t end, int64_t& v, bool* negative_zero = nullptr) {
    if (pos >= end) return fail(pos >= n_ ? Error::kTruncated : Error::kBadLength, pos);
    Byte b = s_[pos++];
    const bool negative = (b & 0x40) != 0;
    uint64_t mag = b & 0x3F;
    while (!(b & 0x80)) {
      if (pos >= end) return fail(pos >= n_ ? Error::kTruncated : Error::kBadLength, pos);
      b = s_[pos++];
      if (mag > (uint64_t{INT64_MAX} >> 7)) return fail(Error::kIntOutOfRange, pos - 1);
      mag = (mag << 7) | (b & 0x7F);
    }
    v = negative ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
    if (negative_zero != nullptr) *negative_zero = negative && mag == 0;
    return true;
  }

  // UInt field of len bytes, big-endian; leading zero bytes allowed.
  bool uint_field(size_t pos, size_t len, uint64_t& v) {
    v = 0;
    for (size_t i = 0; i < len; ++i) {
      if (v >> 56) return fail(Error::kIntOutOfRange, pos + i);
      v = (v << 8) | s_[pos + i];
    }
    return true;
  }

  // Int field: sign-and-magnitude, sign in the top bit of the first byte.
  bool int_field(size_t pos, size_t len, int64_t& v) {
    if (len == 0) {
      v = 0;
      return true;
    }
    uint64_t mag = s_[pos] & 0x7F;
    const bool negative = (s_[pos] & 0x80) != 0;
    for (size_t i = 1; i < len; ++i) {
      if (mag >> 55) return fail(Error::kIntOutOfRange, pos + i);
      mag = (mag << 8) | s_[pos + i];
    }
    v = negative ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
    return true;
  }

  // Reads the type descriptor and length at pos; on success pos is at the
  // value's body, which spans len bytes. L=15 gives is_null.
  bool header(size_t& pos, size_t end, Byte& type, size_t& len, bool& is_null) {
    const size_t at = pos;
    if (pos >= end) return fail(pos >= n_ ? Error::kTruncated : Error::kBadLength, pos);
    const Byte td = s_[pos++];
    type = td >> 4;
    const Byte l = td & 0x0F;
    is_null = false;
    if (type == 0xF) return fail(Error::kBadTypeCode, at);
    if (l == 15) {
      if (type == 0xE) return fail(Error::kBadTypeCode, at);
      is_null = true;
      len = 0;
      return true;
    }
    if (type == 0x1) {
      if (l > 1) return fail(Error::kBadTypeCode, at);
      len = 0;
      return true;
    }
    uint64_t v = l;
    if (l == 14 || (type == 0xD && l == 1)) {
      if (!varuint(pos, end, v)) return false;
      if (type == 0xD && l == 1 && v == 0) return fail(Error::kBadTypeCode, at);  // empty sorted struct
    }
    if (type == 0xE && l == 0) return fail(Error::kBadTypeCode, at);
    if (v > end - pos) return fail(end >= n_ ? Error::kTruncated : Error::kBadLength, at);
    len = static_cast<size_t>(v);
    return true;
  }

  bool read_value(size_t& pos, size_t end, size_t depth, Node*& out) {
    out = nullptr;
    const size_t at = pos;
    Byte type;
    size_t len;
    bool is_null;
    if (!header(pos, end, type, len, is_null)) return false;
    const size_t body = pos;
    pos = body + len;
    if (type == 0xE) {
      // Annotation wrapper: annot_length, annotation SIDs, exactly one value.
      size_t p = body;
      const size_t wrapper_end = body + len;
      uint64_t annot_len;
      if (!varuint(p, wrapper_end, annot_len)) return false;
      if (annot_len == 0 || annot_len > wrapper_end - p) return fail(Error::kBadLength, at);
      const size_t annot_end = p + static_cast<size_t>(annot_len);
      AnnotationBuffer buf;
      std::string_view* annots = buf.v;
      size_t num = 0;
      while (p < annot_end) {
        uint64_t sid;
        const size_t sid_at = p;
        if (!varuint(p, annot_end, sid)) return false;
        if (num == kMaxAnnotations) return fail(Error::kTooManyAnnotations, sid_at);
        if (!symbol_text(sid, sid_at, annots[num])) return false;
        ++num;
      }
      if (p >= wrapper_end) return fail(Error::kBadLength, at);
      const Byte inner = s_[p] >> 4;
      if (inner == 0xE || (inner == 0x0 && (s_[p] & 0x0F) != 0x0F)) return fail(Error::kBadTypeCode, p);
      Node* v = nullptr;
      if (!read_value(p, wrapper_end, depth, v)) return false;
      if (p != wrapper_end) return fail(Error::kBadLength, p);
      if (!copy_annotations(arena_, v, annots, num)) return fail(Error::kOutOfMemory, at);
      out = v;
      return true;
    }
    static constexpr Type kTypes[] = {Type::kNull,      Type::kBool,   Type::kInt,    Type::kInt,
                                      Type::kFloat,     Type::kDecimal, Type::kTimestamp, Type::kSymbol,
                                      Type::kString,    Type::kClob,   Type::kBlob,   Type::kList,
                                      Type::kSexp,      Type::kStruct};
    if (type == 0x0 && !is_null) return true;  // NOP padding: no value
    Node* n = alloc(kTypes[type], at);
    if (n == nullptr) return false;
    out = n;
    if (is_null) {
      n->is_null = true;
      return true;
    }
    switch (type) {
      case 0x1: n->bool_value = (s_[at] & 0x0F) == 1; return true;
      case 0x2:
      case 0x3: {
        size_t p = body;
        while (p < body + len && s_[p] == 0) ++p;  // leading zero bytes
        if (type == 0x3 && p == body + len) return fail(Error::kBadTypeCode, at);  // negative zero int
        return int_from_magnitude(*n, type == 0x3, s_ + p, body + len - p, at);
      }
      case 0x4: {
        if (len == 0) {
          n->float_value = 0.0;
        } else if (len == 4) {
          uint64_t bits;
          uint_field(body, 4, bits);
          const uint32_t b32 = static_cast<uint32_t>(bits);
          float f;
          std::memcpy(&f, &b32, 4);
          n->float_value = f;
        } else if (len == 8) {
          uint64_t bits = 0;
          for (size_t i = 0; i < 8; ++i) bits = (bits << 8) | s_[body + i];
          std::memcpy(&n->float_value, &bits, 8);
        } else {
          return fail(Error::kBadTypeCode, at);
        }
        return true;
      }
      case 0x5: return decimal(body, len, at, *n);
      case 0x6: return timestamp(body, len, at, *n);
      case 0x7: {
        size_t p = body;
        while (p < body + len && s_[p] == 0) ++p;  // leading zero bytes
        uint64_t sid;
        if (body + len - p > 8 || !uint_field(p, body + len - p, sid)) return fail(Error::kIntOutOfRange, at);
        return symbol_text(sid, at, n->text);
      }
      case 0x8:
        if (!valid_utf8(s_ + body, len)) return fail(Error::kBadUtf8, body);
        n->text = std::string_view(reinterpret_cast<const char*>(s_ + body), len);
        return true;
      case 0x9:
      case 0xA: n->text = std::string_view(reinterpret_cast<const char*>(s_ + body), len); return true;
      case 0xB:
      case 0xC:
      case 0xD: {
        if (depth + 1 > kMaxDepth) return fail(Error::kTooDeep, at);
        size_t p = body;
        const size_t cend = body + len;
        Node* last = nullptr;
        while (p < cend) {
          std::string_view name;
          if (type == 0xD) {
            uint64_t sid;
            const size_t sid_at = p;
            if (!varuint(p, cend, sid)) return false;
            // A NOP pad may stand as a field value; its field name is not read.
            if (p < cend && (s_[p] >> 4) == 0 && (s_[p] & 0x0F) != 0x0F) {
              Node* pad;
              if (!read_value(p, cend, depth + 1, pad)) return false;
              continue;
            }
            if (!symbol_text(sid, sid_at, name)) return false;
          }
          Node* child;
          if (!read_value(p, cend, depth + 1, child)) return false;
          if (child == nullptr) continue;
          child->field_name = name;
          if (last == nullptr) {
            n->first_child = child;
          } else {
            last->next_sibling = child;
          }
          last = child;
          ++n->num_children;
        }
        return true;
      }
      default: return fail(Error::kBadTypeCode, at);
    }
  }

  // Ion binary decimal: exponent VarInt, then coefficient Int (may be -0).
  __attribute__((noinline)) bool decimal(size_t body, size_t len, size_t at, Node& n) {
    n.text = "0";
    if (len == 0) return true;  // 0d0
    size_t p = body;
    int64_t exponent;
    if (!varint(p, body + len, exponent)) return false;
    if (exponent < INT32_MIN || exponent > INT32_MAX) {
      return fail_detail(Error::kIntOutOfRange, at, "decimal exponent beyond 32 bits");
    }
    n.exponent = static_cast<int32_t>(exponent);
    if (!int_field_digits(p, body + len, at, n.negative, n.text)) return false;
    return to_double(n, n.negative, n.text, exponent, at);
  }

  // An Int field (sign and magnitude, -0 allowed) from p to end as decimal
  // digits in the arena ("0" when empty).
  __attribute__((noinline)) bool int_field_digits(size_t p, size_t end, size_t at, bool& negative, std::string_view& digits) {
    negative = false;
    digits = "0";
    if (p >= end) return true;
    negative = (s_[p] & 0x80) != 0;
    Byte mag[kMaxIntBytes];
    size_t q = p;
    if ((s_[q] & 0x7F) == 0) {
      ++q;
      while (q < end && s_[q] == 0) ++q;  // leading zero bytes
    }
    const size_t len = end - q;
    if (len > kMaxIntBytes) {
      return fail_detail(Error::kIntOutOfRange, at, "more than %zu bytes of magnitude", kMaxIntBytes);
    }
    for (size_t k = 0; k < len; ++k) mag[k] = q + k == p ? (s_[q + k] & 0x7F) : s_[q + k];
    if (len > 8 && !charge_digits(len, at)) return false;
    char buf[kDigitsBuffer];
    const size_t num = magnitude_digits(mag, len, buf);
    if (num == 1 && buf[0] == '0') return true;
    char* t = static_cast<char*>(arena_.alloc(num, 1));
    if (t == nullptr) return fail(Error::kOutOfMemory, at);
    std::memcpy(t, buf, num);
    digits = std::string_view(t, num);
    return true;
  }

  // Ion binary timestamp: offset VarInt, year VarUInt, then optional month,
  // day, hour+minute, second VarUInts, fraction exponent VarInt and
  // coefficient Int. Fields are UTC; the offset is metadata (ignored below
  // minute precision, where the offset is unknown by definition).
  __attribute__((noinline)) bool timestamp(size_t body, size_t len, size_t at, Node& n) {
    size_t p = body;
    const size_t end = body + len;
    int64_t offset;
    bool unknown_offset;
    if (!varint(p, end, offset, &unknown_offset)) return false;
    Fields f;
    uint64_t v;
    if (!varuint(p, end, v)) return false;
    f.year = static_cast<unsigned>(v > 100000 ? 100000 : v);
    f.precision = Precision::kYear;
    auto next = [&](unsigned& field) {
      if (!varuint(p, end, v)) return false;
      field = static_cast<unsigned>(v > 100000 ? 100000 : v);
      return true;
    };
    if (p < end) {
      if (!next(f.month)) return false;
      f.precision = Precision::kMonth;
    }
    if (p < end) {
      if (!next(f.day)) return false;
      f.precision = Precision::kDay;
    }
    if (p < end) {
      if (!next(f.hour)) return false;
      if (p >= end) return fail(Error::kBadTimestamp, at);  // hour without minute
      if (!next(f.minute)) return false;
      f.precision = Precision::kMinute;
    }
    if (p < end) {
      if (!next(f.second)) return false;
      f.precision = Precision::kSecond;
    }
    if (p < end) {
      // Fraction = coefficient × 10^exponent, in [0, 1). A zero coefficient
      // with exponent ≥ 0 is no fraction at all (0d0 == whole seconds).
      int64_t exp;
      if (!varint(p, end, exp)) return false;
      bool negative;
      std::string_view digits;
      if (!int_field_digits(p, end, at, negative, digits)) return false;
      const bool zero = digits == "0";
      if (!zero && (negative || exp >= 0 || static_cast<uint64_t>(-exp) < digits.size())) {
        return fail_detail(Error::kBadTimestamp, at, "fraction of a second not in [0, 1)");
      }
      if (exp < 0) {
        if (exp < INT32_MIN) return fail_detail(Error::kBadTimestamp, at, "fraction precision beyond 32 bits");
        n.text = digits;
        n.exponent = static_cast<int32_t>(exp);
        f.nanos = fraction_nanos(digits, static_cast<uint64_t>(-exp));
        f.precision = Precision::kFraction;
      }
    }
    if (f.precision < Precision::kMinute) unknown_offset = true;
    if (!unknown_offset) {
      if (offset <= -24 * 60 || offset >= 24 * 60) return fail(Error::kBadTimestamp, at);
      f.offset_min = static_cast<int>(offset);
    }
    if (!fields_valid(f)) return fail(Error::kBadTimestamp, at);
    n.timestamp = to_timestamp(f, false);
    n.timestamp.offset_unknown = unknown_offset;
    return true;
  }
};

}  // namespace

void* Arena::alloc(size_t bytes, size_t align) {
  const uintptr_t top = reinterpret_cast<uintptr_t>(base) + used;
  const size_t pad = (align - top % align) % align;
  if (pad > cap - used || bytes > cap - used - pad) return nullptr;
  void* p = base + used + pad;
  used += pad + bytes;
  return p;
}

const char* type_name(Type type) {
  static constexpr const char* kNames[] = {"null",   "bool",   "int",  "float", "decimal", "timestamp", "symbol",
                                           "string", "clob",   "blob", "list",  "sexp",    "struct"};
  const auto i = static_cast<size_t>(type);
  return i < 13 ? kNames[i] : "unknown";
}

const char* error_message(Error error) {
  switch (error) {
    case Error::kNone: return "ok";
    case Error::kOutOfMemory: return "out of space for the parsed document";
    case Error::kTooDeep: return "nesting too deep";
    case Error::kTooManyAnnotations: return "too many annotations on one value";
    case Error::kUnexpected: return "unexpected character";
    case Error::kTruncated: return "input ends inside a value";
    case Error::kBadNumber: return "malformed number";
    case Error::kIntOutOfRange: return "integer beyond 64 bits";
    case Error::kBadTimestamp: return "malformed timestamp";
    case Error::kBadString: return "malformed string or escape";
    case Error::kBadUtf8: return "invalid UTF-8";
    case Error::kBadBlob: return "malformed blob or clob";
    case Error::kBadVersionMarker: return "missing or unsupported Ion binary version marker";
    case Error::kBadTypeCode: return "illegal type descriptor";
    case Error::kBadLength: return "length runs past its container";
    case Error::kBadSymbolTable: return "malformed local symbol table";
    case Error::kUnknownSymbol: return "unknown symbol";
    case Error::kTooManySymbols: return "symbol table too large";
    case Error::kTooManyValues: return "too many values";
  }
  return "unknown Ion error";
}

int compare(const Timestamp& a, const Timestamp& b) {
  if (a.epoch_s != b.epoch_s) return a.epoch_s < b.epoch_s ? -1 : 1;
  if (a.nanos != b.nanos) return a.nanos < b.nanos ? -1 : 1;
  return 0;
}

bool parse_timestamp(std::string_view text, Timestamp& out) { return parse_timestamp_text(text, out, nullptr); }

bool looks_like_binary(std::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), kVersionMarker, 4) == 0;
}

ParseResult parse_text(std::string_view text, Arena& arena, Document& out, std::span<const SharedTable> catalogue) {
  TextReader reader(text, arena, catalogue);
  return reader.run(out);
}

ParseResult parse_binary(std::string_view bytes, Arena& arena, Document& out, std::span<const SharedTable> catalogue) {
  BinaryReader reader(bytes, arena, catalogue);
  return reader.run(out);
}

}  // namespace appconfig::ion
