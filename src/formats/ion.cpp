// ion: what the Ion text and binary readers share: the value model (arena, nodes), symbol tables,
// budgets, exact numbers and error messages. See include/appconfig/formats/ion.h (the API) and
// include/appconfig/formats/ion_internal.h (which file holds which part).
//
// References: Amazon Ion 1.0 specification (amazon-ion.github.io/ion-docs):
// "Symbols" (local symbol tables, imports, system symbols 1-9).
#include "appconfig/formats/ion.h"
#include "appconfig/core/error.h"
#include "appconfig/formats/ion_internal.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace appconfig::ion {

const char kUnknownTextMarker[1] = {0};

void* Arena::alloc(size_t bytes, size_t align) { return internal::arena_alloc(*this, bytes, align); }

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

namespace internal {

void append_top_level(Document& out, Node*& last, Node* v) {
  if (v->type == Type::kSymbol && !v->is_null && v->num_annotations == 0 && v->text == "$ion_1_0") return;
  if (last == nullptr)
    out.first = v;
  else
    last->next_sibling = v;
  last = v;
  ++out.num_values;
}

// ---------------------------------------------------------------- exact numbers

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

// ---------------------------------------------------------------- errors and budgets

bool Reader::fail_detail(Error e, size_t at, const char* fmt, ...) {
  if (result_.error != Error::kNone) return false;
  fail(e, at);
  va_list ap;
  va_start(ap, fmt);
  error::vfail(result_.detail, sizeof result_.detail, fmt, ap);
  va_end(ap);
  return false;
}

bool Reader::charge_digits(size_t len, size_t at) {
  const uint64_t work = (len / 4 + 1) * (len * 241 / 900 + 1);
  digit_work_ += work;
  if (digit_work_ > kMaxDigitWork) {
    return fail_detail(Error::kIntOutOfRange, at,
                       "big numbers need more than %llu steps to turn into digits in this document",
                       static_cast<unsigned long long>(kMaxDigitWork));
  }
  return true;
}

bool Reader::slow_double(Node& n, bool negative, std::string_view digits, int64_t exponent, size_t at) {
  if (++slow_numbers_ > kMaxSlowNumbers) {
    return fail_detail(Error::kBadNumber, at, "more than %zu numbers need a slow exact conversion", kMaxSlowNumbers);
  }
  char buf[kMaxStrtodDigits + 32];
  n.float_value = decimal_to_double(negative, digits, exponent, buf, sizeof buf);
  return true;
}

bool Reader::int_from_magnitude(Node& n, bool negative, const Byte* mag, size_t len, size_t at) {
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

// ---------------------------------------------------------------- symbol tables

// kUnknownSymbol for `sid`; the caller writes where it came from into result_.detail.
bool Reader::fail_symbol(uint64_t sid, size_t at) {
  fail(Error::kUnknownSymbol, at);
  result_.symbol_id = static_cast<uint32_t>(sid > 0xFFFFFFFFu ? 0xFFFFFFFFu : sid);
  return false;
}

bool Reader::symbol_text(uint64_t sid, size_t at, std::string_view& text) {
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
    fail_symbol(sid, at);
    return error::fail(result_.detail, sizeof result_.detail, "beyond the symbol table (%llu symbols)",
                       static_cast<unsigned long long>(first_local_ + num_locals_ - 1));
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
  fail_symbol(sid, at);
  return error::fail(result_.detail, sizeof result_.detail,
                     "imported from shared table '%.*s' version %u, whose text is not known",
                     static_cast<int>(r.name.size() > 40 ? 40 : r.name.size()), r.name.data(), r.version);
}

namespace {

inline const Node* field(const Node& s, std::string_view name) {
  for (const Node* f = s.first_child; f != nullptr; f = f->next_sibling) {
    if (f->field_name == name && !text_unknown(f->field_name)) return f;
  }
  return nullptr;
}

std::string_view import_name(const Node& imp) {
  const Node* f = field(imp, "name");
  return f != nullptr && f->type == Type::kString && !f->is_null ? f->text : std::string_view{};
}

uint32_t import_version(const Node& imp) {
  const Node* f = field(imp, "version");
  if (f == nullptr || f->type != Type::kInt || f->is_null || f->big || f->int_value < 1) return 1;
  return f->int_value > 0xFFFFFFF ? 0xFFFFFFF : static_cast<uint32_t>(f->int_value);
}

}  // namespace

const SharedTable* Reader::find_import(std::string_view name, uint32_t version) const {
  for (const SharedTable& t : catalogue_) {
    if (t.name == name && t.version == version) return &t;
  }
  return nullptr;
}

// Symbol IDs an import occupies (Ion 1.0: max_id, or the known table's
// size). An import without a usable name (or of $ion) takes none; one of an
// unknown table needs a non-negative integer max_id.
bool Reader::import_size(const Node& imp, uint64_t& max_id) {
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

// The table's `imports` and `symbols` fields (null when absent); each may appear once.
bool Reader::table_fields(const Node& table, const Node*& imports, const Node*& symbols) {
  imports = nullptr;
  symbols = nullptr;
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
  return true;
}

// One ImportRange per import of the `imports` list that takes symbol IDs, in the arena; the
// locals start after them (first_local).
bool Reader::import_ranges(const Node& imports, const ImportRange*& ranges, size_t& num_ranges,
                           uint64_t& first_local) {
  size_t count = 0;
  for (const Node* imp = imports.first_child; imp != nullptr; imp = imp->next_sibling) {
    uint64_t max_id;
    if (!import_size(*imp, max_id)) return false;
    if (max_id > 0) ++count;
  }
  auto* out = static_cast<ImportRange*>(arena_.alloc(sizeof(ImportRange) * count, alignof(ImportRange)));
  if (out == nullptr && count > 0) return fail(Error::kOutOfMemory, imports.offset);
  for (const Node* imp = imports.first_child; imp != nullptr; imp = imp->next_sibling) {
    uint64_t max_id;
    import_size(*imp, max_id);
    if (max_id == 0) continue;
    const std::string_view name = import_name(*imp);
    const uint32_t version = import_version(*imp);
    out[num_ranges++] = ImportRange{
        .first_sid = first_local, .count = max_id, .known = find_import(name, version), .name = name,
        .version = version};
    first_local += max_id;
    if (first_local > kMaxSymbolId) {
      return fail_detail(Error::kTooManySymbols, imp->offset, "imports declare more than %llu symbol IDs",
                         static_cast<unsigned long long>(kMaxSymbolId));
    }
  }
  ranges = out;
  return true;
}

// The new table's local symbols in the arena: those an append keeps, then the `symbols` list
// (null when there is none), within kMaxSymbols per table and kMaxSymbolSlots per document.
bool Reader::local_symbols(const Node& table, const Node* symbols, bool append, const std::string_view*& locals,
                           size_t& count) {
  const size_t kept = append ? num_locals_ : 0;
  count = kept + (symbols != nullptr ? symbols->num_children : 0);
  if (count > kMaxSymbols) {
    return fail_detail(Error::kTooManySymbols, table.offset, "more than %zu local symbols", kMaxSymbols);
  }
  slots_used_ += count;
  if (slots_used_ > kMaxSymbolSlots) {
    return fail_detail(Error::kTooManySymbols, table.offset, "symbol tables declare more than %zu symbols in all",
                       kMaxSymbolSlots);
  }
  auto* out = static_cast<std::string_view*>(arena_.alloc(sizeof(std::string_view) * count, alignof(std::string_view)));
  if (out == nullptr && count > 0) return fail(Error::kOutOfMemory, table.offset);
  for (size_t i = 0; i < kept; ++i) out[i] = locals_[i];
  size_t next = kept;
  if (symbols != nullptr) {
    for (const Node* sym = symbols->first_child; sym != nullptr; sym = sym->next_sibling) {
      out[next++] = sym->type == Type::kString && !sym->is_null ? sym->text : kUnknownText;
    }
  }
  locals = out;
  return true;
}

bool Reader::load_symbol_table(const Node& table) {
  if (table.is_null) {
    reset_symbols();
    return true;
  }
  const Node* imports;
  const Node* symbols;
  if (!table_fields(table, imports, symbols)) return false;
  const bool append = imports != nullptr && imports->type == Type::kSymbol && !imports->is_null &&
                      imports->text == "$ion_symbol_table";
  const bool import_list = imports != nullptr && imports->type == Type::kList && !imports->is_null;
  const bool symbol_list = symbols != nullptr && symbols->type == Type::kList && !symbols->is_null;

  const ImportRange* ranges = append ? imports_ : nullptr;
  size_t num_ranges = append ? num_imports_ : 0;
  uint64_t first_local = append ? first_local_ : kNumSystemSymbols + 1;
  if (import_list && !import_ranges(*imports, ranges, num_ranges, first_local)) return false;
  const std::string_view* locals;
  size_t count;
  if (!local_symbols(table, symbol_list ? symbols : nullptr, append, locals, count)) return false;
  imports_ = ranges;
  num_imports_ = num_ranges;
  locals_ = locals;
  num_locals_ = count;
  first_local_ = first_local;
  return true;
}

}  // namespace internal
}  // namespace appconfig::ion
