// calendar: the one home of date arithmetic: the proleptic Gregorian calendar as days since the
// Unix epoch, for the timestamps we parse (STS/IMDS/container credential expirations, Ion
// timestamps). Formatting the current time stays with gmtime_r (log, http_server's Date).
//
// Owns: pure functions, no time zone, no leap seconds (a ":60" is the caller's to map).
#pragma once

#include <cstdint>

namespace appconfig::calendar {

constexpr bool is_leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// 28..31 for month 1..12 of year y; 0 for a month outside 1..12.
constexpr unsigned days_in_month(int64_t y, unsigned m) {
  constexpr unsigned char kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12) return 0;
  return kDays[m - 1] + ((m == 2 && is_leap_year(y)) ? 1u : 0u);
}

// Days since 1970-01-01 of y-m-d (m 1..12, d 1..31; negative before 1970). H. Hinnant,
// "chrono-Compatible Low-Level Date Algorithms", days_from_civil.
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(days_from_civil(1969, 12, 31) == -1);
static_assert(days_in_month(2024, 2) == 29 && days_in_month(1900, 2) == 28 && days_in_month(2000, 2) == 29);

}  // namespace appconfig::calendar
