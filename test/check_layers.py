#!/usr/bin/env python3
"""The include rule of docs/architecture.md: a layer may include only itself and the layers below it.

    python3 test/check_layers.py [ROOT]

Layers, bottom first (each is a folder in src/ and in include/appconfig/):
    core < formats < net < aws < flags < agent < program

Checked for every file under src/<layer>/ and include/appconfig/<layer>/:
- it lives in a known layer folder (src/mbedtls/ is the dependency's build glue, not ours, and is skipped);
- every `#include "appconfig/..."` names a layer and a header that exists (no flat "appconfig/x.h");
- the included header's layer is the file's own layer or one below it.
Also: docs/architecture.md states the same order, so the picture cannot drift from the check.
Prints one line per violation ("path:line: message") and exits 1 if there are any, else prints a summary
and exits 0.
"""
import os
import re
import sys

LAYERS = ("core", "formats", "net", "aws", "flags", "agent", "program")
ORDER_LINE = " < ".join(LAYERS)
INCLUDE = re.compile(r'^\s*#\s*include\s+"(appconfig/[^"]*)"')


def check(root):
    problems, files, edges = [], 0, 0
    rank = {name: i for i, name in enumerate(LAYERS)}
    trees = [(os.path.join(root, "src"), True), (os.path.join(root, "include", "appconfig"), False)]
    for base, is_src in trees:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, base)
            if is_src and rel_dir.split(os.sep)[0] == "mbedtls":
                dirnames[:] = []
                continue
            for name in sorted(filenames):
                if not name.endswith((".cpp", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                shown = os.path.relpath(path, root)
                parts = rel_dir.split(os.sep)
                if rel_dir == "." or len(parts) != 1 or parts[0] not in rank:
                    problems.append(f"{shown}:1: not in a layer folder ({', '.join(LAYERS)})")
                    continue
                files += 1
                own = parts[0]
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        pieces = target.split("/")
                        if len(pieces) != 3 or pieces[1] not in rank:
                            problems.append(f"{shown}:{lineno}: \"{target}\" names no layer "
                                            f"(appconfig/<layer>/<module>.h)")
                            continue
                        if not os.path.exists(os.path.join(root, "include", target)):
                            problems.append(f"{shown}:{lineno}: \"{target}\" does not exist")
                            continue
                        edges += 1
                        if rank[pieces[1]] > rank[own]:
                            problems.append(f"{shown}:{lineno}: layer {own} includes \"{target}\" from "
                                            f"{pieces[1]}, a layer above it ({ORDER_LINE})")
    arch = os.path.join(root, "docs", "architecture.md")
    if not os.path.exists(arch) or ORDER_LINE not in open(arch, encoding="utf-8").read():
        problems.append(f"docs/architecture.md:1: does not state the layer order \"{ORDER_LINE}\"")
    return problems, files, edges


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems, files, edges = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} violation(s)")
        return 1
    print(f"check_layers: {files} files, {edges} includes of appconfig headers, all pointing down ({ORDER_LINE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
