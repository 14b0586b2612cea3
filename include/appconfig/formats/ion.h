// ion: bounds-checked readers for Amazon Ion 1.0, text and binary, building a
// small tree in a caller-provided arena (feature-flag profiles, spec §4 and §7).
//
// Owns: the Ion text grammar (values, annotations, comments, long strings,
// s-expressions with operator symbols), the Ion 1.0 binary encoding (type
// codes 0x0-0xE, VarUInt/VarInt/UInt/Int, L=14 lengths, L=15 nulls, NOP
// padding, annotation wrappers, local symbol tables with `symbols` and
// `imports`), W3C/Ion timestamp parsing. Both readers produce the same tree, so
// a consumer cannot tell which encoding a document came in.
// Knows nothing of feature flags, rules or JSON: it only reads Ion.
// Implemented in src/formats/ion_text.cpp (text reader), ion_binary.cpp
// (binary reader), ion_timestamp.cpp (timestamps) and ion.cpp (what they
// share); see include/appconfig/formats/ion_internal.h.
//
// Limits are documented at each constant; anything beyond them is an error,
// never a crash. Every reader pass is linear in the input: each byte is looked
// at a bounded number of times, and the arena grows by at most
// kMaxArenaBytesPerInputByte per input byte (bounds at each constant).
// Integers beyond 64 bits and decimals are kept exact as decimal digits
// (Node::text); int_value/float_value hold the 64-bit / double views a rule
// engine uses.
//
// Lifetimes: Node pointers and every std::string_view in the tree point into
// the arena, into the input or into static storage (system symbols, "0");
// arena and input must outlive the tree. Nothing is freed:
// reset the arena to reuse it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace appconfig::ion {

// Budgets. Profiles are untrusted and up to 4 MiB, so every bound is stated
// per input byte: both readers look at each input byte a bounded number of
// times (time O(n)), and the arena grows by at most
// kMaxArenaBytesPerInputByte per input byte, plus the fixed amounts below.
// The worst cases are built and timed in test/unit/ion_test.cpp (IonBudget.*).
//
// Container nesting. Flag profiles nest 4-6 levels (list, variant list, rule
// s-expressions); both readers recurse once per level (well under 1 KiB of
// stack per level, so 64 levels stay far below any thread stack). A
// container's bytes are read once, so nesting adds no work per byte.
constexpr size_t kMaxDepth = 64;
// Annotations on one value. Flag names and rule arguments use one; the
// ion-tests corpus uses nine. Time O(1) per annotation; memory 16 bytes per
// annotation, each backed by at least one input byte (binary SID) or three
// (text `a::`), so within kMaxArenaBytesPerInputByte.
constexpr size_t kMaxAnnotations = 16;
// Local symbols of one symbol table, text or binary (the `symbols` list,
// including those an append keeps). 16 bytes of arena each; each declared
// symbol is backed by at least one input byte (an empty binary string).
constexpr size_t kMaxSymbols = 65536;
// Local symbol slots allocated over one document. An append
// (`imports: $ion_symbol_table`) copies the previous table's locals: that
// copy is not backed by new input, and repeated appends would cost
// O(n²); this caps all tables together at 4 MiB of arena and 262,144 copies.
constexpr size_t kMaxSymbolSlots = 4 * kMaxSymbols;
// Highest symbol ID imports may declare (sum of max_id). Imports take no
// memory per symbol (one 48-byte range per import, found by binary search:
// O(log imports) per symbol read), so large max_id values are cheap; ion-tests
// declares 2^31.
constexpr uint64_t kMaxSymbolId = 0xFFFFFFFFu;
// Binary magnitudes turned into decimal digits: integers beyond 64 bits (both
// encodings' binary and hex/0b text forms), binary decimal coefficients and
// timestamp fractions. Converting n bytes costs O(n²) word operations, so one
// value is limited to 2048 bytes (16,384 bits, 4,933 digits): at most ~1,200
// word operations per input byte. Decimal digits in text are copied as they
// are (O(1) per byte, no limit). Beyond: kIntOutOfRange, with the limit named.
constexpr size_t kMaxIntBytes = 2048;
constexpr size_t kMaxIntDigits = 4933;  // digits of 2^16384 - 1
// Those conversions together, per document, in 64-bit divisions by 10^9
// (≈ n²/15 for an n-byte magnitude: a 1,201-byte integer as in ion-tests
// costs 96,000). The budget is what keeps the quadratic conversion from
// growing with the input: 2^24 steps take about 20 ms on a 2 GHz core.
// Beyond: kIntOutOfRange with a message, never a stall.
constexpr uint64_t kMaxDigitWork = uint64_t{1} << 22;
// Values (nodes) per document. Every other cost is per value or per input
// byte, and a value costs 15-30 ns and sizeof(Node) of arena (112 bytes), so
// this bounds both: ~16 ms and 56 MiB however the 4 MiB are spent (one-byte
// binary nulls would otherwise make 4 Mi nodes, 470 MiB). A flag profile
// spends tens of bytes per value (names, JSON strings, rule operands).
constexpr size_t kMaxValues = size_t{1} << 19;
// Decimals and floats whose double is not found by the exact fast path
// (more than 15 digits or |exponent| > 22) go through strtod on at most 780
// digits: 0.5-5 µs each, so a document gets 4096 of them (≤ 20 ms).
constexpr size_t kMaxSlowNumbers = 4096;

enum class Type : uint8_t {
  kNull, kBool, kInt, kFloat, kDecimal, kTimestamp, kSymbol, kString, kClob, kBlob, kList, kSexp, kStruct,
};
const char* type_name(Type type);

// How much of a timestamp was written (Ion 1.0 §timestamp; W3C NOTE-datetime).
enum class Precision : uint8_t { kYear, kMonth, kDay, kMinute, kSecond, kFraction };

// An instant: seconds since 1970-01-01T00:00Z plus nanoseconds. A timestamp
// with less than day precision stands for the first instant of its period
// (2024 = 2024-01-01T00:00Z); unknown local offset (-00:00) counts as UTC.
// Fraction digits beyond nanoseconds are truncated.
struct Timestamp {
  int64_t epoch_s;
  uint32_t nanos;
  int16_t offset_min;  // local offset as written (0 for -00:00 / none)
  Precision precision;
  bool offset_unknown = false;  // -00:00, and every date-only precision: local offset not known
};
// Compare two instants: <0, 0, >0.
int compare(const Timestamp& a, const Timestamp& b);

// Parses a whole string as a timestamp. Accepted: YYYY, YYYY-MM, YYYY-MM-DD
// (each optionally followed by T, the Ion spelling), and
// YYYY-MM-DDThh:mm[:ss[.fff…]](Z|±hh:mm) (W3C forms; Ion's -00:00 allowed).
// Years 0001-9999, calendar-checked days, no leap second (60).
bool parse_timestamp(std::string_view text, Timestamp& out);

// Symbol text that is not known: $0, or a local symbol table slot declared
// without a string. Such a symbol (also as an annotation or field name) reads
// as the empty view at this marker address, so it compares equal to "" where
// text is all that matters and text_unknown() tells it apart.
extern const char kUnknownTextMarker[1];
inline bool text_unknown(std::string_view v) { return v.data() == kUnknownTextMarker; }

struct Node {
  Type type;
  bool is_null;       // null or null.<type>: `type` says which
  bool bool_value;    // kBool
  uint8_t num_annotations;
  uint32_t offset;    // byte offset of the value (after its annotations) in the input
  const std::string_view* annotations;  // num_annotations texts
  std::string_view field_name;          // set for struct members
  // kSymbol/kString/kClob text, kBlob bytes (decoded);
  // kInt beyond 64 bits and kDecimal: the magnitude/coefficient in decimal
  //   digits, no leading zeros ("0" for zero);
  // kTimestamp: the fraction-of-second digits as written (empty without one).
  std::string_view text;
  int64_t int_value;      // kInt (saturated at INT64_MIN/MAX when big)
  double float_value;     // kFloat, kDecimal (converted; nearest double)
  Timestamp timestamp;    // kTimestamp
  Node* first_child;      // kList/kSexp/kStruct
  Node* next_sibling;     // next value in the same container (or top level)
  uint32_t num_children;
  int32_t exponent;       // kDecimal: value = ±text × 10^exponent
  bool negative;          // kInt and kDecimal sign (kDecimal: -0d0 is negative zero)
  bool big;               // kInt beyond 64 bits: use text, not int_value
};
// Arena bytes per input byte, worst case: binary spends one byte per value
// (a one-byte null), and each value is one Node; text needs at least two
// bytes per value ("0 "). Decoded text is never longer than its input, except
// big binary magnitudes (2.41 digits per byte) and the 16-byte symbol and
// annotation slots, none of which comes with a Node from the same byte.
// Plus, per document, at most kMaxSymbolSlots × 16 bytes of copied symbols.
// kMaxValues caps the total besides: at most kMaxValues × (sizeof(Node) + 5 ×
// 16) ≈ 100 MiB for any 4 MiB document (binary values of 8 bytes, 5 of them
// annotation IDs), 56 MiB without annotations. Callers bound it further with
// the arena they give (kOutOfMemory).
constexpr size_t kMaxArenaBytesPerInputByte = sizeof(Node) + 16;


// Bump allocator over caller memory. Alignment is handled per allocation.
struct Arena {
  uint8_t* base;
  size_t cap;
  size_t used;
  void* alloc(size_t bytes, size_t align);
};

enum class Error : uint8_t {
  kNone,
  kOutOfMemory,       // the arena is full
  kTooDeep,           // nesting beyond kMaxDepth
  kTooManyAnnotations,
  kUnexpected,        // a byte that cannot start or continue a value here
  kTruncated,         // input ended inside a value
  kBadNumber,         // malformed int/decimal/float
  kIntOutOfRange,     // integer or decimal coefficient beyond 64 bits
  kBadTimestamp,
  kBadString,         // bad escape, unterminated string, control byte
  kBadUtf8,
  kBadBlob,           // bad base64 / clob content
  kBadVersionMarker,  // binary: missing or unsupported $ion_1_0 marker
  kBadTypeCode,       // binary: reserved type code or illegal length for a type
  kBadLength,         // binary: a length running past its container
  kBadSymbolTable,    // binary: malformed local symbol table
  kUnknownSymbol,     // a symbol ID outside the table, or whose text is not known
  kTooManySymbols,
  kTooManyValues,     // beyond kMaxValues
};
const char* error_message(Error error);

struct ParseResult {
  Error error;
  size_t offset;       // input byte offset of the problem
  uint32_t symbol_id;  // kUnknownSymbol: the ID
  char detail[96];     // kUnknownSymbol: where the ID came from (e.g. shared table 'ops'); else empty
};

struct Document {
  Node* first;       // top-level values in order (linked by next_sibling), null when none
  size_t num_values;
};

// A shared symbol table whose text we know (the binary reader's catalogue).
struct SharedTable {
  std::string_view name;
  uint32_t version;
  std::span<const std::string_view> symbols;  // symbol IDs 1..n of the table
};

// Text: an Ion 1.0 text stream of top-level values. The version marker
// symbol $ion_1_0 at top level resets the symbol table; another unquoted
// $ion_X_Y there is an unsupported version (kBadVersionMarker); any other
// unannotated top-level symbol whose text is $ion_1_0 is skipped. Timestamps
// follow Ion strictly: 2024-01 without the T is kBadTimestamp (ion-java and
// ion-tests agree); parse_timestamp() keeps the W3C spellings for strings.
// Local symbol tables (a top-level `$ion_symbol_table::{...}`) apply as in
// binary and are not returned; symbol IDs ($N) resolve against the current
// table, imports through `catalogue` as for parse_binary.
ParseResult parse_text(std::string_view text, Arena& arena, Document& out,
                       std::span<const SharedTable> catalogue = {});

// Binary: must start with the version marker E0 01 00 EA; markers may repeat
// (each resets the symbol table). Local symbol tables are applied and not
// returned. Imports of shared tables resolve through `catalogue` (by name and
// version); unknown tables need max_id and their symbols resolve to
// kUnknownSymbol errors naming the table, raised when such a symbol is read.
ParseResult parse_binary(std::string_view bytes, Arena& arena, Document& out,
                         std::span<const SharedTable> catalogue = {});

// True when bytes start with the binary version marker E0 01 00 EA.
bool looks_like_binary(std::string_view bytes);

// Annotation i of node (empty view when absent).
inline std::string_view annotation(const Node& n, size_t i) {
  return i < n.num_annotations ? n.annotations[i] : std::string_view{};
}

}  // namespace appconfig::ion
