// ion_binary: the Ion 1.0 binary reader (parse_binary). See include/appconfig/formats/ion.h; what
// it shares with the text reader is in include/appconfig/formats/ion_internal.h (src/formats/ion.cpp).
//
// References: Amazon Ion 1.0 specification (amazon-ion.github.io/ion-docs): "Binary Encoding"
// (type descriptors, VarUInt/VarInt/UInt/Int fields, annotation wrappers, NOP padding).
#include "appconfig/formats/ion.h"
#include "appconfig/formats/ion_internal.h"

#include <cstring>

namespace appconfig::ion {
namespace {

using namespace internal;

// The Ion type of each binary type code 0x0-0xD (0xE is an annotation wrapper, 0xF reserved).
constexpr Type kTypeOfCode[] = {
    Type::kNull,   Type::kBool,   Type::kInt,  Type::kInt,  Type::kFloat, Type::kDecimal, Type::kTimestamp,
    Type::kSymbol, Type::kString, Type::kClob, Type::kBlob, Type::kList,  Type::kSexp,    Type::kStruct,
};

// The binary reader: each value is read from its type descriptor and length, within the bounds of
// its container (`end`); strings and lobs point into the input. One per parse_binary() call.
class BinaryReader : Reader {
 public:
  BinaryReader(std::string_view bytes, Arena& arena, std::span<const SharedTable> catalogue)
      : Reader(reinterpret_cast<const Byte*>(bytes.data()), bytes.size(), arena, catalogue) {}

  ParseResult run(Document& out) {
    out = Document{.first = nullptr, .num_values = 0};
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

  // One value at pos (NOP padding gives out == nullptr); pos moves past it.
  bool read_value(size_t& pos, size_t end, size_t depth, Node*& out) {
    out = nullptr;
    const size_t at = pos;
    Byte type;
    size_t len;
    bool is_null;
    if (!header(pos, end, type, len, is_null)) return false;
    const size_t body = pos;
    pos = body + len;
    if (type == 0xE) return annotated(body, len, at, depth, out);
    if (type == 0x0 && !is_null) return true;  // NOP padding: no value
    Node* n = alloc(kTypeOfCode[type], at);
    if (n == nullptr) return false;
    out = n;
    if (is_null) {
      n->is_null = true;
      return true;
    }
    return read_body(type, body, len, at, depth, *n);
  }

  // The body of a non-null value of type code `type` (not 0x0 or 0xE) into n.
  bool read_body(Byte type, size_t body, size_t len, size_t at, size_t depth, Node& n) {
    switch (type) {
      case 0x1: n.bool_value = (s_[at] & 0x0F) == 1; return true;
      case 0x2:
      case 0x3: return integer(type == 0x3, body, len, at, n);
      case 0x4: return binary_float(body, len, at, n);
      case 0x5: return decimal(body, len, at, n);
      case 0x6: return timestamp(body, len, at, n);
      case 0x7: return symbol(body, len, at, n);
      case 0x8:
        if (!valid_utf8(s_ + body, len)) return fail(Error::kBadUtf8, body);
        n.text = std::string_view(reinterpret_cast<const char*>(s_ + body), len);
        return true;
      case 0x9:
      case 0xA: n.text = std::string_view(reinterpret_cast<const char*>(s_ + body), len); return true;
      case 0xB:
      case 0xC:
      case 0xD: return container(type == 0xD, body, len, at, depth, n);
      default: return fail(Error::kBadTypeCode, at);
    }
  }

  // Annotation wrapper: annot_length, annotation SIDs, exactly one value.
  bool annotated(size_t body, size_t len, size_t at, size_t depth, Node*& out) {
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

  // Positive (0x2) and negative (0x3) integers: a big-endian magnitude.
  bool integer(bool negative, size_t body, size_t len, size_t at, Node& n) {
    size_t p = body;
    while (p < body + len && s_[p] == 0) ++p;                                // leading zero bytes
    if (negative && p == body + len) return fail(Error::kBadTypeCode, at);  // negative zero int
    return int_from_magnitude(n, negative, s_ + p, body + len - p, at);
  }

  // IEEE 754 binary32 or binary64, big-endian; length 0 is 0e0.
  bool binary_float(size_t body, size_t len, size_t at, Node& n) {
    if (len == 0) {
      n.float_value = 0.0;
    } else if (len == 4) {
      uint64_t bits;
      uint_field(body, 4, bits);
      const uint32_t b32 = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &b32, 4);
      n.float_value = f;
    } else if (len == 8) {
      uint64_t bits = 0;
      for (size_t i = 0; i < 8; ++i) bits = (bits << 8) | s_[body + i];
      std::memcpy(&n.float_value, &bits, 8);
    } else {
      return fail(Error::kBadTypeCode, at);
    }
    return true;
  }

  // A symbol value: a UInt symbol ID (leading zero bytes allowed).
  bool symbol(size_t body, size_t len, size_t at, Node& n) {
    size_t p = body;
    while (p < body + len && s_[p] == 0) ++p;  // leading zero bytes
    uint64_t sid;
    if (body + len - p > 8 || !uint_field(p, body + len - p, sid)) return fail(Error::kIntOutOfRange, at);
    return symbol_text(sid, at, n.text);
  }

  // List, s-expression or struct (fields: a VarUInt symbol ID before each value).
  bool container(bool is_struct, size_t body, size_t len, size_t at, size_t depth, Node& n) {
    if (depth + 1 > kMaxDepth) return fail(Error::kTooDeep, at);
    size_t p = body;
    const size_t cend = body + len;
    Node* last = nullptr;
    while (p < cend) {
      std::string_view name;
      if (is_struct) {
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
        n.first_child = child;
      } else {
        last->next_sibling = child;
      }
      last = child;
      ++n.num_children;
    }
    return true;
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
  __attribute__((noinline)) bool int_field_digits(size_t p, size_t end, size_t at, bool& negative,
                                                  std::string_view& digits) {
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

bool looks_like_binary(std::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), kVersionMarker, 4) == 0;
}

ParseResult parse_binary(std::string_view bytes, Arena& arena, Document& out, std::span<const SharedTable> catalogue) {
  BinaryReader reader(bytes, arena, catalogue);
  return reader.run(out);
}

}  // namespace appconfig::ion
