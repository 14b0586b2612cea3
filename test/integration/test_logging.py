"""Logs: JSON lines for Lambda's JSON log format (every line of a whole lifecycle parses, with the
event fields), Lambda's log level when ours is unset, LOG_FORMAT=json in agent mode, nothing at
INFO per read or per invoke, and docs/logging.md listing every event of the source once."""
import collections
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

from harness import ROOT, Agent, debug_binary, free_port

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
import appconfig_data as ad  # noqa: E402
from lambda_api import LambdaEmulator  # noqa: E402
from test_appconfig import AK, SK, TOKEN, get, make_ca  # noqa: E402

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
CALL = re.compile(r'\b(?:LOG_(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\(|LOG_EVENT\(k(\w+),\s*\w+,|'
                  r'log::write_to\(\d+,\s*settings::LogLevel::k(\w+),)\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', re.S)


def source_events():
    events = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "*", "*.cpp"))):
        with open(path) as f:
            text = f.read()
        module = os.path.basename(path)[:-4]
        for m in CALL.finditer(text):
            level = (m.group(1) or m.group(2) or m.group(3)).upper()
            fmt = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(4))).replace('\\"', '"')
            events.add((level, module, fmt))
    return events


def doc_events():
    rows = []
    with open(os.path.join(ROOT, "docs", "logging.md"), encoding="utf-8") as f:
        text = f.read()
    table = text[text.index("## Every event"):]
    for line in table.splitlines():
        m = re.match(r"^\| (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \| (\w+) \| `(.*?)` \|", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3)))
    return rows


def parse_json_lines(text, test):
    """Every non-empty line must be one JSON object with the required members."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            test.fail(f"not JSON ({e}): {line!r}")
        test.assertIsInstance(obj, dict, line)
        test.assertRegex(obj.get("timestamp", ""), RFC3339_MS, line)
        test.assertIn(obj.get("level"), LEVELS, line)
        test.assertIsInstance(obj.get("message"), str, line)
        test.assertEqual(obj.get("logger"), "appconfig-extension", line)
        for k in ("application", "environment", "profile"):
            if k in obj:
                test.assertIsInstance(obj[k], str, line)
        for k in ("status", "bytes", "ms"):
            if k in obj:
                test.assertIsInstance(obj[k], int, line)
                test.assertGreaterEqual(obj[k], 0, line)
        out.append(obj)
    return out


class EventTable(unittest.TestCase):
    def test_every_event_is_listed_once(self):
        src = source_events()
        rows = doc_events()
        dup = [r for r, n in collections.Counter(rows).items() if n > 1]
        self.assertEqual(dup, [], "listed more than once in docs/logging.md")
        self.assertGreater(len(src), 40)
        self.assertEqual(sorted(src - set(rows)), [], "logged in src/ but missing from docs/logging.md")
        self.assertEqual(sorted(set(rows) - src), [], "in docs/logging.md but no longer logged")


class LambdaLogs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="appconfig-logs-")
        cls.ca, cls.cert, cls.key = make_ca(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.em = ad.Emulator(region="us-east-1", tls_cert=self.cert, tls_key=self.key).start()
        self.em.settings(default_poll_interval_s=1)
        self.em.add_credentials(AK, SK, session_token=TOKEN)
        self.em.set_config("App", "Env", "Prof", b'{"v":1}', version_label="v1")
        self.port = free_port()
        self.env = {
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
            "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{self.em.port}",
            "AWS_CA_BUNDLE": self.ca, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1",
            "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": "App:Env:Prof",
            "ASAN_OPTIONS": "exitcode=86:detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87",
        }

    def tearDown(self):
        self.em.stop()

    def test_every_line_of_a_lifecycle_is_json(self):
        env = dict(self.env, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="DEBUG")
        with LambdaEmulator(debug_binary(), env=env) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            emu.invoke(lambda: [get(self.port) for _ in range(3)], freeze_s=1.2)
            self.em.add_fault("429", count=1, api="GetLatestConfiguration")
            emu.invoke(lambda: None, freeze_s=0.1)             # the refresh is throttled
            emu.invoke(lambda: get(self.port), freeze_s=2.0)   # stale read
            self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="v2")
            emu.invoke(lambda: None)                            # refresh: changed
            # A name with a newline and a byte that is not UTF-8 reaches the log via AWS's 404.
            r = emu.invoke(lambda: get(self.port, "/applications/A%0Ab%FF/environments/E/configurations/P"))
            self.assertIn(r.value[0], (400, 404))  # AWS refuses or does not know the name
            self.assertEqual(emu.shutdown().exit_code, 0)
            err = emu.stderr()
        lines = parse_json_lines(err, self)
        levels = collections.Counter(l["level"] for l in lines)
        self.assertGreater(levels["DEBUG"], 0)  # AWS_LAMBDA_LOG_LEVEL=DEBUG applies: ours is unset
        self.assertTrue(any(l["message"].startswith("registered as") for l in lines))
        self.assertTrue(any(l["message"].startswith("SHUTDOWN") for l in lines))
        stored = [l for l in lines if " stored " in l["message"]]
        self.assertEqual(len(stored), 2, stored)
        for l in stored:
            self.assertEqual((l["application"], l["environment"], l["profile"]), ("App", "Env", "Prof"))
            self.assertEqual(l["bytes"], 7)
            self.assertIn("ms", l)
        failed = [l for l in lines if l["message"].startswith("refresh failed")]
        self.assertEqual(len(failed), 1, lines)
        self.assertEqual(failed[0]["level"], "WARN")
        self.assertEqual(failed[0]["status"], 429)
        self.assertEqual(failed[0]["profile"], "Prof")
        again = [l for l in lines if l["message"].endswith("answers again")]
        self.assertEqual(len(again), 1)
        hostile = [l for l in lines if l.get("environment") == "E" and l.get("profile") == "P"]
        self.assertTrue(hostile, lines)
        self.assertEqual(hostile[0]["application"], "A\nb\ufffd")
        self.assertEqual(hostile[0]["status"], r.value[0])

    def test_our_level_wins_over_lambdas(self):
        env = dict(self.env, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="DEBUG",
                   AWS_APPCONFIG_EXTENSION_LOG_LEVEL="warn")
        with LambdaEmulator(debug_binary(), env=env) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            emu.invoke(lambda: get(self.port))
            self.assertEqual(emu.shutdown().exit_code, 0)
            lines = parse_json_lines(emu.stderr(), self)
        self.assertEqual([l for l in lines if l["level"] in ("DEBUG", "INFO")], [])

    def test_lambda_error_level_hides_info_and_text_stays_default(self):
        env = dict(self.env, AWS_LAMBDA_LOG_LEVEL="ERROR")
        with LambdaEmulator(debug_binary(), env=env) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            emu.invoke(lambda: get(self.port))
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assertEqual(emu.stderr().strip(), "")
        with LambdaEmulator(debug_binary(), env=self.env) as emu:  # neither variable: text at info
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            self.assertEqual(emu.shutdown().exit_code, 0)
            err = emu.stderr()
        self.assertIn("[appconfig-extension] INFO registered as", err)
        self.assertNotIn("{", err.splitlines()[0])


class QuietAtInfo(unittest.TestCase):
    def test_no_info_line_per_read_or_invoke(self):
        d = tempfile.mkdtemp(prefix="appconfig-quiet-")
        try:
            with open(os.path.join(d, "MyApp:Prod:Settings.json"), "w") as f:
                json.dump({"v": 1}, f)
            port = free_port()
            env = {"LOCAL_DEVELOPMENT_DIRECTORY": d, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(port),
                   "ASAN_OPTIONS": "exitcode=86:detect_leaks=1"}
            path = "/applications/MyApp/environments/Prod/configurations/Settings"
            with LambdaEmulator(debug_binary(), env=env) as emu:
                self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
                emu.invoke(lambda: get(port, path))
                before = emu.stderr().splitlines()
                for _ in range(20):
                    r = emu.invoke(lambda: [get(port, path) for _ in range(5)])
                    self.assertEqual(r.value[0][0], 200)
                after = emu.stderr().splitlines()
                self.assertEqual(after, before)
                self.assertEqual(emu.shutdown().exit_code, 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class AgentJson(unittest.TestCase):
    def test_log_format_json_in_agent_mode(self):
        a = Agent(local_dir=os.path.join(ROOT, "examples", "local"), env={"LOG_FORMAT": "json"}).start()
        try:
            self.assertEqual(a.get("/applications/MyApp/environments/Production/configurations/Settings")[0], 200)
            self.assertEqual(a.raw(b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")[:12], b"HTTP/1.1 400")
        finally:
            a.proc.terminate()
            a.proc.wait(10)
            out = a.stderr()
            self.assertEqual(a.stop(), 0)
        lines = parse_json_lines(out, self)
        self.assertTrue(any(l["message"].startswith("loaded ") for l in lines))
        self.assertTrue(any(l["message"].startswith("rejected a local request: 400") for l in lines))
        self.assertTrue(any(l["message"].startswith("stopped after") for l in lines))


if __name__ == "__main__":
    unittest.main()
