// The worst Ion inputs we can build for each reader budget (include/appconfig/
// ion.h), at a given size (4 MiB: the largest profile). Shared by the unit
// test IonBudget.WorstCases (results, messages, memory bound) and
// bench/ion_budget.cpp (time at -O2, where the 50 ms target is checked).
#pragma once
#include "appconfig/formats/ion.h"

#include <string>
#include <vector>

namespace appconfig::ion::worst {

inline std::string varuint(uint64_t v) {
  std::string out(1, static_cast<char>(0x80 | (v & 0x7F)));
  for (v >>= 7; v > 0; v >>= 7) out.insert(out.begin(), static_cast<char>(v & 0x7F));
  return out;
}
inline std::string typed(int type, const std::string& body) {
  std::string out;
  if (body.size() < 14) {
    out += static_cast<char>(type << 4 | static_cast<int>(body.size()));
  } else {
    out += static_cast<char>(type << 4 | 14);
    out += varuint(body.size());
  }
  return out + body;
}
// head, then unit repeated while it fits in size bytes.
inline std::string fill(const std::string& head, const std::string& unit, size_t size) {
  std::string s = head;
  s.reserve(size + unit.size());
  while (s.size() + unit.size() <= size) s += unit;
  return s;
}

struct Case {
  const char* name;
  const char* budget;  // the constant that bounds it
  bool binary;
  std::string input;
  Error expected;      // kNone: accepted
};

inline std::vector<Case> cases(size_t size) {
  const std::string ivm("\xE0\x01\x00\xEA", 4);
  std::vector<Case> out;
  out.push_back({"text nesting, 64 deep", "kMaxDepth, kMaxValues", false,
                 fill("", std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']') + " ", size),
                 Error::kTooManyValues});
  std::string deep = "\x0F";
  for (size_t i = 0; i < kMaxDepth; ++i) deep = typed(0xB, deep);
  out.push_back({"binary nesting, 64 deep", "kMaxDepth, kMaxValues", true, fill(ivm, deep, size),
                 Error::kTooManyValues});
  out.push_back({"binary one-byte nulls", "kMaxValues", true, fill(ivm, "\x0F", size), Error::kTooManyValues});
  out.push_back({"binary one-byte nulls at the value cap", "kMaxValues", true,
                 fill(ivm, "\x0F", 4 + kMaxValues), Error::kNone});
  out.push_back({"text small ints", "kMaxValues", false, fill("", "0 ", size), Error::kTooManyValues});
  out.push_back({"text small ints at the value cap", "kMaxValues", false, fill("", "0 ", 2 * kMaxValues),
                 Error::kNone});
  std::string ann;
  for (size_t i = 0; i < kMaxAnnotations; ++i) ann += "a::";
  out.push_back({"text 16 annotations per value", "kMaxAnnotations", false, fill("", ann + "0 ", size),
                 Error::kNone});
  const std::string bann = varuint(kMaxAnnotations) + std::string(kMaxAnnotations, '\x84') + "\x0F";
  out.push_back({"binary 16 annotations per value", "kMaxAnnotations", true, fill(ivm, typed(0xE, bann), size),
                 Error::kNone});
  std::string syms = "$ion_symbol_table::{symbols:[";
  for (size_t i = 0; i < kMaxSymbols; ++i) syms += "\"\",";
  syms += "]} ";
  out.push_back({"text 65536-symbol table, then its last symbol", "kMaxSymbols, kMaxValues", false,
                 fill(syms, "$65545 ", size), Error::kTooManyValues});
  out.push_back({"text tables appended over and over", "kMaxSymbolSlots", false,
                 fill("", "$ion_symbol_table::{imports:$ion_symbol_table, symbols:[\"a\",\"b\",\"c\"]} ", size),
                 Error::kTooManySymbols});
  std::string imps = "$ion_symbol_table::{imports:[";
  for (int i = 0; i < 60000; ++i) imps += "{name:\"t\",max_id:1},";
  imps += "], symbols:[\"x\"]} ";
  out.push_back({"text 60000 imports, then symbol lookups", "kMaxSymbolId (binary search)", false,
                 fill(imps, "$60010 ", size), Error::kTooManyValues});
  out.push_back({"text one 4 MiB string", "linear", false, "\"" + std::string(size - 2, 'a') + "\"", Error::kNone});
  out.push_back({"text escapes", "linear", false, "\"" + fill("", "\\u00e9", size - 2) + "\"", Error::kNone});
  out.push_back({"text long-string segments", "linear", false, fill("", "'''a''' ", size), Error::kNone});
  out.push_back({"text 4 MiB quoted symbol (read twice)", "linear", false, "'" + std::string(size - 2, 'a') + "'",
                 Error::kNone});
  out.push_back({"text block comment", "linear", false, "1 /*" + std::string(size - 6, ' ') + "*/", Error::kNone});
  out.push_back({"binary 2048-byte integers", "kMaxIntBytes, kMaxDigitWork", true,
                 fill(ivm, typed(0x2, std::string(kMaxIntBytes, '\x7F')), size), Error::kIntOutOfRange});
  out.push_back({"text hex integers of 2048 bytes", "kMaxIntBytes, kMaxDigitWork", false,
                 fill("", "0x" + std::string(2 * kMaxIntBytes, 'F') + " ", size), Error::kIntOutOfRange});
  out.push_back({"text decimals", "kMaxValues", false, fill("", "1.5 ", size), Error::kTooManyValues});
  out.push_back({"text floats with 800-digit mantissas", "kMaxSlowNumbers", false,
                 fill("", "0." + std::string(800, '3') + "e0 ", size), Error::kBadNumber});
  out.push_back({"text floats off the fast path", "kMaxSlowNumbers", false, fill("", "1e-300 ", size),
                 Error::kBadNumber});
  out.push_back({"binary decimals off the fast path", "kMaxSlowNumbers", true, fill(ivm, "\x52\xDE\x01", size),
                 Error::kBadNumber});
  out.push_back({"text timestamps with fractions", "linear", false, fill("", "2007-02-23T12:14:33.1234Z ", size),
                 Error::kNone});
  out.push_back({"text 4 MiB blob", "linear", false, "{{" + std::string((size - 4) / 4 * 4, 'A') + "}}",
                 Error::kNone});
  out.push_back({"text 100,000-digit decimals", "linear (digits copied)", false,
                 fill("", "0." + std::string(100000, '7') + " ", size), Error::kNone});
  return out;
}

}  // namespace appconfig::ion::worst
