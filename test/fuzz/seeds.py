#!/usr/bin/env python3
"""Seed corpora and options for every libFuzzer target, and one bounded run of a target.

Each target starts from the real inputs it matches (test/data and examples), laid out in the
target's own input format (first-byte selectors, NUL-separated parts), so that a short run
starts deep in the grammar instead of from nothing:

  http_request_fuzz   the llhttp corpus requests          http_response_fuzz  its responses
  json_fuzz           JSONTestSuite test_parsing/*.json   ion_fuzz            .ion/.10n/.hex fixtures, ion-tests
  dns_fuzz            recorded DNS replies (selector 0)   manifest_fuzz       manifests (0) and backups (1)
  rules_fuzz          the rules of every Ion profile      context_fuzz        Context header values
  profile_fuzz        whole flag profiles (Ion text and binary, JSON)
A target with no entry gets every seed (libFuzzer discards what it cannot use).

Options that make a slow or greedy input a finding (`-timeout`, `-rss_limit_mb`) and a `-max_len`
large enough for real inputs (the worst profile found by review was 5,003 bytes; libFuzzer's
default stops at 4,096) are in FUZZ_OPTIONS.

Usage: seeds.py BUILD_FUZZ_DIR            writes BUILD_FUZZ_DIR/seeds/<target>/ for every target
       seeds.py --run BINARY SECONDS       one seeded, bounded run (used by `make fuzz`)
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "test", "data")

FUZZ_OPTIONS = ["-timeout=2", "-rss_limit_mb=512", "-max_len=65536"]
MAX_SEED_BYTES = 65536  # bigger files are cut: -max_len would cut them anyway
MAX_SEEDS = 2000        # a 10 s smoke run must not spend itself loading seeds (the rules of ion-tests are 26,000)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _hex_file(path):
    text = _read(path).decode("ascii", "replace")
    text = re.sub(r"#[^\n]*", "", text)
    return bytes.fromhex("".join(text.split()))


def _ion_files():
    out = []
    for pattern in ("ion/*.ion", "ion/*.10n", "ion-tests/**/*.ion", "ion-tests/**/*.10n"):
        out += sorted(glob.glob(os.path.join(DATA, pattern), recursive=True))
    out += sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*ion*"), recursive=True))
    seeds = [_read(p) for p in out if os.path.isfile(p)]
    for p in sorted(glob.glob(os.path.join(DATA, "ion", "*.hex"))):
        try:
            seeds.append(_hex_file(p))
        except ValueError:
            pass
    return seeds


def _llhttp(kind):
    path = os.path.join(DATA, "http", "llhttp-cases.json")
    cases = json.load(open(path))
    return [bytes.fromhex(c["input_hex"]) for c in cases if c["type"].split("-")[0] == kind]


def _json_docs():
    docs = [_read(p) for p in sorted(glob.glob(os.path.join(DATA, "json", "test_parsing", "*.json")))]
    docs += [_read(p) for p in sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.json"), recursive=True))]
    return docs


def _dns():
    seeds = []
    for line in open(os.path.join(DATA, "dns", "replies.txt")):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        name, wire = parts[1].encode(), bytes.fromhex(parts[-1])
        seeds.append(bytes([0, len(name)]) + name + wire)
    seeds.append(bytes([4, 9]) + b"localhost" + b"127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    seeds.append(bytes([5, 0]) + b"nameserver 169.254.78.1\noptions timeout:1 attempts:2\n")
    seeds.append(bytes([6, 0]) + b"2001:db8::1")
    seeds.append(bytes([7, 11]) + b"example.com")
    return seeds


def _manifests():
    manifests = [
        b'{"App:Env:Prof": {}}',
        b'{"App:Env:Prof": {"credentials": {"roleArn": "arn:aws:iam::123456789012:role/r",'
        b' "roleExternalId": "x", "roleSessionName": "s", "credentialsDuration": "2h"},'
        b' "writeTo": {"path": "/tmp/out.json"}}, "A:B:C": {}}',
    ]
    seeds = [b"\x00" + m for m in manifests]
    for p in sorted(glob.glob(os.path.join(DATA, "backup", "*"))):
        seeds.append(b"\x01" + _read(p))
    return seeds


def _rules():
    # Every parenthesised rule in the Ion profiles, then NUL and a Context value.
    rules = set()
    for seed in _ion_files():
        text = seed.decode("utf-8", "replace")
        for m in re.finditer(r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)", text):
            rules.add(m.group(0).encode())
    rules |= {b'(eq $country "US")', b'(matches in::$email pattern::"^[a-z]+@example\\\\.com$")',
              b'(split pct::10 by::$userId seed::"abc")', b'(exists key::"tier")',
              b'(and (gte $age 18) (in $tier ["gold" "silver"]))'}
    ctx = b"\x00country=US,tier=gold,age=30,userId=u-42,email=a@example.com"
    return [r + ctx for r in sorted(rules)] + sorted(rules)


def _contexts():
    return [b"country=US", b"country=US,tier=gold", b"a=1\x00b=%20x", b"userId=u-42\x00email=a%40b.c",
            b"k=" + b"v" * 200]


def seeds_for(target):
    table = {
        "http_request_fuzz": lambda: _llhttp("request"),
        "http_response_fuzz": lambda: _llhttp("response"),
        "json_fuzz": _json_docs,
        "ion_fuzz": _ion_files,
        "dns_fuzz": _dns,
        "manifest_fuzz": _manifests,
        "rules_fuzz": _rules,
        "context_fuzz": _contexts,
        "profile_fuzz": lambda: _ion_files() + _json_docs(),
    }
    make = table.get(target)
    if make is None:
        return _ion_files() + _json_docs() + _llhttp("request")
    return make()


def write_seeds(fuzz_dir, target):
    out = os.path.join(fuzz_dir, "seeds", target)
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        os.unlink(os.path.join(out, old))
    named = {hashlib.sha1(s[:MAX_SEED_BYTES]).hexdigest(): s[:MAX_SEED_BYTES] for s in seeds_for(target)}
    # Deterministic, spread-out subset when there are too many: the first MAX_SEEDS by hash.
    keep = sorted(named)[:MAX_SEEDS]
    for name in keep:
        with open(os.path.join(out, name), "wb") as f:
            f.write(named[name])
    return out, len(keep)


def command(binary, seconds, corpus, seeds, extra=()):
    """The command line of one seeded run: new inputs go to `corpus`, `seeds` is read only."""
    return [binary, f"-max_total_time={seconds}", *FUZZ_OPTIONS, *extra, corpus, seeds]


def run(binary, seconds):
    fuzz_dir = os.path.dirname(os.path.abspath(binary))
    target = os.path.basename(binary)
    seeds, n = write_seeds(fuzz_dir, target)
    corpus = os.path.join(fuzz_dir, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    print(f"== {target}: {seconds} s, {n} seeds, {' '.join(FUZZ_OPTIONS)}", flush=True)
    return subprocess.call(command(binary, seconds, corpus, seeds, ["-print_final_stats=1"]))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        sys.exit(run(sys.argv[2], int(sys.argv[3])))
    if len(sys.argv) == 2:
        for b in sorted(glob.glob(os.path.join(sys.argv[1], "*_fuzz"))):
            print(write_seeds(sys.argv[1], os.path.basename(b)))
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
