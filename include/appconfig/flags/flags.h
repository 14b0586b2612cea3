// flags: the feature-flag retrieval format and the `?flag=` filter (spec §1, §6).
//
// Owns: recognising a flag document {"flagKey":{"enabled":true,…},…} and
// building the answer to ?flag=k1&flag=k2… as a list of byte pieces for
// writev(), without copying the configuration.
// Knows nothing of HTTP, percent-decoding (keys arrive decoded), the cache or
// multi-variant evaluation (rules/Context live elsewhere).
//
// Lifetimes: Filtered::pieces point into `doc`, into the caller's `scratch`
// and into static storage. They are valid while `doc` and `scratch` are and
// until `scratch` is reused.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace appconfig::flags {

// ?flag= keys per request. Bounds the Piece array (it lives on the caller's
// stack) and the per-member matching work (members × keys key comparisons);
// a caller that wants more flags asks without ?flag= and gets them all.
constexpr size_t kMaxFlagKeys = 32;

// True when text is valid JSON (json::validate) holding an object whose every
// member value is an object with an "enabled" member equal to true or false
// (last duplicate wins, as in json::find). An empty object {} counts as a flag
// document with no flags. Costs one full validation: compute it once when a
// configuration is stored, not per request.
bool is_flag_document(std::string_view text);

enum class FilterError : uint8_t {
  kNone,
  kNotFlagDocument,  // doc is not an object, or a selected flag's value is not an object
  kUnknownFlag,      // *bad_key_index names the first key (in query order) not in doc
  kTooManyKeys,      // more than kMaxFlagKeys keys
  kScratchTooSmall,  // several keys and scratch_cap < scratch_bytes_needed(keys) (one key needs none)
};
const char* filter_error_message(FilterError error);

struct Piece {
  const char* data;
  size_t len;
};
// Enough for the shape we emit ({"k1": v1 ,"k2": v2 … }: 2 per key + 1) with
// room to spare for later shapes (e.g. a `_variant` member per flag).
constexpr size_t kMaxPieces = 4 * kMaxFlagKeys + 2;
struct Filtered {
  Piece pieces[kMaxPieces];
  size_t num_pieces;
  size_t total_bytes;  // sum of pieces[i].len: the Content-Length
};

// Scratch bytes filter() may need for these keys: each key JSON-escaped
// (at worst 6 bytes per input byte, \u00XX) plus 4 bytes of punctuation.
size_t scratch_bytes_needed(std::span<const std::string_view> keys);

// The answer to ?flag=k1&flag=k2… over `doc`, which must already satisfy
// is_flag_document() (filter does not re-validate; it only walks the
// top-level members once).
// - Keys repeated in the query count once (first occurrence keeps its place).
// - One distinct key -> one piece: the flag's raw value bytes alone.
// - Several -> {"k1":v1,"k2":v2} in query order; keys are written as given in
//   the query, JSON-escaped into `scratch` (minimal escaping: " \ and control
//   bytes); values are raw spans of `doc`. The result is valid JSON.
// - Duplicate keys in doc: the last one wins (json::find's rule).
// - Keys compare against the DECODED document keys, so "a/b" matches "a\/b".
// - No keys at all -> one piece holding the whole doc (all flags).
// On error `out` is unspecified; *bad_key_index is set only for kUnknownFlag
// (bad_key_index may be null).
FilterError filter(std::string_view doc, std::span<const std::string_view> keys, char* scratch,
                   size_t scratch_cap, Filtered& out, size_t* bad_key_index);

}  // namespace appconfig::flags
