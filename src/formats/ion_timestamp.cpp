// ion_timestamp: Ion and W3C timestamps: the text forms (parse_timestamp, the text reader), the
// fields both encodings fill, their calendar check and the instant they stand for. See
// include/appconfig/formats/ion.h and include/appconfig/formats/ion_internal.h.
//
// References: Amazon Ion 1.0 specification, "Text Encoding" (timestamps);
// W3C NOTE-datetime (the forms parse_timestamp accepts in strings).
#include "appconfig/core/calendar.h"
#include "appconfig/core/text.h"
#include "appconfig/formats/ion.h"
#include "appconfig/formats/ion_internal.h"

namespace appconfig::ion {
namespace internal {

uint32_t fraction_nanos(std::string_view digits, uint64_t scale) {
  uint32_t nanos = 0;
  const uint64_t lead = scale - digits.size();  // zeros before the digits
  for (uint64_t k = 0; k < 9; ++k) {
    unsigned d = 0;
    if (k >= lead && k - lead < digits.size()) d = static_cast<unsigned>(digits[k - lead] - '0');
    nanos = nanos * 10 + d;
  }
  return nanos;
}

bool fields_valid(const Fields& f) {
  return f.year >= 1 && f.year <= 9999 && f.month >= 1 && f.month <= 12 && f.day >= 1 &&
         f.day <= calendar::days_in_month(f.year, f.month) && f.hour <= 23 && f.minute <= 59 && f.second <= 59 &&
         f.offset_min > -24 * 60 && f.offset_min < 24 * 60;
}

Timestamp to_timestamp(const Fields& f, bool local) {
  int64_t s = calendar::days_from_civil(f.year, f.month, f.day) * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
  if (local) s -= static_cast<int64_t>(f.offset_min) * 60;
  return Timestamp{.epoch_s = s, .nanos = f.nanos, .offset_min = static_cast<int16_t>(f.offset_min),
                   .precision = f.precision};
}

namespace {

// A cursor over the characters of one text timestamp.
struct Scan {
  std::string_view chars;
  size_t i = 0;

  bool end() const { return i == chars.size(); }
  // `digits` decimal digits into v.
  bool num(size_t digits, unsigned& v) {
    if (i + digits > chars.size()) return false;
    v = 0;
    for (size_t k = 0; k < digits; ++k) {
      if (!text::is_digit(chars[i + k])) return false;
      v = v * 10 + static_cast<unsigned>(chars[i + k] - '0');
    }
    i += digits;
    return true;
  }
  bool lit(char c) {
    if (i < chars.size() && chars[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
};

// After YYYY, YYYY-MM or YYYY-MM-DD: true when the timestamp ends there (optionally with a T),
// and then out holds it (a date has no local offset); *valid says whether the date is one.
bool date_only(Scan& s, Fields& f, Precision p, Timestamp& out, bool* valid) {
  f.precision = p;
  if (!(s.end() || (s.i + 1 == s.chars.size() && s.chars[s.i] == 'T'))) return false;
  *valid = fields_valid(f);
  if (*valid) {
    out = to_timestamp(f, false);
    out.offset_unknown = true;
  }
  return true;
}

// [:ss[.fff…]] after hh:mm; `fraction` (when given) receives the fraction digits as written.
bool seconds(Scan& s, Fields& f, std::string_view* fraction) {
  if (!s.lit(':')) return true;
  if (!s.num(2, f.second)) return false;
  f.precision = Precision::kSecond;
  if (!s.lit('.')) return true;
  const size_t d0 = s.i;
  uint32_t nanos = 0;
  size_t k = 0;
  while (s.i < s.chars.size() && text::is_digit(s.chars[s.i])) {
    if (k < 9) nanos = nanos * 10 + static_cast<uint32_t>(s.chars[s.i] - '0');
    ++k;
    ++s.i;
  }
  if (s.i == d0) return false;
  if (fraction != nullptr) *fraction = s.chars.substr(d0, s.i - d0);
  for (; k < 9; ++k) nanos *= 10;
  f.nanos = nanos;
  f.precision = Precision::kFraction;
  return true;
}

// Z or ±hh:mm; *unknown for -00:00.
bool offset(Scan& s, Fields& f, bool* unknown) {
  *unknown = false;
  if (s.lit('Z')) {
    f.offset_min = 0;
    return true;
  }
  if (s.i >= s.chars.size() || (s.chars[s.i] != '+' && s.chars[s.i] != '-')) return false;
  const bool negative = s.chars[s.i] == '-';
  ++s.i;
  unsigned oh, om;
  if (!s.num(2, oh) || !s.lit(':') || !s.num(2, om) || oh > 23 || om > 59) return false;
  f.offset_min = static_cast<int>(oh * 60 + om) * (negative ? -1 : 1);
  *unknown = negative && f.offset_min == 0;  // -00:00
  return true;
}

}  // namespace

bool parse_timestamp_text(std::string_view text, Timestamp& out, std::string_view* fraction) {
  Scan s{.chars = text};
  Fields f;
  bool valid = false;
  // Date part; each precision may end here, optionally with a trailing T.
  if (!s.num(4, f.year)) return false;
  if (date_only(s, f, Precision::kYear, out, &valid)) return valid;
  if (!s.lit('-') || !s.num(2, f.month)) return false;
  if (date_only(s, f, Precision::kMonth, out, &valid)) return valid;
  if (!s.lit('-') || !s.num(2, f.day)) return false;
  if (date_only(s, f, Precision::kDay, out, &valid)) return valid;
  if (!s.lit('T') || !s.num(2, f.hour) || !s.lit(':') || !s.num(2, f.minute)) return false;
  f.precision = Precision::kMinute;
  if (!seconds(s, f, fraction)) return false;
  bool unknown;
  if (!offset(s, f, &unknown)) return false;
  if (!s.end() || !fields_valid(f)) return false;
  out = to_timestamp(f, true);
  out.offset_unknown = unknown;
  return true;
}

}  // namespace internal

int compare(const Timestamp& a, const Timestamp& b) {
  if (a.epoch_s != b.epoch_s) return a.epoch_s < b.epoch_s ? -1 : 1;
  if (a.nanos != b.nanos) return a.nanos < b.nanos ? -1 : 1;
  return 0;
}

bool parse_timestamp(std::string_view text, Timestamp& out) {
  return internal::parse_timestamp_text(text, out, nullptr);
}

}  // namespace appconfig::ion
