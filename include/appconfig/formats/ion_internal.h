// ion_internal: what the pieces of the Ion readers share, for src/formats/ion*.cpp only.
//
// Owns: the reader base class (error reporting, value and digit budgets, node allocation, the
// current symbol table and local symbol tables), the system symbols, the exact-number helpers
// (magnitudes to decimal digits, decimal to double) and the timestamp fields both encodings fill.
// The public API is include/appconfig/formats/ion.h; nothing outside src/formats/ion*.cpp includes
// this header.
//
// Where each part lives:
//   src/formats/ion.cpp            value model (arena, nodes), Reader's symbol tables and budgets,
//                                  exact numbers, type names and error messages
//   src/formats/ion_text.cpp       the text reader (parse_text)
//   src/formats/ion_binary.cpp     the binary reader (parse_binary, looks_like_binary)
//   src/formats/ion_timestamp.cpp  timestamp fields, text timestamps (parse_timestamp), compare
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "appconfig/core/utf8.h"
#include "appconfig/formats/ion.h"

namespace appconfig::ion::internal {

using Byte = unsigned char;

// Ion 1.0 system symbol table, symbol IDs 1-9.
inline constexpr std::string_view kSystemSymbols[] = {
    "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols", "max_id",
    "$ion_shared_symbol_table",
};
constexpr size_t kNumSystemSymbols = 9;
inline constexpr std::string_view kUnknownText{kUnknownTextMarker, 0};

inline constexpr Byte kVersionMarker[4] = {0xE0, 0x01, 0x00, 0xEA};

// ---------------------------------------------------------------- UTF-8

inline size_t utf8_len(const Byte* s, size_t n, size_t i) {
  uint32_t cp;
  return utf8::decode(s, n, i, cp);
}

inline bool valid_utf8(const Byte* s, size_t n) {
  for (size_t i = 0; i < n;) {
    const size_t len = utf8_len(s, n, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// ---------------------------------------------------------------- timestamps (ion_timestamp.cpp)

// The fields of a timestamp as written (text) or encoded (binary), before the calendar check.
struct Fields {
  unsigned year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  uint32_t nanos = 0;
  int offset_min = 0;
  Precision precision = Precision::kYear;
};

// Nanoseconds of the fraction 0.<digits> × 10^(digits - scale), i.e. the
// first nine of `scale` fraction digits whose last digits.size() are `digits`.
uint32_t fraction_nanos(std::string_view digits, uint64_t scale);
// Years 0001-9999, calendar-checked days, no leap second, offset within a day.
bool fields_valid(const Fields& f);
// fields are local time at offset_min when `local`, else UTC.
Timestamp to_timestamp(const Fields& f, bool local);
// The text forms of parse_timestamp(); `fraction` (when given) receives the
// fraction-of-second digits as written.
bool parse_timestamp_text(std::string_view text, Timestamp& out, std::string_view* fraction);

// ---------------------------------------------------------------- values

// Arena::alloc, inline for the readers' hot paths (a node per value, its annotations).
inline void* arena_alloc(Arena& arena, size_t bytes, size_t align) {
  const uintptr_t top = reinterpret_cast<uintptr_t>(arena.base) + arena.used;
  const size_t pad = (align - top % align) % align;
  if (pad > arena.cap - arena.used || bytes > arena.cap - arena.used - pad) return nullptr;
  void* p = arena.base + arena.used + pad;
  arena.used += pad + bytes;
  return p;
}

inline Node* new_node(Arena& arena, Type type, size_t offset) {
  void* mem = arena_alloc(arena, sizeof(Node), alignof(Node));
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

inline bool copy_annotations(Arena& arena, Node* n, const std::string_view* annots, size_t count) {
  if (count == 0) return true;
  void* mem = arena_alloc(arena, sizeof(std::string_view) * count, alignof(std::string_view));
  if (mem == nullptr) return false;
  auto* dst = static_cast<std::string_view*>(mem);
  for (size_t i = 0; i < count; ++i) dst[i] = annots[i];
  n->annotations = dst;
  n->num_annotations = static_cast<uint8_t>(count);
  return true;
}

// Adds a top-level value to the document, in order; a bare $ion_1_0 version
// marker (text or binary) is not a value.
void append_top_level(Document& out, Node*& last, Node* v);

// ---------------------------------------------------------------- exact numbers

// Room for the digits of a kMaxIntBytes magnitude, plus one 9-digit chunk.
constexpr size_t kDigitsBuffer = kMaxIntDigits + 9;

// A big-endian magnitude (leading zero bytes already dropped, len ≤
// kMaxIntBytes) as decimal digits, most significant first; "0" for len 0.
// out has room for kDigitsBuffer bytes.
size_t magnitude_digits(const Byte* mag, size_t len, char* out);

// Significant digits handed to strtod: a double's nearest value is decided
// by its first 768 significant digits (the longest exact halfway case has 767),
// so longer coefficients are cut to this many plus one sticky non-zero digit;
// strtod's work per value is then bounded whatever the input's length.
constexpr size_t kMaxStrtodDigits = 780;

inline constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// The double nearest to ±digits × 10^exponent (digits without leading zeros).
// Exact fast path (Clinger): a coefficient below 2^53 and a power of ten
// that is itself exact round once, correctly. Most values take it.
inline bool fast_double(bool negative, std::string_view digits, int64_t exponent, double& out) {
  if (digits == "0") {
    out = negative ? -0.0 : 0.0;
    return true;
  }
  if (digits.size() <= 15 && exponent >= -22 && exponent <= 22) {
    uint64_t c = 0;
    for (const char ch : digits) c = c * 10 + static_cast<uint64_t>(ch - '0');
    double v = static_cast<double>(c);
    v = exponent < 0 ? v / kPow10[-exponent] : v * kPow10[exponent];
    out = negative ? -v : v;
    return true;
  }
  return false;
}

// The slow path: strtod on at most kMaxStrtodDigits digits. buf needs kMaxStrtodDigits + 32 bytes.
double decimal_to_double(bool negative, std::string_view digits, int64_t exponent, char* buf, size_t cap);

// ---------------------------------------------------------------- the reader base

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

// What both readers share: the input, the arena, the first error, the
// document's budgets and the current symbol table. One per parse_* call.
class Reader {
 protected:
  Reader(const Byte* s, size_t n, Arena& arena, std::span<const SharedTable> catalogue)
      : s_(s), n_(n), arena_(arena), catalogue_(catalogue) {}

  const Byte* s_;
  size_t n_;
  Arena& arena_;
  std::span<const SharedTable> catalogue_;
  ParseResult result_{.error = Error::kNone, .offset = 0, .symbol_id = 0, .detail = {}};
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

  // Records the first error (later ones are ignored); always false.
  bool fail(Error e, size_t at) {
    if (result_.error == Error::kNone) {
      result_.error = e;
      result_.offset = at < n_ ? at : n_;
    }
    return false;
  }
  // As fail(), with a message in result_.detail (only for the first error).
  bool fail_detail(Error e, size_t at, const char* fmt, ...) __attribute__((format(printf, 4, 5)));

  Node* alloc(Type type, size_t at) {
    if (++num_values_ > kMaxValues) {
      fail_detail(Error::kTooManyValues, at, "more than %zu values in one document", kMaxValues);
      return nullptr;
    }
    Node* n = new_node(arena_, type, at);
    if (n == nullptr) fail(Error::kOutOfMemory, at);
    return n;
  }

  // Charges the conversion of an n-byte magnitude to decimal digits (n/4
  // limbs divided once per 9 digits) to the document's budget, before the
  // work is done.
  bool charge_digits(size_t len, size_t at);

  // float_value of a decimal or float: exact fast path, else strtod within
  // the document's kMaxSlowNumbers.
  bool to_double(Node& n, bool negative, std::string_view digits, int64_t exponent, size_t at) {
    if (fast_double(negative, digits, exponent, n.float_value)) return true;
    return slow_double(n, negative, digits, exponent, at);
  }
  bool slow_double(Node& n, bool negative, std::string_view digits, int64_t exponent, size_t at);

  // An integer from its sign and big-endian magnitude: int_value when it
  // fits in 64 bits, else `big` with the decimal digits in the arena.
  __attribute__((noinline)) bool int_from_magnitude(Node& n, bool negative, const Byte* mag, size_t len, size_t at);

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
  bool symbol_text(uint64_t sid, size_t at, std::string_view& text);

  // A top-level struct whose first annotation is $ion_symbol_table is a local
  // symbol table, not a value.
  static bool is_symbol_table(const Node& v) {
    return v.type == Type::kStruct && v.num_annotations > 0 && v.annotations[0] == "$ion_symbol_table" &&
           !text_unknown(v.annotations[0]);
  }

  // Applies a local symbol table (Ion 1.0 "Symbols"): `imports` is a list of
  // shared-table imports or the symbol $ion_symbol_table (append to the
  // current table); `symbols` lists the new symbols (a non-string declares a
  // symbol without text). Each field may appear once; other fields and other
  // types are ignored. Memory: one ImportRange per import and 16 bytes per
  // local symbol, both backed by input bytes, except the locals an append
  // copies from the previous table (bounded in all by kMaxSymbolSlots).
  bool load_symbol_table(const Node& table);

 private:
  bool fail_symbol(uint64_t sid, size_t at);
  const SharedTable* find_import(std::string_view name, uint32_t version) const;
  bool import_size(const Node& imp, uint64_t& max_id);
  bool table_fields(const Node& table, const Node*& imports, const Node*& symbols);
  bool import_ranges(const Node& imports, const ImportRange*& ranges, size_t& num_ranges, uint64_t& first_local);
  bool local_symbols(const Node& table, const Node* symbols, bool append, const std::string_view*& locals,
                     size_t& count);
};

}  // namespace appconfig::ion::internal
