#!/usr/bin/env python3
"""One home per helper: the small helpers of core/text, core/calendar and core/error are defined there
and nowhere else in src/.

    python3 test/check_helpers.py [ROOT]

Fails (exit 1, one line per finding) when a file outside their home
- defines a function named like one of the shared helpers (ASCII case, hex digits, decimal parsing,
  trimming, slicing, percent-decoding, case-insensitive comparison, calendar arithmetic), or
- formats with vsnprintf: the printf-into-a-buffer helper of every error message is error::fail /
  error::append (and their va_list forms, to which a module's own variadic wrapper forwards). The
  other vsnprintf calls format output, not errors, each in the one module that writes that output:
  log lines (core/log), the Prometheus and EMF text (agent/metrics), the CLI's stdout (program/cli).
A grammar-specific predicate (HTTP tchar, DNS label bytes) has a name of its own and is not matched.
"""
import glob
import os
import re
import sys

HELPERS = ("lower", "upper", "to_lower", "to_upper", "ascii_lower", "iequals", "iequal", "ieq",
           "hex_value", "hexval", "hex_val", "unhex", "from_hex", "is_digit", "is_alpha", "is_alnum",
           "days_from_civil", "days_in_month", "leap", "is_leap", "is_leap_year",
           "trim", "trim_ows", "trim_space", "trim_blanks", "trim_json_ws", "trim_whitespace",
           "parse_u64", "parse_uint", "parse_decimal", "percent_decode", "slice",
           "istarts_with", "iends_with", "starts_with_ci", "ends_with_ci")
HOMES = {"src/core/text.cpp", "include/appconfig/core/text.h", "include/appconfig/core/calendar.h",
         "src/core/error.cpp", "include/appconfig/core/error.h"}
VARIADIC_HOMES = {"src/core/error.cpp", "src/core/log.cpp", "src/agent/metrics.cpp", "src/program/cli.cpp"}
# A definition: a return type (possibly qualified), the name, "(", and a body opening on the line.
DEF = re.compile(r"^\s*(?:(?:static|inline|constexpr|\[\[nodiscard\]\])\s+)*[A-Za-z_][\w:<>,\s\*&]*?[\s\*&]"
                 r"(?P<name>" + "|".join(HELPERS) + r")\s*\([^;]*\)\s*(?:const\s*)?(?:noexcept\s*)?\{")


def check(root):
    found = []
    paths = sorted(glob.glob(os.path.join(root, "src", "*", "*.cpp")) +
                   glob.glob(os.path.join(root, "include", "appconfig", "*", "*.h")))
    for path in paths:
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.lstrip().startswith("//"):
                    continue
                m = DEF.match(line)
                if m and rel not in HOMES:
                    found.append(f"{rel}:{lineno}: defines {m.group('name')}(), a copy of a core helper "
                                 f"(use text::, calendar:: or error::)")
                if "vsnprintf(" in line and rel not in VARIADIC_HOMES:
                    found.append(f"{rel}:{lineno}: formats a message with vsnprintf: use error::fail / error::append "
                                 f"(or their va_list forms)")
    return found, len(paths)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found, files = check(root)
    for line in found:
        print(line)
    print(f"check_helpers: {files} files, {len(found)} helper copie(s) outside core")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
