#!/usr/bin/env python3
"""Runs every test suite and ends with one line: "N passed, N failed, N skipped".

Suites:
  unit         GoogleTest binary (build/debug/unit-tests), one count per test
  emulator     self-tests of the Python test peers (test/emulator/test_*.py)
  integration  black-box tests of the real binary (test/integration/test_*.py)
  fuzz         every libFuzzer target for a short, seeded, bounded run (FUZZ_SMOKE_SECONDS, default 10)

The summary says no more than was checked:
- a skipped test is counted and listed as skipped, never as passed; under CI (CI=true as root) a
  skip is a failure unless its reason starts with "CI-exempt:" and names why it cannot run there;
- an expected failure or an unexpected success is a failure;
- an error while importing a module, in setUpClass, or a hung module (each Python module runs in
  its own process with a time limit) is a failure;
- a selected suite that runs zero tests is a failure;
- APPCONFIG_TEST_ONLY naming an unknown suite or module, or a GTEST_FILTER left in the
  environment (it would silently drop unit tests), stops the run with exit status 2.

Environment:
  APPCONFIG_TEST_ONLY=unit,integration,integration/test_flags,...   limits the run
  FUZZ_SMOKE_SECONDS=N   seconds per fuzz target (default 10)
A Python test module may set RUN_ALL_TIMEOUT_S = N (seconds) at top level; default 300.
"""
import argparse
import glob
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from xml.etree import ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ("unit", "emulator", "integration", "fuzz")
PY_DIRS = {"emulator": "test/emulator", "integration": "test/integration"}
# A hung test must fail the run, not stall CI.
UNIT_TIMEOUT_S = 900
PY_MODULE_TIMEOUT_S = 300
FUZZ_GRACE_S = 120
CI_EXEMPT = "CI-exempt:"


def die(message):
    """A run that cannot say what it checked stops before testing anything: exit status 2."""
    print(f"run_all: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def under_ci():
    return os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.skips = []

    def add(self, suite, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(f"{suite}: {name}" + (f"\n{detail}" if detail else ""))

    def skip(self, suite, name, reason):
        reason = (reason or "").strip() or "(no reason given)"
        if under_ci() and not reason.startswith(CI_EXEMPT):
            self.add(suite, name, False, f"skipped under CI without a '{CI_EXEMPT}' reason: {reason}")
            return
        self.skips.append(f"{suite}: {name}: {reason}")


# ---------------------------------------------------------------------------------------------- unit

def run_unit(build, tally):
    binary = os.path.join(build, "debug", "unit-tests")
    if not os.path.exists(binary):
        tally.add("unit", "unit-tests binary", False, f"{binary} does not exist")
        return
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "gtest.xml")
        t0 = time.time()
        try:
            proc = subprocess.run([binary, f"--gtest_output=xml:{out}", "--gtest_brief=1"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                  timeout=UNIT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            out_text = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            tally.add("unit", "unit-tests binary", False, f"no result after {UNIT_TIMEOUT_S} s\n{out_text[-3000:]}")
            return
        sys.stdout.write(proc.stdout[-20000:])
        if not os.path.exists(out):
            tally.add("unit", "unit-tests binary", False, f"exit {proc.returncode}, no report\n{proc.stdout[-3000:]}")
            return
        # The XML report (unlike the JSON one in GoogleTest 1.12) carries GTEST_SKIP()'s message.
        report = ElementTree.parse(out).getroot()
    failed_before = tally.failed
    count = 0
    for suite in report.iter("testsuite"):
        for case in suite.iter("testcase"):
            name = f"{suite.get('name')}.{case.get('name')}"
            count += 1
            if case.get("status") == "notrun":
                tally.skip("unit", name, "disabled (DISABLED_ prefix)")
                continue
            skipped = case.find("skipped")
            if case.get("result") == "skipped" or skipped is not None:
                message = skipped.get("message", "") if skipped is not None else ""
                tally.skip("unit", name, message.split("\n", 1)[-1])  # first line is file:line
                continue
            failures = case.findall("failure") + case.findall("error")
            tally.add("unit", name, not failures, "\n".join(f.get("message", "") for f in failures)[:2000])
    if count == 0:
        tally.add("unit", "unit-tests", False, "zero tests ran")
    if proc.returncode != 0 and tally.failed == failed_before:
        tally.add("unit", "unit-tests exit status", False, f"exit {proc.returncode}\n{proc.stdout[-3000:]}")
    print(f"unit: {count} tests, {time.time() - t0:.1f} s")


# ---------------------------------------------------------------------------------------------- python

class _RecordingResult(unittest.TextTestResult):
    """Writes one JSON line per outcome as soon as it is known (so a hung module still reports)."""

    def __init__(self, stream, descriptions, verbosity, sink):
        super().__init__(stream, descriptions, verbosity)
        self._sink = sink

    def _emit(self, test, outcome, detail=""):
        self._sink.write(json.dumps({"id": test.id(), "outcome": outcome, "detail": detail[-3000:]}) + "\n")
        self._sink.flush()

    def startTest(self, test):
        super().startTest(test)
        self._sink.write(json.dumps({"id": test.id(), "outcome": "started"}) + "\n")
        self._sink.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._emit(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._emit(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._emit(test, "failed", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._emit(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._emit(test, "failed", "expected failure (expectedFailure) is not a pass:\n" +
                   self._exc_info_to_string(err, test))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._emit(test, "failed", "unexpected success of a test marked expectedFailure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._emit(subtest, "failed", self._exc_info_to_string(err, test))


def child_main(module_path, sink_path):
    """Runs one test module in this process; outcomes go to sink_path as JSON lines."""
    with open(sink_path, "w") as sink:
        mod_dir = os.path.dirname(module_path)
        sys.path.insert(0, mod_dir)
        sys.path.insert(0, os.path.join(ROOT, "test"))
        name = os.path.splitext(os.path.basename(module_path))[0]
        try:
            mod = importlib.import_module(name)
            suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
        except BaseException:  # any error while loading is a counted failure, not a silent zero
            sink.write(json.dumps({"id": f"{name} (import)", "outcome": "failed",
                                   "detail": traceback.format_exc()[-3000:]}) + "\n")
            return 1
        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1,
                                         resultclass=lambda s, d, v: _RecordingResult(s, d, v, sink))
        runner.run(suite)
    return 0


def module_timeout(path):
    m = re.search(r"^RUN_ALL_TIMEOUT_S\s*=\s*(\d+)", open(path).read(), re.M)
    return int(m.group(1)) if m else PY_MODULE_TIMEOUT_S


def run_python_module(suite_name, path, tally):
    mod = os.path.splitext(os.path.basename(path))[0]
    timeout = module_timeout(path)
    t0 = time.time()
    with tempfile.NamedTemporaryFile(prefix=f"run_all-{mod}-", suffix=".jsonl", delete=False) as f:
        sink = f.name
    proc = subprocess.Popen([sys.executable, "-u", os.path.abspath(__file__), "--child", path, sink], cwd=ROOT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    hung = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    records = []
    with open(sink) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    os.unlink(sink)
    started, finished = [], set()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for r in records:
        if r["outcome"] == "started":
            started.append(r["id"])
            continue
        finished.add(r["id"])
        if r["outcome"] == "skipped":
            tally.skip(suite_name, r["id"], r.get("detail", ""))
        else:
            tally.add(suite_name, r["id"], r["outcome"] == "passed", r.get("detail", ""))
        counts[r["outcome"]] += 1
    if hung:
        running = [t for t in started if t not in finished]
        tally.add(suite_name, mod, False, f"module did not finish within {timeout} s"
                  + (f"; still running: {running[-1]}" if running else ""))
        counts["failed"] += 1
    elif proc.returncode != 0 and counts["failed"] == 0:
        tally.add(suite_name, mod, False, f"test process exited with status {proc.returncode}")
        counts["failed"] += 1
    if sum(counts.values()) == 0:
        tally.add(suite_name, mod, False, "zero tests ran")
    print(f"{suite_name}/{mod}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
          f"{time.time() - t0:.1f} s", flush=True)


def python_modules(suite_name):
    return sorted(glob.glob(os.path.join(ROOT, PY_DIRS[suite_name], "test_*.py")))


# ---------------------------------------------------------------------------------------------- fuzz

def run_fuzz(build, tally):
    sys.path.insert(0, os.path.join(ROOT, "test", "fuzz"))
    import seeds
    seconds = int(os.environ.get("FUZZ_SMOKE_SECONDS", "10"))
    fuzz_dir = os.path.join(build, "fuzz")
    binaries = sorted(glob.glob(os.path.join(fuzz_dir, "*_fuzz")))
    expected = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "test/fuzz/*_fuzz.cpp")))
    missing = sorted(set(expected) - {os.path.basename(b) for b in binaries})
    for name in missing:
        tally.add("fuzz", name, False, f"{os.path.join(fuzz_dir, name)} was not built")
    for binary in binaries:
        name = os.path.basename(binary)
        seed_dir, n = seeds.write_seeds(fuzz_dir, name)
        corpus = os.path.join(fuzz_dir, "corpus", name)
        os.makedirs(corpus, exist_ok=True)
        try:
            proc = subprocess.run(seeds.command(binary, seconds, corpus, seed_dir, ["-print_final_stats=0"]),
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace", timeout=seconds + FUZZ_GRACE_S)
            ok, text = proc.returncode == 0, proc.stdout
        except subprocess.TimeoutExpired:
            ok, text = False, "did not stop"
        tally.add("fuzz", name, ok, text[-3000:])
        print(f"fuzz/{name}: {'ok' if ok else 'FAILED'} ({seconds} s, {n} seeds)", flush=True)
    if not binaries and not missing:
        tally.add("fuzz", "fuzz", False, "zero fuzz targets ran")


# ---------------------------------------------------------------------------------------------- main

def parse_only(value):
    """APPCONFIG_TEST_ONLY → {suite: set of modules or None for all}; exits 2 on an unknown name."""
    selected = {}
    for item in filter(None, (s.strip() for s in value.split(","))):
        suite, _, mod = item.partition("/")
        if suite not in SUITES:
            die(f"APPCONFIG_TEST_ONLY names an unknown suite '{suite}' (known: {', '.join(SUITES)})")
        if mod:
            if suite not in PY_DIRS:
                die(f"APPCONFIG_TEST_ONLY: suite '{suite}' has no modules to pick ('{item}')")
            names = {os.path.splitext(os.path.basename(p))[0] for p in python_modules(suite)}
            if mod not in names:
                die(f"APPCONFIG_TEST_ONLY names an unknown module '{item}' (known: {', '.join(sorted(names))})")
            if selected.get(suite, set()) is not None:
                selected.setdefault(suite, set()).add(mod)
        else:
            selected[suite] = None
    return selected


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2], sys.argv[3]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--name", default="appconfig-extension")
    args = ap.parse_args()
    if "GTEST_FILTER" in os.environ:
        die(f"GTEST_FILTER={os.environ['GTEST_FILTER']!r} is set and would silently drop unit tests; "
                 "unset it (run build/debug/unit-tests --gtest_filter=... directly for a subset)")
    build = os.path.abspath(os.path.join(ROOT, args.build))
    os.environ.setdefault("APPCONFIG_BUILD", build)
    only = parse_only(os.environ.get("APPCONFIG_TEST_ONLY", ""))
    tally = Tally()
    t0 = time.time()
    for suite in SUITES:
        if only and suite not in only:
            continue
        if suite == "unit":
            run_unit(build, tally)
        elif suite == "fuzz":
            run_fuzz(build, tally)
        else:
            modules = python_modules(suite)
            if only.get(suite):
                modules = [p for p in modules if os.path.splitext(os.path.basename(p))[0] in only[suite]]
            if not modules:
                tally.add(suite, suite, False, "zero test modules found")
            for path in modules:
                run_python_module(suite, path, tally)
    if tally.skips:
        print(f"\nSkipped ({len(tally.skips)}):")
        for s in tally.skips:
            print(" - " + s)
    if tally.failures:
        print("\nFailures:")
        for f in tally.failures:
            print(" - " + f.replace("\n", "\n   "))
    print(f"\nall suites: {time.time() - t0:.0f} s")
    print(f"{tally.passed} passed, {tally.failed} failed, {len(tally.skips)} skipped")
    sys.exit(1 if tally.failed else 0)


if __name__ == "__main__":
    main()
