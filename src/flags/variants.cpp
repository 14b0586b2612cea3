// variants: Context header, profile compile, per-request variant choice.
// See include/appconfig/flags/variants.h.
#include "appconfig/flags/variants.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "appconfig/core/error.h"
#include "appconfig/core/text.h"
#include "appconfig/formats/ion.h"
#include "appconfig/formats/json.h"

namespace appconfig::variants {
namespace {

// Blob layout (all integers native-endian u32, read with memcpy, so the blob
// needs no alignment):
//   header   "AVF1", num_flags, flag_table_off, total_len
//   flags    num_flags × {name_off, name_len, num_variants, variant_table_off}
//   variants num × {rule_off (0 = none), piece_off, piece_len, prefix_len}
//   pieces   `,"<escaped name>":<variant JSON>`; default variants of all
//            flags are laid out back to back in flag order, so an all-flags
//            answer without Context merges into a handful of writev pieces.
constexpr char kMagic[4] = {'A', 'V', 'F', '1'};
constexpr size_t kHeaderBytes = 16;
constexpr size_t kFlagBytes = 16;
constexpr size_t kVariantBytes = 16;

struct FlagEntry {
  uint32_t name_off, name_len, num_variants, variant_off;
};
struct VariantEntry {
  uint32_t rule_off, piece_off, piece_len, prefix_len;
};

template <typename T>
bool load(std::string_view blob, size_t off, T& out) {
  if (off > blob.size() || blob.size() - off < sizeof(T)) return false;
  std::memcpy(&out, blob.data() + off, sizeof(T));
  return true;
}

// ---------------------------------------------------------------- Context

// "bad Context pair '<the pair, cut at 64 bytes>': <what>"; returns false.
bool bad_pair(char* err, size_t cap, const char* what, std::string_view pair) {
  const int shown = static_cast<int>(pair.size() > 64 ? 64 : pair.size());
  return error::fail(err, cap, "bad Context pair '%.*s%s': %s", shown, pair.data(), pair.size() > 64 ? "…" : "",
                     what);
}

// Percent-decodes src into storage; false on a bad escape or no room. Not text::percent_decode:
// a Context also refuses control bytes, and `why` names whichever of the three problems comes
// first in src.
bool decode(std::string_view src, Context& out, std::string_view& dst, const char*& why) {
  char* start = out.storage + out.used;
  size_t n = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(src[i]);
    if (c < 0x20 || c == 0x7F) {
      why = "control character";
      return false;
    }
    if (c == '%') {
      if (i + 2 >= src.size()) {
        why = "bad percent-encoding";
        return false;
      }
      const int h1 = text::hex_value(src[i + 1]);
      const int h2 = text::hex_value(src[i + 2]);
      if (h1 < 0 || h2 < 0) {
        why = "bad percent-encoding";
        return false;
      }
      c = static_cast<unsigned char>(h1 * 16 + h2);
      i += 2;
    }
    if (out.used + n >= kMaxContextBytes) {
      why = "Context too large";
      return false;
    }
    start[n++] = static_cast<char>(c);
  }
  out.used += n;
  dst = std::string_view(start, n);
  return true;
}

// One non-empty list element key=value, added to out.pairs.
bool parse_pair(std::string_view element, Context& out, char* err, size_t err_cap) {
  const size_t eq = element.find('=');
  if (eq == std::string_view::npos) return bad_pair(err, err_cap, "expected key=value", element);
  const std::string_view raw_key = text::trim(element.substr(0, eq));
  const std::string_view raw_value = text::trim(element.substr(eq + 1));
  if (raw_key.empty()) return bad_pair(err, err_cap, "empty key", element);
  if (out.num_pairs == kMaxContextPairs) return bad_pair(err, err_cap, "too many Context pairs (limit 32)", element);
  ContextPair& p = out.pairs[out.num_pairs];
  const char* why = nullptr;
  if (!decode(raw_key, out, p.key, why) || !decode(raw_value, out, p.value, why)) {
    return bad_pair(err, err_cap, why, element);
  }
  if (p.key.empty()) return bad_pair(err, err_cap, "empty key", element);
  ++out.num_pairs;
  return true;
}

// ---------------------------------------------------------------- compile

// JSON string body escaping (RFC 8259 §7): " \ and control bytes.
size_t escaped_len(std::string_view s) { return json::escaped_length(s); }
size_t escape(std::string_view s, char* out) { return json::escape(s, out, SIZE_MAX); }

int clip(std::string_view t) { return static_cast<int>(t.size() > 60 ? 60 : t.size()); }

// The duplicate-name check's work arrays: 48 KB, too much for the loop's stack, so in static
// storage. Their one user is first_duplicate_name(), called once per profile compile by
// Builder::build; profiles compile at store time on the loop thread and never re-entrantly, so one
// set is enough.
struct Scratch {
  uint32_t order[kMaxFlags];            // flag indexes, sorted by name
  const ion::Node* node_of[kMaxFlags];  // flag index -> its value (annotated with its name)
};
Scratch compile_scratch;

// Index (in document order) of the first flag whose name an earlier flag
// already has, or SIZE_MAX. Sorting costs O(F log F) name comparisons, each
// at most the shorter name: about log2(kMaxFlags) = 12 passes over the name
// bytes. (Comparing every pair cost F²/2 = 8.4 M comparisons at kMaxFlags,
// each up to a whole name when names share a long prefix.)
size_t first_duplicate_name(const ion::Document& doc) {
  uint32_t* const order = compile_scratch.order;
  const ion::Node** const node_of = compile_scratch.node_of;
  size_t n = 0;
  for (const ion::Node* f = doc.first; f != nullptr && n < kMaxFlags; f = f->next_sibling, ++n) {
    node_of[n] = f;
    order[n] = static_cast<uint32_t>(n);
  }
  auto name = [&](uint32_t i) { return ion::annotation(*node_of[i], 0); };
  std::sort(order, order + n, [&](uint32_t a, uint32_t b) {
    const int c = name(a).compare(name(b));
    return c < 0 || (c == 0 && a < b);
  });
  size_t first = SIZE_MAX;
  for (size_t k = 1; k < n; ++k) {
    if (name(order[k]) == name(order[k - 1]) && order[k] < first) first = order[k];
  }
  return first;
}

// Builds the blob of one parsed profile in the Writer: pass 1 writes each flag's name, variant
// table, rules and non-default pieces; pass 2 the default pieces back to back; then the header.
struct Builder {
  rules::Writer w;
  CompileResult* result;
  uint64_t work_left = rules::kMaxProfileCompileSteps;  // shared by every rule of the profile

  bool build(const ion::Document& doc) {
    if (doc.num_values > kMaxFlags) return fail(false, "more than %zu flags", kMaxFlags);
    const size_t num_flags = doc.num_values;
    char header[kHeaderBytes] = {};
    if (w.append(header, kHeaderBytes) != 0) return no_space();
    const size_t flag_table = w.append(nullptr, 0, 4);
    if (flag_table == SIZE_MAX) return no_space();
    if (!zeros(num_flags * kFlagBytes)) return no_space();

    // Duplicate names are an authoring mistake worth reporting; found up front
    // (sorted), reported when pass 1 reaches the flag, as before.
    const size_t duplicate = first_duplicate_name(doc);
    size_t index = 0;
    for (const ion::Node* f = doc.first; f != nullptr; f = f->next_sibling, ++index) {
      if (!flag(*f, index == duplicate, flag_table + index * kFlagBytes)) return false;
    }
    index = 0;
    for (const ion::Node* f = doc.first; f != nullptr; f = f->next_sibling, ++index) {
      if (!default_piece(*f, flag_table + index * kFlagBytes)) return false;
    }
    const uint32_t h[4] = {0, static_cast<uint32_t>(num_flags), static_cast<uint32_t>(flag_table),
                           static_cast<uint32_t>(w.len)};
    std::memcpy(w.data, h, sizeof h);
    std::memcpy(w.data, kMagic, 4);
    return true;
  }

 private:
  // Pass 1 for one flag: its name, its flag entry at entry_off, its zeroed variant table, and the
  // rule and piece of every variant but the default.
  bool flag(const ion::Node& f, bool duplicate, size_t entry_off) {
    if (f.num_annotations == 0) {
      return fail(false, "top-level value at byte %u has no flag name: write 'name'::value", f.offset);
    }
    const std::string_view name = f.annotations[0];
    if (name.empty()) return fail(false, "empty flag name at byte %u", f.offset);
    if (duplicate) return fail(false, "flag '%.*s' defined twice (at byte %u)", clip(name), name.data(), f.offset);
    const size_t name_off = w.append(name.data(), name.size());
    if (name_off == SIZE_MAX) return no_space();

    size_t nv = 1;
    const bool is_list = f.type == ion::Type::kList && !f.is_null;
    if (is_list) {
      nv = f.num_children;
      if (nv == 0) {
        return fail(false, "flag '%.*s' has an empty variant list (at byte %u)", clip(name), name.data(), f.offset);
      }
      if (nv > kMaxVariants) {
        return fail(false, "flag '%.*s' has more than %zu variants", clip(name), name.data(), kMaxVariants);
      }
    }
    const size_t vtable = w.append(nullptr, 0, 4);
    if (vtable == SIZE_MAX) return no_space();
    if (!zeros(nv * kVariantBytes)) return no_space();
    const FlagEntry fe{.name_off = static_cast<uint32_t>(name_off), .name_len = static_cast<uint32_t>(name.size()),
                       .num_variants = static_cast<uint32_t>(nv), .variant_off = static_cast<uint32_t>(vtable)};
    put_u32s(entry_off, &fe, sizeof fe);
    if (!is_list) return true;  // single value: written in pass 2

    size_t vi = 0;
    for (const ion::Node* v = f.first_child; v != nullptr; v = v->next_sibling, ++vi) {
      if (!variant(*v, name, vi, vi + 1 == nv, vtable + vi * kVariantBytes)) return false;
    }
    return true;
  }

  // Pass 1 for variant vi of a list: [rule, json] (the default, last: json or [json]). Checks every
  // variant's JSON; writes the rule and piece of all but the default into the entry at entry_off.
  bool variant(const ion::Node& v, std::string_view name, size_t vi, bool last, size_t entry_off) {
    const ion::Node* rule = nullptr;
    const ion::Node* value = &v;
    if (v.type == ion::Type::kList && !v.is_null) {
      if (v.num_children == 2) {
        rule = v.first_child;
        value = rule->next_sibling;
      } else if (v.num_children == 1) {
        value = v.first_child;
      } else {
        return fail(false, "flag '%.*s' variant %zu: expected [rule, json] (at byte %u)", clip(name), name.data(),
                    vi + 1, v.offset);
      }
    }
    if (last && rule != nullptr) {
      return fail(false, "flag '%.*s': the last variant is the default and takes no rule (at byte %u)", clip(name),
                  name.data(), v.offset);
    }
    if (!last && rule == nullptr) {
      return fail(false, "flag '%.*s' variant %zu: only the last variant may omit its rule (at byte %u)", clip(name),
                  name.data(), vi + 1, v.offset);
    }
    std::string_view text;
    if (!json_text(*value, name, vi, true, text)) return false;
    if (last) return true;  // the default: pass 2
    const rules::CompileResult rc = rules::compile(*rule, w, &work_left);
    if (rc.error != rules::Error::kNone) {
      if (rc.error == rules::Error::kOutOfSpace) return no_space();
      return fail(false, "flag '%.*s' variant %zu rule: %s (at byte %zu)", clip(name), name.data(), vi + 1, rc.message,
                  rc.offset);
    }
    VariantEntry ve{.rule_off = rc.root, .piece_off = 0, .piece_len = 0, .prefix_len = 0};
    if (!piece(name, text, ve)) return false;
    put_u32s(entry_off, &ve, sizeof ve);
    return true;
  }

  // Pass 2 for one flag (entry at entry_off, written by pass 1): the default variant's piece.
  bool default_piece(const ion::Node& f, size_t entry_off) {
    FlagEntry fe;
    std::memcpy(&fe, w.data + entry_off, sizeof fe);
    const std::string_view name = f.annotations[0];
    const bool is_list = f.type == ion::Type::kList && !f.is_null;
    const ion::Node* value = &f;
    if (is_list) {
      value = f.first_child;
      for (uint32_t k = 1; k < fe.num_variants; ++k) value = value->next_sibling;
      if (value->type == ion::Type::kList) value = value->first_child;
    }
    std::string_view text;
    if (!json_text(*value, name, fe.num_variants - 1, is_list, text)) return false;
    VariantEntry ve{.rule_off = 0, .piece_off = 0, .piece_len = 0, .prefix_len = 0};
    if (!piece(name, text, ve)) return false;
    put_u32s(fe.variant_off + (fe.num_variants - 1) * kVariantBytes, &ve, sizeof ve);
    return true;
  }

  // One variant value: the JSON text of an Ion string.
  bool json_text(const ion::Node& v, std::string_view flag, size_t index, bool need_variant, std::string_view& out) {
    if ((v.type != ion::Type::kString && v.type != ion::Type::kClob) || v.is_null) {
      return fail(false, "flag '%.*s' variant %zu: expected a string holding JSON, got %s (at byte %u)", clip(flag),
                  flag.data(), index + 1, v.is_null ? "null" : ion::type_name(v.type), v.offset);
    }
    const std::string_view body = text::trim(v.text, text::kJsonSpace);
    const json::ValidateResult vr = json::validate(body);
    if (vr.error != json::Error::kNone) {
      return fail(false, "flag '%.*s' variant %zu: invalid JSON (%s at byte %zu of the JSON; value at byte %u)",
                  clip(flag), flag.data(), index + 1, json::error_message(vr.error), vr.offset, v.offset);
    }
    if (json::kind_of(body) != json::Kind::kObject) {
      return fail(false, "flag '%.*s' variant %zu: the JSON must be an object (at byte %u)", clip(flag), flag.data(),
                  index + 1, v.offset);
    }
    if (need_variant) {
      const auto name = json::find(body, "_variant");
      if (!name || json::kind_of(*name) != json::Kind::kString) {
        return fail(false, "flag '%.*s' variant %zu: the JSON needs a \"_variant\" string member (at byte %u)",
                    clip(flag), flag.data(), index + 1, v.offset);
      }
    }
    out = body;
    return true;
  }

  // Appends `,"<name>":<json>`; returns the entry fields.
  bool piece(std::string_view name, std::string_view json_value, VariantEntry& e) {
    const size_t prefix = 1 + 1 + escaped_len(name) + 1 + 1;
    const size_t total = prefix + json_value.size();
    if (total > w.limit - w.len || w.len + total > UINT32_MAX) return no_space();
    char* p = reinterpret_cast<char*>(w.data + w.len);
    size_t n = 0;
    p[n++] = ',';
    p[n++] = '"';
    n += escape(name, p + n);
    p[n++] = '"';
    p[n++] = ':';
    std::memcpy(p + n, json_value.data(), json_value.size());
    e.piece_off = static_cast<uint32_t>(w.len);
    e.piece_len = static_cast<uint32_t>(total);
    e.prefix_len = static_cast<uint32_t>(prefix);
    w.len += total;
    return true;
  }

  bool zeros(size_t n) {
    if (n > w.limit - w.len) return false;
    std::memset(w.data + w.len, 0, n);
    w.len += n;
    return true;
  }

  void put_u32s(size_t off, const void* entry, size_t bytes) { std::memcpy(w.data + off, entry, bytes); }

  // Records the message (and whether only room was short); returns false.
  __attribute__((format(printf, 3, 4))) bool fail(bool space, const char* fmt, ...) {
    result->ok = false;
    result->out_of_space = space;
    va_list ap;
    va_start(ap, fmt);
    error::vfail(result->message, sizeof result->message, fmt, ap);
    va_end(ap);
    return false;
  }
  bool no_space() { return fail(true, "%s", "buffer too small for the compiled flags; retry with a larger one"); }
};

// r's message for an Ion reader's error (out_of_space only when a larger buffer may help).
void parse_failed(const ion::ParseResult& pr, bool binary, size_t cap, size_t input_len, CompileResult& r) {
  r.out_of_space = pr.error == ion::Error::kOutOfMemory;
  if (r.out_of_space && cap >= kMaxCompileBytes) {
    // Final: the caller's retry would not get more memory.
    r.out_of_space = false;
    error::fail(r.message, sizeof r.message,
                "the profile needs more than %zu MiB of memory to compile (about 104 bytes per Ion value; "
                "ran out at input byte %zu of %zu): split it or use fewer, larger values",
                kMaxCompileBytes >> 20, pr.offset, input_len);
  } else if (pr.error == ion::Error::kUnknownSymbol) {
    error::fail(r.message, sizeof r.message, "Ion %s: unknown symbol $%u (%s) at byte %zu", binary ? "binary" : "text",
                pr.symbol_id, pr.detail, pr.offset);
  } else {
    error::fail(r.message, sizeof r.message, "Ion %s: %s%s%s at byte %zu", binary ? "binary" : "text",
                ion::error_message(pr.error), pr.detail[0] ? ": " : "", pr.detail, pr.offset);
  }
}

CompileResult compile(std::string_view input, uint8_t* out, size_t cap, bool binary) {
  CompileResult r{};
  r.ok = false;
  ion::Arena arena{.base = out, .cap = cap, .used = 0};
  ion::Document doc{};
  const ion::ParseResult pr = binary ? ion::parse_binary(input, arena, doc) : ion::parse_text(input, arena, doc);
  if (pr.error != ion::Error::kNone) {
    parse_failed(pr, binary, cap, input.size(), r);
    return r;
  }
  // The blob is built above the parse tree, then moved to the start.
  const size_t base = (arena.used + 7) & ~size_t{7};
  if (base > cap) {
    r.out_of_space = true;
    error::fail(r.message, sizeof r.message, "buffer too small for the compiled flags; retry with a larger one");
  } else {
    Builder b{.w = {.data = out + base, .limit = cap - base, .len = 0}, .result = &r};
    if (b.build(doc)) {
      std::memmove(out, out + base, b.w.len);
      r.ok = true;
      r.blob_len = b.w.len;
      return r;
    }
  }
  if (r.out_of_space && cap >= kMaxCompileBytes) {
    r.out_of_space = false;
    error::fail(r.message, sizeof r.message,
                "the compiled profile does not fit in %zu MiB of compile memory (parse tree and rules of a "
                "%zu-byte input): split it or use fewer values",
                kMaxCompileBytes >> 20, input.size());
  }
  return r;
}

// Collects pieces; merges adjacent ones; spills into scratch when the piece
// array is full.
struct Sink {
  flags::Filtered& out;
  char* scratch;
  size_t cap;
  size_t used = 0;
  bool spilled = false;

  bool add(const char* data, size_t len) {
    if (len == 0) return true;
    out.total_bytes += len;
    if (out.num_pieces > 0) {
      flags::Piece& last = out.pieces[out.num_pieces - 1];
      if (last.data + last.len == data) {
        last.len += len;
        return true;
      }
      if (spilled) return copy(last, data, len);
    }
    if (out.num_pieces < flags::kMaxPieces) {
      out.pieces[out.num_pieces++] = {data, len};
      return true;
    }
    // Full: move the last piece into scratch and keep appending there.
    flags::Piece& last = out.pieces[out.num_pieces - 1];
    if (last.len > cap) return false;
    std::memmove(scratch, last.data, last.len);
    used = last.len;
    last.data = scratch;
    spilled = true;
    return copy(last, data, len);
  }

  bool copy(flags::Piece& last, const char* data, size_t len) {
    if (len > cap - used) return false;
    std::memcpy(scratch + used, data, len);
    used += len;
    last.len += len;
    return true;
  }
};

// ---------------------------------------------------------------- evaluate

// One request's answer over a blob: the flag table, the Context pairs, and the one step budget
// that every flag-name comparison, variant and rule of the answer draws from.
class Answer {
 public:
  Answer(std::string_view blob, const Context& ctx) : blob_(blob), ctx_(ctx) {}

  uint64_t steps_left = kMaxEvalSteps;
  size_t over_budget_flag = SIZE_MAX;  // kOverBudget: the flag being evaluated

  EvalError run(std::span<const std::string_view> keys, char* scratch, size_t scratch_cap, flags::Filtered& out,
                size_t* bad_key_index) {
    uint32_t h[4];
    if (!load(blob_, 0, h) || std::memcmp(h, kMagic, 4) != 0 || h[3] != blob_.size()) return EvalError::kCorruptBlob;
    num_flags_ = h[1];
    flag_table_ = h[2];
    if (keys.size() > flags::kMaxFlagKeys) return EvalError::kTooManyKeys;
    uint32_t chosen[flags::kMaxFlagKeys];
    size_t num_chosen = 0;
    const EvalError e = choose(keys, chosen, num_chosen, bad_key_index);
    if (e != EvalError::kNone) return e;
    if (num_chosen == 1) return one_flag(chosen[0], out);
    Sink sink{.out = out, .scratch = scratch, .cap = scratch_cap};
    return keys.empty() ? object(nullptr, num_flags_, sink) : object(chosen, num_chosen, sink);
  }

 private:
  std::string_view blob_;
  const Context& ctx_;
  uint32_t num_flags_ = 0;
  uint32_t flag_table_ = 0;

  bool spend(uint64_t steps) {
    if (steps > steps_left) {
      steps_left = 0;
      return false;
    }
    steps_left -= steps;
    return true;
  }

  bool flag_at(uint32_t i, FlagEntry& fe) const { return load(blob_, flag_table_ + size_t{i} * kFlagBytes, fe); }

  // The flags the keys name, in query order (a repeated key counts once).
  EvalError choose(std::span<const std::string_view> keys, uint32_t* chosen, size_t& num_chosen,
                   size_t* bad_key_index) {
    for (size_t k = 0; k < keys.size(); ++k) {
      bool repeat = false;
      for (size_t j = 0; j < k && !repeat; ++j) repeat = keys[j] == keys[k];
      if (repeat) continue;
      uint32_t found = UINT32_MAX;
      const EvalError e = find(keys[k], found);
      if (e != EvalError::kNone) return e;
      if (found == UINT32_MAX) {
        if (bad_key_index != nullptr) *bad_key_index = k;
        return EvalError::kUnknownFlag;
      }
      chosen[num_chosen++] = found;
    }
    return EvalError::kNone;
  }

  // The index of the flag called name, or UINT32_MAX: a linear scan charged per comparison.
  EvalError find(std::string_view name, uint32_t& found) {
    for (uint32_t i = 0; i < num_flags_ && found == UINT32_MAX; ++i) {
      FlagEntry fe;
      if (!flag_at(i, fe) || fe.name_off > blob_.size() || fe.name_len > blob_.size() - fe.name_off) {
        return EvalError::kCorruptBlob;
      }
      // A comparison reads the bytes only when the lengths agree.
      if (!spend(fe.name_len == name.size() ? 1 + fe.name_len / 16 : 1)) return EvalError::kOverBudget;
      if (blob_.substr(fe.name_off, fe.name_len) == name) found = i;
    }
    return EvalError::kNone;
  }

  // The chosen variant of flag i: the first whose rule is true, else the default (the last). No
  // Context pairs: no rule can be true, so straight to the default.
  EvalError pick(uint32_t i, VariantEntry& ve) {
    FlagEntry fe;
    if (!flag_at(i, fe) || fe.num_variants == 0) return EvalError::kCorruptBlob;
    const std::span<const ContextPair> pairs(ctx_.pairs, ctx_.num_pairs);
    const uint32_t first = ctx_.num_pairs == 0 ? fe.num_variants - 1 : 0;
    for (uint32_t k = first; k < fe.num_variants; ++k) {
      if (!load(blob_, fe.variant_off + size_t{k} * kVariantBytes, ve)) return EvalError::kCorruptBlob;
      bool take = ve.rule_off == 0;
      if (!spend(1)) take = false;
      if (!take && steps_left > 0) {
        const rules::Result r = rules::evaluate(blob_, ve.rule_off, pairs, &steps_left);
        if (r == rules::Result::kCorrupt) return EvalError::kCorruptBlob;
        take = r == rules::Result::kTrue;
      }
      if (steps_left == 0 && !take) {
        over_budget_flag = i;
        return EvalError::kOverBudget;
      }
      if (take) {
        if (ve.piece_off > blob_.size() || ve.piece_len > blob_.size() - ve.piece_off || ve.prefix_len > ve.piece_len ||
            ve.prefix_len < 2) {
          return EvalError::kCorruptBlob;
        }
        return EvalError::kNone;
      }
    }
    return EvalError::kCorruptBlob;  // the last variant always matches
  }

  // One flag asked for: its value alone (the piece without its `,"name":` prefix).
  EvalError one_flag(uint32_t i, flags::Filtered& out) {
    VariantEntry ve;
    const EvalError e = pick(i, ve);
    if (e != EvalError::kNone) return e;
    out.pieces[0] = {blob_.data() + ve.piece_off + ve.prefix_len, ve.piece_len - ve.prefix_len};
    out.num_pieces = 1;
    out.total_bytes = out.pieces[0].len;
    return EvalError::kNone;
  }

  // {"name":value,…} over flags chosen[0, count), or over the first count flags when chosen is null.
  EvalError object(const uint32_t* chosen, size_t count, Sink& sink) {
    static constexpr char kOpen[] = "{";
    static constexpr char kClose[] = "}";
    if (!sink.add(kOpen, 1)) return EvalError::kScratchTooSmall;
    for (size_t j = 0; j < count; ++j) {
      VariantEntry ve;
      const EvalError e = pick(chosen == nullptr ? static_cast<uint32_t>(j) : chosen[j], ve);
      if (e != EvalError::kNone) return e;
      const size_t skip = j == 0 ? 1 : 0;  // no comma before the first member
      if (!sink.add(blob_.data() + ve.piece_off + skip, ve.piece_len - skip)) return EvalError::kScratchTooSmall;
    }
    if (!sink.add(kClose, 1)) return EvalError::kScratchTooSmall;
    return EvalError::kNone;
  }
};

}  // namespace

bool parse_context(const std::string_view* header_values, size_t n, Context& out, char* err, size_t err_cap) {
  out.num_pairs = 0;
  out.used = 0;
  if (err != nullptr && err_cap > 0) err[0] = 0;
  for (size_t h = 0; h < n; ++h) {
    std::string_view rest = header_values[h];
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view element = text::trim(rest.substr(0, comma));
      if (!element.empty() && !parse_pair(element, out, err, err_cap)) return false;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return true;
}

size_t compile_capacity_hint(size_t input_len) {
  // Room for the parse tree of a dense profile (about 160 bytes per input
  // byte) plus the blob, but never more than the stated limit: a 4 MiB binary
  // Ion stream of one-byte nulls needs 104 bytes of tree per byte (436 MB).
  const size_t want = input_len * 512 + 256 * 1024;
  return want < kMaxCompileBytes ? want : kMaxCompileBytes;
}

CompileResult compile_ion_text(std::string_view text, uint8_t* out, size_t cap) {
  return compile(text, out, cap, false);
}

CompileResult compile_ion_binary(std::string_view bytes, uint8_t* out, size_t cap) {
  return compile(bytes, out, cap, true);
}

bool looks_like_ion_binary(std::string_view bytes) { return ion::looks_like_binary(bytes); }

const char* eval_error_message(EvalError error) {
  switch (error) {
    case EvalError::kNone: return "ok";
    case EvalError::kUnknownFlag: return "unknown flag key";
    case EvalError::kTooManyKeys: return "too many flag parameters; ask without flag= to get all flags";
    case EvalError::kScratchTooSmall: return "answer too large for the response buffer";
    case EvalError::kCorruptBlob: return "internal error: compiled flags are corrupt";
    case EvalError::kOverBudget: return "evaluation over the per-request step budget";
  }
  return "unknown evaluation error";
}

size_t scratch_bytes_needed(std::string_view blob) {
  uint32_t h[4];
  if (!load(blob, 0, h) || std::memcmp(h, kMagic, 4) != 0) return 0;
  size_t total = 2;
  for (uint32_t i = 0; i < h[1]; ++i) {
    FlagEntry fe;
    if (!load(blob, h[2] + size_t{i} * kFlagBytes, fe)) return 0;
    size_t largest = 0;
    for (uint32_t k = 0; k < fe.num_variants; ++k) {
      VariantEntry ve;
      if (!load(blob, fe.variant_off + size_t{k} * kVariantBytes, ve)) return 0;
      if (ve.piece_len > largest) largest = ve.piece_len;
    }
    total += largest;
  }
  return total;
}

std::string_view flag_name(std::string_view blob, size_t flag_index) {
  uint32_t h[4];
  FlagEntry fe;
  if (!load(blob, 0, h) || std::memcmp(h, kMagic, 4) != 0 || flag_index >= h[1] ||
      !load(blob, h[2] + flag_index * kFlagBytes, fe) || fe.name_off > blob.size() ||
      fe.name_len > blob.size() - fe.name_off) {
    return {};
  }
  return blob.substr(fe.name_off, fe.name_len);
}

EvalError evaluate(std::string_view blob, const Context& ctx, std::span<const std::string_view> keys, char* scratch,
                   size_t scratch_cap, flags::Filtered& out, size_t* bad_key_index, EvalCost* cost) {
  out.num_pieces = 0;
  out.total_bytes = 0;
  Answer answer(blob, ctx);
  const EvalError e = answer.run(keys, scratch, scratch_cap, out, bad_key_index);
  if (cost != nullptr) {
    *cost = EvalCost{.steps = kMaxEvalSteps - answer.steps_left, .flag_index = answer.over_budget_flag};
  }
  return e;
}

}  // namespace appconfig::variants
