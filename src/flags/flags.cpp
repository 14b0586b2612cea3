// flags: feature-flag documents and the ?flag= filter. See include/appconfig/flags/flags.h.
#include "appconfig/flags/flags.h"

#include "appconfig/formats/json.h"

namespace appconfig::flags {
namespace {

// Writes key as a JSON string body (no quotes) into out; returns bytes written
// (out has room: the caller sized it with scratch_bytes_needed). RFC 8259 §7:
// only '"', '\' and bytes below 0x20 must be escaped; everything else is
// copied (a key that matched a document key is valid UTF-8).
size_t escape_key(std::string_view key, char* out) { return json::escape(key, out, SIZE_MAX); }

constexpr size_t kMaxEscapedBytesPerByte = 6;  // \u00XX
constexpr size_t kPunctuationPerKey = 4;       // {" or ," before, ": after

}  // namespace

bool is_flag_document(std::string_view text) {
  if (json::validate(text).error != json::Error::kNone) return false;
  json::ObjectIter it(text);
  json::Member m;
  while (it.next(m)) {
    if (json::kind_of(m.raw_value) != json::Kind::kObject) return false;
    const auto enabled = json::find(m.raw_value, "enabled");
    if (!enabled) return false;
    const json::Kind k = json::kind_of(*enabled);
    if (k != json::Kind::kTrue && k != json::Kind::kFalse) return false;
  }
  return it.ok();
}

const char* filter_error_message(FilterError error) {
  switch (error) {
    case FilterError::kNone: return "ok";
    case FilterError::kNotFlagDocument: return "configuration is not a feature-flag document; drop the flag parameter";
    case FilterError::kUnknownFlag: return "unknown flag key";
    case FilterError::kTooManyKeys: return "too many flag parameters; ask without flag= to get all flags";
    case FilterError::kScratchTooSmall: return "flag keys too long";
  }
  return "unknown filter error";
}

size_t scratch_bytes_needed(std::span<const std::string_view> keys) {
  size_t total = 0;
  for (const std::string_view k : keys) total += k.size() * kMaxEscapedBytesPerByte + kPunctuationPerKey;
  return total;
}

namespace {

// The keys asked for, each once, in first-occurrence order; origin[j] is unique[j]'s index in keys.
size_t distinct_keys(std::span<const std::string_view> keys, std::string_view* unique, size_t* origin) {
  size_t num_unique = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    bool seen = false;
    for (size_t j = 0; j < num_unique && !seen; ++j) seen = unique[j] == keys[i];
    if (!seen) {
      unique[num_unique] = keys[i];
      origin[num_unique] = i;
      ++num_unique;
    }
  }
  return num_unique;
}

// {"k1":v1,"k2":v2…}: each key JSON-escaped into scratch (which the caller sized), values as they
// are in the document.
void write_object(const std::string_view* unique, const std::string_view* value, size_t num_unique, char* scratch,
                  Filtered& out) {
  size_t used = 0;
  for (size_t j = 0; j < num_unique; ++j) {
    char* start = scratch + used;
    size_t n = 0;
    start[n++] = j == 0 ? '{' : ',';
    start[n++] = '"';
    n += escape_key(unique[j], start + n);
    start[n++] = '"';
    start[n++] = ':';
    used += n;
    out.pieces[out.num_pieces++] = {start, n};
    out.pieces[out.num_pieces++] = {value[j].data(), value[j].size()};
    out.total_bytes += n + value[j].size();
  }
  static constexpr char kClose[] = "}";
  out.pieces[out.num_pieces++] = {kClose, 1};
  out.total_bytes += 1;
}

}  // namespace

FilterError filter(std::string_view doc, std::span<const std::string_view> keys, char* scratch,
                   size_t scratch_cap, Filtered& out, size_t* bad_key_index) {
  out.num_pieces = 0;
  out.total_bytes = 0;
  if (keys.size() > kMaxFlagKeys) return FilterError::kTooManyKeys;
  if (keys.empty()) {
    out.pieces[0] = {doc.data(), doc.size()};
    out.num_pieces = 1;
    out.total_bytes = doc.size();
    return FilterError::kNone;
  }
  std::string_view unique[kMaxFlagKeys];
  size_t origin[kMaxFlagKeys];
  const size_t num_unique = distinct_keys(keys, unique, origin);

  // One pass over the document's members; a later duplicate overwrites.
  std::string_view value[kMaxFlagKeys];
  bool found[kMaxFlagKeys] = {};
  json::ObjectIter it(doc);
  json::Member m;
  while (it.next(m)) {
    for (size_t j = 0; j < num_unique; ++j) {
      if (json::key_equals(m.raw_key, unique[j])) {
        value[j] = m.raw_value;
        found[j] = true;
      }
    }
  }
  if (!it.ok()) return FilterError::kNotFlagDocument;
  for (size_t j = 0; j < num_unique; ++j) {
    if (!found[j]) {
      if (bad_key_index != nullptr) *bad_key_index = origin[j];
      return FilterError::kUnknownFlag;
    }
    if (json::kind_of(value[j]) != json::Kind::kObject) return FilterError::kNotFlagDocument;
  }

  if (num_unique == 1) {
    out.pieces[0] = {value[0].data(), value[0].size()};
    out.num_pieces = 1;
    out.total_bytes = value[0].size();
    return FilterError::kNone;
  }
  if (scratch_cap < scratch_bytes_needed(std::span<const std::string_view>(unique, num_unique))) {
    return FilterError::kScratchTooSmall;
  }
  write_object(unique, value, num_unique, scratch, out);
  return FilterError::kNone;
}

}  // namespace appconfig::flags
