#!/usr/bin/env python3
"""Function lengths: no function in src/ longer than LIMIT lines unless a comment says why.

    python3 test/check_functions.py [--limit N] [--list M] [FILE ...]     (default: every src/*/*.cpp)

A function longer than the limit (120 lines, signature to closing brace) passes only when one of the
five lines above its signature carries a comment with "long on purpose:" and the reason (a state
machine that reads as one table, say). --list M prints every function over M lines, exempt or not,
longest first (a map for splitting work). Exits 1 when a function is over the limit without the
comment, else 0.

The scan is lexical (comments, strings and character literals are skipped; braces are counted): a
brace after `namespace`, `struct`, `class`, `union` or `enum` opens a scope, any other brace at
scope level after a `(` opens a function (member functions defined in a class body included);
lambdas and blocks inside a function count toward it.
"""
import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXEMPT = "long on purpose:"
SCOPE = re.compile(r"\b(namespace|struct|class|union|enum)\b")
NAME = re.compile(r"([A-Za-z_~][A-Za-z0-9_:~<>]*(?:operator\s*\S+)?)\s*\(")


def strip(text):
    """Comments, strings and character literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            k = text.find("(", i)
            delim = ")" + text[i + 2:k] + '"'
            j = text.find(delim, k)
            j = n if j < 0 else j + len(delim)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """[(name, first_line, last_line, exempt)] of the functions defined in path."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    lines = raw.split("\n")
    text = strip(raw)
    # Preprocessor lines carry no braces that matter here.
    text = "\n".join(" " * len(l) if l.lstrip().startswith("#") else l for l in text.split("\n"))
    found, stack = [], []  # stack entries: "scope", "other", or ("func", name, first_line)
    stmt_start, stmt = None, []
    line = 1
    for ch in text:
        if ch == "\n":
            line += 1
        in_func = any(isinstance(s, tuple) for s in stack)
        if ch == "{":
            if in_func:
                stack.append("other")
            else:
                head = "".join(stmt)
                if SCOPE.search(head) and "(" not in head.split("=")[0]:
                    stack.append("scope")
                elif "(" in head and "=" not in head.split("(")[0]:
                    names = [m.group(1) for m in NAME.finditer(head)
                             if m.group(1) not in ("__attribute__", "alignas", "decltype", "noexcept")]
                    stack.append(("func", names[0] if names else "?", stmt_start or line))
                else:
                    stack.append("other")
            stmt, stmt_start = [], None
        elif ch == "}":
            top = stack.pop() if stack else "other"
            if isinstance(top, tuple):
                first = top[2]
                above = "\n".join(lines[max(0, first - 6):first - 1])
                found.append((top[1], first, line, EXEMPT in above))
            stmt, stmt_start = [], None
        elif ch == ";" and not in_func:
            stmt, stmt_start = [], None
        elif not in_func:
            if stmt_start is None and not ch.isspace():
                stmt_start = line
            stmt.append(ch)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--list", type=int, default=0)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(ROOT, "src", "*", "*.cpp")))
    bad, listed = [], []
    for path in files:
        for name, first, last, exempt in functions(path):
            length = last - first + 1
            shown = os.path.relpath(path, ROOT) if os.path.isabs(path) else path
            if args.list and length > args.list:
                listed.append((length, f"{shown}:{first}: {name} {length} lines{' (exempt)' if exempt else ''}"))
            if length > args.limit and not exempt:
                bad.append(f"{shown}:{first}: {name} is {length} lines (over {args.limit}; split it, or say "
                           f"why above it with \"{EXEMPT} ...\")")
    for _, text in sorted(listed, reverse=True):
        print(text)
    for text in bad:
        print(text)
    print(f"check_functions: {len(files)} files, {len(bad)} function(s) over {args.limit} lines without a reason")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
