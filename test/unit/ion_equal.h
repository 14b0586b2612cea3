// Ion data-model equality for tests (and the Ion fuzz target): two values are
// equal when Amazon's Ion libraries would call them equivalent (ion-tests
// `good/equivs` and `good/non-equivs`): same type, nullness and annotations
// (in order); ints by value; floats by bits except that every NaN equals every
// NaN (so 0e0 != -0e0); decimals by sign, coefficient and exponent (1.0 !=
// 1.00, 0d0 != -0d0); timestamps by instant, precision, local offset (known or
// not) and fraction digits; symbols by text (unknown text equals only unknown
// text); strings, clobs and blobs by bytes; lists and s-expressions element by
// element; structs as multisets of (field name, value).
// Header-only so the fuzz target can use it; not part of the product.
#pragma once
#include "appconfig/formats/ion.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

namespace appconfig::ion::model {

inline bool same_text(std::string_view a, std::string_view b) {
  return text_unknown(a) == text_unknown(b) && a == b;
}

inline bool equal(const Node& a, const Node& b);

inline bool equal_struct(const Node& a, const Node& b) {
  std::vector<bool> used(b.num_children, false);
  for (const Node* x = a.first_child; x != nullptr; x = x->next_sibling) {
    bool found = false;
    size_t i = 0;
    for (const Node* y = b.first_child; y != nullptr && !found; y = y->next_sibling, ++i) {
      if (!used[i] && same_text(x->field_name, y->field_name) && equal(*x, *y)) {
        used[i] = true;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

inline bool equal(const Node& a, const Node& b) {
  if (a.type != b.type || a.is_null != b.is_null || a.num_annotations != b.num_annotations) return false;
  for (size_t i = 0; i < a.num_annotations; ++i) {
    if (!same_text(a.annotations[i], b.annotations[i])) return false;
  }
  if (a.is_null) return true;
  switch (a.type) {
    case Type::kNull: return true;
    case Type::kBool: return a.bool_value == b.bool_value;
    case Type::kInt:
      if (a.big != b.big) return false;
      return a.big ? a.negative == b.negative && a.text == b.text : a.int_value == b.int_value;
    case Type::kFloat: {
      if (std::isnan(a.float_value) || std::isnan(b.float_value)) {
        return std::isnan(a.float_value) && std::isnan(b.float_value);
      }
      return std::memcmp(&a.float_value, &b.float_value, sizeof(double)) == 0;
    }
    case Type::kDecimal: return a.negative == b.negative && a.text == b.text && a.exponent == b.exponent;
    case Type::kTimestamp: {
      const Timestamp& x = a.timestamp;
      const Timestamp& y = b.timestamp;
      if (x.precision != y.precision || x.epoch_s != y.epoch_s || x.offset_unknown != y.offset_unknown) return false;
      if (!x.offset_unknown && x.offset_min != y.offset_min) return false;
      if (x.precision == Precision::kFraction) return a.text == b.text && a.exponent == b.exponent;
      return true;
    }
    case Type::kSymbol: return same_text(a.text, b.text);
    case Type::kString:
    case Type::kClob:
    case Type::kBlob: return a.text == b.text;
    case Type::kList:
    case Type::kSexp: {
      if (a.num_children != b.num_children) return false;
      const Node* y = b.first_child;
      for (const Node* x = a.first_child; x != nullptr; x = x->next_sibling, y = y->next_sibling) {
        if (y == nullptr || !equal(*x, *y)) return false;
      }
      return y == nullptr;
    }
    case Type::kStruct: return a.num_children == b.num_children && equal_struct(a, b);
  }
  return false;
}

// Two documents: the same number of top-level values, pairwise equal.
inline bool equal(const Document& a, const Document& b) {
  if (a.num_values != b.num_values) return false;
  const Node* y = b.first;
  for (const Node* x = a.first; x != nullptr; x = x->next_sibling, y = y->next_sibling) {
    if (y == nullptr || !equal(*x, *y)) return false;
  }
  return y == nullptr;
}

}  // namespace appconfig::ion::model
