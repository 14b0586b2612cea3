// variants: Context header, profile compile, per-request variant choice.
// See include/appconfig/flags/variants.h.
#include "appconfig/flags/variants.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

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

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void set_err(char* err, size_t cap, const char* what, std::string_view pair) {
  if (err == nullptr || cap == 0) return;
  const int shown = static_cast<int>(pair.size() > 64 ? 64 : pair.size());
  std::snprintf(err, cap, "bad Context pair '%.*s%s': %s", shown, pair.data(), pair.size() > 64 ? "…" : "", what);
}

// Percent-decodes src into storage; false on a bad escape or no room.
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
      const int h1 = hex_value(static_cast<unsigned char>(src[i + 1]));
      const int h2 = hex_value(static_cast<unsigned char>(src[i + 2]));
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

// ---------------------------------------------------------------- compile

// JSON string body escaping (RFC 8259 §7): " \ and control bytes.
size_t escaped_len(std::string_view s) { return json::escaped_length(s); }
size_t escape(std::string_view s, char* out) { return json::escape(s, out, SIZE_MAX); }

std::string_view trim_json_ws(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

int clip(std::string_view t) { return static_cast<int>(t.size() > 60 ? 60 : t.size()); }

// Index (in document order) of the first flag whose name an earlier flag
// already has, or SIZE_MAX. Sorting costs O(F log F) name comparisons, each
// at most the shorter name: about log2(kMaxFlags) = 12 passes over the name
// bytes. (Comparing every pair cost F²/2 = 8.4 M comparisons at kMaxFlags,
// each up to a whole name when names share a long prefix.)
size_t first_duplicate_name(const ion::Document& doc) {
  static uint32_t order[kMaxFlags];                 // static: compile is single-threaded, never re-entrant
  static const ion::Node* node_of[kMaxFlags];
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

struct Builder {
  rules::Writer w;
  CompileResult* result;
  uint64_t work_left = rules::kMaxProfileCompileSteps;  // shared by every rule of the profile

  template <typename... Args>
  bool fail(bool space, const char* fmt, Args... args) {
    result->ok = false;
    result->out_of_space = space;
    std::snprintf(result->message, sizeof result->message, fmt, args...);
    return false;
  }
  bool no_space() { return fail(true, "%s", "buffer too small for the compiled flags; retry with a larger one"); }

  bool zeros(size_t n) {
    if (n > w.limit - w.len) return false;
    std::memset(w.data + w.len, 0, n);
    w.len += n;
    return true;
  }

  void put_u32s(size_t off, const void* entry, size_t bytes) { std::memcpy(w.data + off, entry, bytes); }

  // One variant value: the JSON text of an Ion string.
  bool json_text(const ion::Node& v, std::string_view flag, size_t index, bool need_variant, std::string_view& out) {
    if ((v.type != ion::Type::kString && v.type != ion::Type::kClob) || v.is_null) {
      return fail(false, "flag '%.*s' variant %zu: expected a string holding JSON, got %s (at byte %u)", clip(flag),
                  flag.data(), index + 1, v.is_null ? "null" : ion::type_name(v.type), v.offset);
    }
    const std::string_view text = trim_json_ws(v.text);
    const json::ValidateResult vr = json::validate(text);
    if (vr.error != json::Error::kNone) {
      return fail(false, "flag '%.*s' variant %zu: invalid JSON (%s at byte %zu of the JSON; value at byte %u)",
                  clip(flag), flag.data(), index + 1, json::error_message(vr.error), vr.offset, v.offset);
    }
    if (json::kind_of(text) != json::Kind::kObject) {
      return fail(false, "flag '%.*s' variant %zu: the JSON must be an object (at byte %u)", clip(flag), flag.data(),
                  index + 1, v.offset);
    }
    if (need_variant) {
      const auto name = json::find(text, "_variant");
      if (!name || json::kind_of(*name) != json::Kind::kString) {
        return fail(false, "flag '%.*s' variant %zu: the JSON needs a \"_variant\" string member (at byte %u)",
                    clip(flag), flag.data(), index + 1, v.offset);
      }
    }
    out = text;
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

  bool build(const ion::Document& doc) {
    if (doc.num_values > kMaxFlags) return fail(false, "more than %zu flags", kMaxFlags);
    const size_t num_flags = doc.num_values;
    char header[kHeaderBytes] = {};
    if (w.append(header, kHeaderBytes) != 0) return no_space();
    const size_t flag_table = w.append(nullptr, 0, 4);
    if (flag_table == SIZE_MAX) return no_space();
    if (!zeros(num_flags * kFlagBytes)) return no_space();

    // Pass 1: names, variant tables, rules and non-default pieces.
    // Duplicate names are an authoring mistake worth reporting; found up front
    // (sorted), reported when the loop reaches the flag, as before.
    const size_t duplicate = first_duplicate_name(doc);
    size_t index = 0;
    for (const ion::Node* f = doc.first; f != nullptr; f = f->next_sibling, ++index) {
      if (f->num_annotations == 0) {
        return fail(false, "top-level value at byte %u has no flag name: write 'name'::value", f->offset);
      }
      const std::string_view name = f->annotations[0];
      if (name.empty()) return fail(false, "empty flag name at byte %u", f->offset);
      if (index == duplicate) {
        return fail(false, "flag '%.*s' defined twice (at byte %u)", clip(name), name.data(), f->offset);
      }
      const size_t name_off = w.append(name.data(), name.size());
      if (name_off == SIZE_MAX) return no_space();

      size_t nv = 1;
      const bool is_list = f->type == ion::Type::kList && !f->is_null;
      if (is_list) {
        nv = f->num_children;
        if (nv == 0) return fail(false, "flag '%.*s' has an empty variant list (at byte %u)", clip(name), name.data(), f->offset);
        if (nv > kMaxVariants) return fail(false, "flag '%.*s' has more than %zu variants", clip(name), name.data(), kMaxVariants);
      }
      const size_t vtable = w.append(nullptr, 0, 4);
      if (vtable == SIZE_MAX) return no_space();
      if (!zeros(nv * kVariantBytes)) return no_space();
      const FlagEntry fe{static_cast<uint32_t>(name_off), static_cast<uint32_t>(name.size()),
                         static_cast<uint32_t>(nv), static_cast<uint32_t>(vtable)};
      put_u32s(flag_table + index * kFlagBytes, &fe, sizeof fe);
      if (!is_list) continue;  // single value: written in pass 2

      size_t vi = 0;
      for (const ion::Node* v = f->first_child; v != nullptr; v = v->next_sibling, ++vi) {
        const bool last = vi + 1 == nv;
        const ion::Node* rule = nullptr;
        const ion::Node* value = v;
        if (v->type == ion::Type::kList && !v->is_null) {
          if (v->num_children == 2) {
            rule = v->first_child;
            value = rule->next_sibling;
          } else if (v->num_children == 1) {
            value = v->first_child;
          } else {
            return fail(false, "flag '%.*s' variant %zu: expected [rule, json] (at byte %u)", clip(name), name.data(),
                        vi + 1, v->offset);
          }
        }
        if (last && rule != nullptr) {
          return fail(false, "flag '%.*s': the last variant is the default and takes no rule (at byte %u)", clip(name),
                      name.data(), v->offset);
        }
        if (!last && rule == nullptr) {
          return fail(false, "flag '%.*s' variant %zu: only the last variant may omit its rule (at byte %u)",
                      clip(name), name.data(), vi + 1, v->offset);
        }
        std::string_view text;
        if (!json_text(*value, name, vi, true, text)) return false;
        if (last) continue;  // the default: pass 2
        const rules::CompileResult rc = rules::compile(*rule, w, &work_left);
        if (rc.error != rules::Error::kNone) {
          if (rc.error == rules::Error::kOutOfSpace) return no_space();
          return fail(false, "flag '%.*s' variant %zu rule: %s (at byte %zu)", clip(name), name.data(), vi + 1,
                      rc.message, rc.offset);
        }
        VariantEntry ve{rc.root, 0, 0, 0};
        if (!piece(name, text, ve)) return false;
        put_u32s(vtable + vi * kVariantBytes, &ve, sizeof ve);
      }
    }

    // Pass 2: default pieces back to back, in flag order.
    index = 0;
    for (const ion::Node* f = doc.first; f != nullptr; f = f->next_sibling, ++index) {
      FlagEntry fe;
      std::memcpy(&fe, w.data + flag_table + index * kFlagBytes, sizeof fe);
      const std::string_view name = f->annotations[0];
      const bool is_list = f->type == ion::Type::kList && !f->is_null;
      const ion::Node* value = f;
      if (is_list) {
        value = f->first_child;
        for (uint32_t k = 1; k < fe.num_variants; ++k) value = value->next_sibling;
        if (value->type == ion::Type::kList) value = value->first_child;
      }
      std::string_view text;
      if (!json_text(*value, name, fe.num_variants - 1, is_list, text)) return false;
      VariantEntry ve{0, 0, 0, 0};
      if (!piece(name, text, ve)) return false;
      put_u32s(fe.variant_off + (fe.num_variants - 1) * kVariantBytes, &ve, sizeof ve);
    }
    const uint32_t h[4] = {0, static_cast<uint32_t>(num_flags), static_cast<uint32_t>(flag_table),
                           static_cast<uint32_t>(w.len)};
    std::memcpy(w.data, h, sizeof h);
    std::memcpy(w.data, kMagic, 4);
    return true;
  }
};

CompileResult compile(std::string_view input, uint8_t* out, size_t cap, bool binary) {
  CompileResult r{};
  r.ok = false;
  ion::Arena arena{out, cap, 0};
  ion::Document doc{};
  const ion::ParseResult pr = binary ? ion::parse_binary(input, arena, doc) : ion::parse_text(input, arena, doc);
  if (pr.error != ion::Error::kNone) {
    r.out_of_space = pr.error == ion::Error::kOutOfMemory;
    if (r.out_of_space && cap >= kMaxCompileBytes) {
      // Final: the caller's retry would not get more memory.
      r.out_of_space = false;
      std::snprintf(r.message, sizeof r.message,
                    "the profile needs more than %zu MiB of memory to compile (about 104 bytes per Ion value; "
                    "ran out at input byte %zu of %zu): split it or use fewer, larger values",
                    kMaxCompileBytes >> 20, pr.offset, input.size());
    } else if (pr.error == ion::Error::kUnknownSymbol) {
      std::snprintf(r.message, sizeof r.message, "Ion %s: unknown symbol $%u (%s) at byte %zu",
                    binary ? "binary" : "text", pr.symbol_id, pr.detail, pr.offset);
    } else {
      std::snprintf(r.message, sizeof r.message, "Ion %s: %s%s%s at byte %zu", binary ? "binary" : "text",
                    ion::error_message(pr.error), pr.detail[0] ? ": " : "", pr.detail, pr.offset);
    }
    return r;
  }
  // The blob is built above the parse tree, then moved to the start.
  const size_t base = (arena.used + 7) & ~size_t{7};
  if (base > cap) {
    r.out_of_space = true;
    std::snprintf(r.message, sizeof r.message, "buffer too small for the compiled flags; retry with a larger one");
  } else {
    Builder b{rules::Writer{out + base, cap - base, 0}, &r};
    if (b.build(doc)) {
      std::memmove(out, out + base, b.w.len);
      r.ok = true;
      r.blob_len = b.w.len;
      return r;
    }
  }
  if (r.out_of_space && cap >= kMaxCompileBytes) {
    r.out_of_space = false;
    std::snprintf(r.message, sizeof r.message,
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

}  // namespace

bool parse_context(const std::string_view* header_values, size_t n, Context& out, char* err, size_t err_cap) {
  out.num_pairs = 0;
  out.used = 0;
  if (err != nullptr && err_cap > 0) err[0] = 0;
  for (size_t h = 0; h < n; ++h) {
    std::string_view rest = header_values[h];
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view element = trim(rest.substr(0, comma));
      if (!element.empty()) {
        const size_t eq = element.find('=');
        if (eq == std::string_view::npos) {
          set_err(err, err_cap, "expected key=value", element);
          return false;
        }
        const std::string_view raw_key = trim(element.substr(0, eq));
        const std::string_view raw_value = trim(element.substr(eq + 1));
        if (raw_key.empty()) {
          set_err(err, err_cap, "empty key", element);
          return false;
        }
        if (out.num_pairs == kMaxContextPairs) {
          set_err(err, err_cap, "too many Context pairs (limit 32)", element);
          return false;
        }
        ContextPair& p = out.pairs[out.num_pairs];
        const char* why = nullptr;
        if (!decode(raw_key, out, p.key, why) || !decode(raw_value, out, p.value, why)) {
          set_err(err, err_cap, why, element);
          return false;
        }
        if (p.key.empty()) {
          set_err(err, err_cap, "empty key", element);
          return false;
        }
        ++out.num_pairs;
      }
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
  // One budget for the whole answer: every name comparison, variant and rule
  // of every flag asked for draws from it.
  uint64_t steps_left = kMaxEvalSteps;
  auto spend = [&](uint64_t steps) {
    if (steps > steps_left) {
      steps_left = 0;
      return false;
    }
    steps_left -= steps;
    return true;
  };
  struct Report {  // fills *cost on every return
    EvalCost* cost;
    uint64_t& left;
    ~Report() {
      if (cost != nullptr) cost->steps = kMaxEvalSteps - left;
    }
  } report{cost, steps_left};
  if (cost != nullptr) cost->flag_index = SIZE_MAX;
  uint32_t h[4];
  if (!load(blob, 0, h) || std::memcmp(h, kMagic, 4) != 0 || h[3] != blob.size()) return EvalError::kCorruptBlob;
  const uint32_t num_flags = h[1];
  const uint32_t flag_table = h[2];
  if (keys.size() > flags::kMaxFlagKeys) return EvalError::kTooManyKeys;

  auto flag_at = [&](uint32_t i, FlagEntry& fe) { return load(blob, flag_table + size_t{i} * kFlagBytes, fe); };

  // Which flags, in answer order.
  uint32_t chosen[flags::kMaxFlagKeys];
  size_t num_chosen = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    bool repeat = false;
    for (size_t j = 0; j < k && !repeat; ++j) repeat = keys[j] == keys[k];
    if (repeat) continue;
    uint32_t found = UINT32_MAX;
    for (uint32_t i = 0; i < num_flags && found == UINT32_MAX; ++i) {
      FlagEntry fe;
      if (!flag_at(i, fe) || fe.name_off > blob.size() || fe.name_len > blob.size() - fe.name_off) {
        return EvalError::kCorruptBlob;
      }
      // A comparison reads the bytes only when the lengths agree.
      if (!spend(fe.name_len == keys[k].size() ? 1 + fe.name_len / 16 : 1)) return EvalError::kOverBudget;
      if (blob.substr(fe.name_off, fe.name_len) == keys[k]) found = i;
    }
    if (found == UINT32_MAX) {
      if (bad_key_index != nullptr) *bad_key_index = k;
      return EvalError::kUnknownFlag;
    }
    chosen[num_chosen++] = found;
  }

  const std::span<const ContextPair> pairs(ctx.pairs, ctx.num_pairs);
  // The chosen variant's piece for flag i.
  auto pick = [&](uint32_t i, VariantEntry& ve) -> EvalError {
    FlagEntry fe;
    if (!flag_at(i, fe) || fe.num_variants == 0) return EvalError::kCorruptBlob;
    const uint32_t first = ctx.num_pairs == 0 ? fe.num_variants - 1 : 0;
    for (uint32_t k = first; k < fe.num_variants; ++k) {
      if (!load(blob, fe.variant_off + size_t{k} * kVariantBytes, ve)) return EvalError::kCorruptBlob;
      bool take = ve.rule_off == 0;
      if (!spend(1)) take = false;
      if (!take && steps_left > 0) {
        const rules::Result r = rules::evaluate(blob, ve.rule_off, pairs, &steps_left);
        if (r == rules::Result::kCorrupt) return EvalError::kCorruptBlob;
        take = r == rules::Result::kTrue;
      }
      if (steps_left == 0 && !take) {
        if (cost != nullptr) cost->flag_index = i;
        return EvalError::kOverBudget;
      }
      if (take) {
        if (ve.piece_off > blob.size() || ve.piece_len > blob.size() - ve.piece_off || ve.prefix_len > ve.piece_len ||
            ve.prefix_len < 2) {
          return EvalError::kCorruptBlob;
        }
        return EvalError::kNone;
      }
    }
    return EvalError::kCorruptBlob;  // the last variant always matches
  };

  if (num_chosen == 1) {
    VariantEntry ve;
    const EvalError e = pick(chosen[0], ve);
    if (e != EvalError::kNone) return e;
    out.pieces[0] = {blob.data() + ve.piece_off + ve.prefix_len, ve.piece_len - ve.prefix_len};
    out.num_pieces = 1;
    out.total_bytes = out.pieces[0].len;
    return EvalError::kNone;
  }

  static constexpr char kOpen[] = "{";
  static constexpr char kClose[] = "}";
  Sink sink{out, scratch, scratch_cap};
  const size_t count = keys.empty() ? num_flags : num_chosen;
  if (!sink.add(kOpen, 1)) return EvalError::kScratchTooSmall;
  for (size_t j = 0; j < count; ++j) {
    VariantEntry ve;
    const EvalError e = pick(keys.empty() ? static_cast<uint32_t>(j) : chosen[j], ve);
    if (e != EvalError::kNone) return e;
    const size_t skip = j == 0 ? 1 : 0;  // no comma before the first member
    if (!sink.add(blob.data() + ve.piece_off + skip, ve.piece_len - skip)) return EvalError::kScratchTooSmall;
  }
  if (!sink.add(kClose, 1)) return EvalError::kScratchTooSmall;
  return EvalError::kNone;
}

}  // namespace appconfig::variants
