#!/usr/bin/env python3
"""Runs every test suite and ends with one line: "N passed, N failed".

Suites:
  unit         GoogleTest binary (build/debug/unit-tests), one count per test
  emulator     self-tests of the Python test peers (test/emulator/test_*.py)
  integration  black-box tests of the real binary (test/integration/test_*.py)
  fuzz         every libFuzzer target for a short bounded run (FUZZ_SMOKE_SECONDS, default 10)

Environment: APPCONFIG_TEST_ONLY=unit,integration,... limits the suites.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A hung test must fail the run, not stall CI.
UNIT_TIMEOUT_S = 900
FUZZ_TIMEOUT_S = 120


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def add(self, suite, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(f"{suite}: {name}" + (f"\n{detail}" if detail else ""))


def run_unit(build, tally):
    binary = os.path.join(build, "debug", "unit-tests")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "gtest.json")
        t0 = time.time()
        try:
            proc = subprocess.run([binary, f"--gtest_output=json:{out}", "--gtest_brief=1"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                  timeout=UNIT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            out_text = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            tally.add("unit", "unit-tests binary", False, f"no result after {UNIT_TIMEOUT_S} s\n{out_text[-3000:]}")
            return
        sys.stdout.write(proc.stdout[-20000:])
        if not os.path.exists(out):
            tally.add("unit", "unit-tests binary", False, f"exit {proc.returncode}, no report")
            return
        report = json.load(open(out))
        for suite in report.get("testsuites", []):
            for case in suite.get("testsuite", []):
                name = f"{suite['name']}.{case['name']}"
                if case.get("result") == "SKIPPED" or case.get("status") == "NOTRUN":
                    continue
                failures = case.get("failures", [])
                tally.add("unit", name, not failures, "\n".join(f.get("failure", "") for f in failures)[:2000])
        if proc.returncode != 0 and not tally.failures:
            tally.add("unit", "unit-tests exit status", False, f"exit {proc.returncode}")
        print(f"unit: {time.time() - t0:.1f} s")


def run_python(suite_name, pattern_dir, tally):
    files = sorted(glob.glob(os.path.join(ROOT, pattern_dir, "test_*.py")))
    if not files:
        return
    sys.path.insert(0, os.path.join(ROOT, pattern_dir))
    sys.path.insert(0, os.path.join(ROOT, "test"))
    loader = unittest.TestLoader()
    for f in files:
        t0 = time.time()
        mod = os.path.splitext(os.path.basename(f))[0]
        suite = loader.loadTestsFromName(mod)
        result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(suite)
        for t, detail in result.failures + result.errors:
            tally.add(suite_name, t.id(), False, detail[-3000:])
        passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
        for _ in range(passed):
            tally.add(suite_name, mod, True)
        print(f"{suite_name}/{mod}: {result.testsRun} run, {time.time() - t0:.1f} s")


def run_fuzz(build, tally):
    seconds = int(os.environ.get("FUZZ_SMOKE_SECONDS", "10"))
    for binary in sorted(glob.glob(os.path.join(build, "fuzz", "*_fuzz"))):
        name = os.path.basename(binary)
        corpus = os.path.join(build, "fuzz", "corpus", name)
        os.makedirs(corpus, exist_ok=True)
        try:
            proc = subprocess.run([binary, f"-max_total_time={seconds}", "-print_final_stats=0", corpus],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace", timeout=seconds + FUZZ_TIMEOUT_S)
            ok, text = proc.returncode == 0, proc.stdout
        except subprocess.TimeoutExpired:
            ok, text = False, "did not stop"
        tally.add("fuzz", name, ok, text[-3000:])
        print(f"fuzz/{name}: {'ok' if ok else 'FAILED'} ({seconds} s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--name", default="appconfig-extension")
    args = ap.parse_args()
    build = os.path.abspath(os.path.join(ROOT, args.build))
    os.environ.setdefault("APPCONFIG_BUILD", build)
    only = set(filter(None, os.environ.get("APPCONFIG_TEST_ONLY", "").split(",")))
    tally = Tally()
    if not only or "unit" in only:
        run_unit(build, tally)
    if not only or "emulator" in only:
        run_python("emulator", "test/emulator", tally)
    if not only or "integration" in only:
        run_python("integration", "test/integration", tally)
    if not only or "fuzz" in only:
        run_fuzz(build, tally)
    if tally.failures:
        print("\nFailures:")
        for f in tally.failures:
            print(" - " + f.replace("\n", "\n   "))
    print(f"{tally.passed} passed, {tally.failed} failed")
    sys.exit(1 if tally.failed else 0)


if __name__ == "__main__":
    main()
