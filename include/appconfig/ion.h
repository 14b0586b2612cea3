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
//
// Limits are documented at each constant; anything beyond them is an error,
// never a crash. Integers and decimal coefficients are limited to 64 bits
// (kIntOutOfRange); decimals are converted to double.
//
// Lifetimes: Node pointers and every std::string_view in the tree point into
// the arena or into the input; both must outlive the tree. Nothing is freed:
// reset the arena to reuse it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace appconfig::ion {

// Container nesting. Flag profiles nest 4-6 levels (list, variant list, rule
// s-expressions); both readers recurse once per level.
constexpr size_t kMaxDepth = 64;
// Annotations on one value. Flag names and rule arguments use one.
constexpr size_t kMaxAnnotations = 8;
// Symbols in a binary local symbol table (imports + local symbols). Bounds the
// table we allocate from the arena; flag profiles use a few hundred.
constexpr size_t kMaxSymbols = 65536;

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
};
// Compare two instants: <0, 0, >0.
int compare(const Timestamp& a, const Timestamp& b);

// Parses a whole string as a timestamp. Accepted: YYYY, YYYY-MM, YYYY-MM-DD
// (each optionally followed by T, the Ion spelling), and
// YYYY-MM-DDThh:mm[:ss[.fff…]](Z|±hh:mm) (W3C forms; Ion's -00:00 allowed).
// Years 0001-9999, calendar-checked days, no leap second (60).
bool parse_timestamp(std::string_view text, Timestamp& out);

struct Node {
  Type type;
  bool is_null;       // null or null.<type>: `type` says which
  bool bool_value;    // kBool
  uint8_t num_annotations;
  uint32_t offset;    // byte offset of the value (after its annotations) in the input
  const std::string_view* annotations;  // num_annotations texts
  std::string_view field_name;          // set for struct members
  std::string_view text;  // kSymbol/kString/kClob text, kBlob bytes (decoded)
  int64_t int_value;      // kInt
  double float_value;     // kFloat, kDecimal (converted)
  Timestamp timestamp;    // kTimestamp
  Node* first_child;      // kList/kSexp/kStruct
  Node* next_sibling;     // next value in the same container (or top level)
  uint32_t num_children;
};

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
// symbol $ion_1_0 at top level is skipped. As a leniency for the notation in
// AWS's rule documentation, YYYY-MM (without the Ion T) is read as a timestamp.
// Symbol IDs ($N) resolve against the system table only.
ParseResult parse_text(std::string_view text, Arena& arena, Document& out);

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
