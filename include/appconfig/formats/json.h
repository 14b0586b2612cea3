// json: a validating JSON reader over bytes (RFC 8259), with no allocation.
//
// Owns: strict validation of a whole JSON text, iteration over the members of
// an object as raw byte spans, key comparison and string decoding.
// Knows nothing of feature flags, HTTP or where the bytes came from. It never
// builds a tree and never converts numbers: values are handed out as the exact
// bytes of the document, so numbers such as 1E400, -0 or 10000000000000000999
// pass through unchanged (no int64/double rounding).
//
// Validation is iterative with a fixed explicit stack (kMaxDepth), so hostile
// nesting ("[[[[…", 100 000 deep) is rejected with kTooDeep, never a stack
// overflow. Policy decisions (BOM, lone surrogates, duplicates) are in
// docs/json.md and repeated at each declaration below.
//
// Lifetimes: every std::string_view returned (Member::raw_key/raw_value, the
// result of find()) points into the text passed in; it is valid while that
// text is. Nothing is copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace appconfig::json {

// Maximum nesting of arrays and objects. Configuration and feature-flag
// documents are a few levels deep; 128 is the limit serde_json (the usual Rust
// reader) applies by default, so a document it accepts is accepted here. The
// validator's explicit stack costs one byte per level. Validation is one pass,
// linear whatever the shape: worst measured at the 4 MiB configuration limit
// (127-deep arrays repeated) 15.7 ms, 3.7 ns/byte (docs/json.md, "Cost").
constexpr size_t kMaxDepth = 128;

enum class Error : uint8_t {
  kNone,
  kEmpty,             // no value at all (empty or whitespace only)
  kUnexpectedChar,    // a byte that cannot start/continue the grammar here
  kBadNumber,         // RFC 8259 §6 number grammar violated (01, 1., .5, 1e, +1, NaN…)
  kBadString,         // string token malformed (used by decoding of raw tokens)
  kBadEscape,         // backslash not followed by one of "\/bfnrt or u + 4 hex digits
  kLoneSurrogate,     // \uD800-\uDFFF not forming a high+low pair (RFC 8259 §8.2)
  kBadUtf8,           // ill-formed UTF-8 (RFC 3629 §4: overlong, surrogate, >U+10FFFF)
  kControlInString,   // raw byte < 0x20 inside a string (RFC 8259 §7)
  kTooDeep,           // nesting beyond kMaxDepth
  kTrailingData,      // something after the single top-level value
  kTruncated,         // input ended inside a value
  kByteOrderMark,     // a UTF-8 BOM; RFC 8259 §8.1 permits rejecting it, we do
};

// A static one-line English description (never null).
const char* error_message(Error error);

struct ValidateResult {
  Error error;    // kNone when the text is one valid JSON value
  size_t offset;  // byte offset of the problem (text.size() when truncated)
};

// RFC 8259 strict: exactly one value (a scalar at the top level is allowed),
// surrounded only by space/TAB/LF/CR; every byte inside strings is well-formed
// UTF-8; \u escapes must form valid scalar values (lone surrogates rejected).
// Duplicate object keys are valid (RFC 8259 §4 only says SHOULD be unique).
ValidateResult validate(std::string_view text);

// One member of an object, as raw spans into the object text.
struct Member {
  std::string_view raw_key;    // the key token with its quotes, escapes as written
  std::string_view raw_value;  // the exact bytes of the value, no surrounding whitespace
};

// Iterates the members of `object_text`, which must already have passed
// validate() (leading/trailing whitespace allowed). Members come in document
// order, duplicates included. The iterator never reads out of bounds on any
// input, but on unvalidated input it only promises to stop: ok() turns false
// when it meets something that is not an object.
//
//   json::ObjectIter it(text); json::Member m;
//   while (it.next(m)) { … }
//   if (!it.ok()) { not an object }
class ObjectIter {
 public:
  explicit ObjectIter(std::string_view object_text);
  // Fills `out` and returns true, or returns false at the end of the object
  // or on a structural problem (then ok() is false).
  bool next(Member& out);
  bool ok() const { return ok_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  bool ok_ = true;
  bool done_ = false;
};

// True when the raw JSON string token `raw_key` (with quotes, possibly holding
// escapes such as \u0041, \/ or surrogate pairs) decodes to exactly `text`.
// A malformed token compares unequal to everything.
bool key_equals(std::string_view raw_key, std::string_view text);

// The value of member `key` (plain text) of the top-level object
// `object_text` (validated). With duplicate keys the LAST one wins, as in
// ECMAScript JSON.parse, Python and serde_json maps. nullopt when absent or
// when `object_text` is not an object.
std::optional<std::string_view> find(std::string_view object_text, std::string_view key);

enum class Kind : uint8_t { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull, kInvalid };

// The kind of a raw value span (e.g. Member::raw_value), from its first byte
// (objects, arrays, strings, numbers) or its exact spelling (true/false/null).
// Surrounding whitespace is ignored. It does not validate the whole value.
Kind kind_of(std::string_view raw_value);

// Decodes the raw string token `raw_string` (with quotes) into `out` as UTF-8.
// Returns the number of bytes written, or -1 when the token is malformed
// (missing quotes, bad escape, lone surrogate, control byte, bad UTF-8) or
// does not fit in `cap` bytes. \u0000 is written as a NUL byte; the output is
// not NUL-terminated. The decoded length never exceeds raw_string.size().
long decode_string(std::string_view raw_string, char* out, size_t cap);

// Writes s as the inside of a JSON string (RFC 8259 §7): '"', '\\' and bytes
// below 0x20 escaped (\n \t \r short forms, else \u00XX), everything else
// copied. escaped_length(s) bytes are needed; escape() never writes more than
// cap and returns what it wrote (a short cap truncates at a whole escape).
size_t escaped_length(std::string_view s);
size_t escape(std::string_view s, char* out, size_t cap);

}  // namespace appconfig::json
