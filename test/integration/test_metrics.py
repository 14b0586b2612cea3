"""Metrics: EMF lines in Lambda (valid against the embedded metric format specification, at most
one per invoke, nothing lost across invokes and SHUTDOWN, dimensions bounded), GET /metrics in
Prometheus text format behind ACCESS_TOKEN in agent mode, and both off by default."""
import collections
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

from harness import ROOT, Agent, debug_binary, free_port

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
import appconfig_data as ad  # noqa: E402
from lambda_api import LambdaEmulator  # noqa: E402
from test_appconfig import AK, SK, TOKEN, get, make_ca  # noqa: E402

PATH = "/applications/App/environments/Env/configurations/Prof"
# CloudWatch's StandardUnit values (the EMF specification's MetricDefinition.Unit).
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
COUNTERS = ("CachedReads", "FirstReads", "StaleServes", "EvaluationErrors", "UpstreamChanged", "UpstreamUnchanged",
            "UpstreamThrottled", "UpstreamErrors")


def validate_emf(test, line):
    """The required parts of the CloudWatch embedded metric format specification, strictly."""
    obj = json.loads(line)
    test.assertIsInstance(obj, dict)
    aws = obj["_aws"]
    test.assertIsInstance(aws, dict)
    test.assertLessEqual(set(aws), {"Timestamp", "CloudWatchMetrics"})
    ts = aws["Timestamp"]
    test.assertIsInstance(ts, int)  # milliseconds since the epoch
    test.assertLess(abs(ts - time.time() * 1000), 3600 * 1000, "Timestamp is not now in ms")
    directives = aws["CloudWatchMetrics"]
    test.assertIsInstance(directives, list)
    test.assertGreaterEqual(len(directives), 1)
    for d in directives:
        test.assertEqual(set(d), {"Namespace", "Dimensions", "Metrics"})  # no other members allowed
        test.assertIsInstance(d["Namespace"], str)
        test.assertTrue(1 <= len(d["Namespace"]) <= 255)
        test.assertIsInstance(d["Dimensions"], list)
        for dset in d["Dimensions"]:
            test.assertIsInstance(dset, list)
            test.assertLessEqual(len(dset), 30)
            for name in dset:
                test.assertIsInstance(name, str)
                test.assertIn(name, obj, "dimension without a target member")
                test.assertIsInstance(obj[name], str)
                test.assertTrue(1 <= len(obj[name]) <= 1024)
        test.assertIsInstance(d["Metrics"], list)
        test.assertTrue(1 <= len(d["Metrics"]) <= 100)
        for mdef in d["Metrics"]:
            test.assertLessEqual(set(mdef), {"Name", "Unit", "StorageResolution"})
            test.assertIsInstance(mdef["Name"], str)
            test.assertTrue(1 <= len(mdef["Name"]) <= 255)
            if "Unit" in mdef:
                test.assertIn(mdef["Unit"], UNITS)
            value = obj[mdef["Name"]]  # the target member must be present
            values = value if isinstance(value, list) else [value]
            test.assertTrue(1 <= len(values) <= 100)
            for v in values:
                test.assertIsInstance(v, (int, float))
                test.assertFalse(isinstance(v, bool))
    return obj


class TlsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="appconfig-metrics-")
        cls.ca, cls.cert, cls.key = make_ca(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.em = ad.Emulator(region="us-east-1", tls_cert=self.cert, tls_key=self.key).start()
        self.em.settings(default_poll_interval_s=1)
        self.em.add_credentials(AK, SK, session_token=TOKEN)
        self.em.set_config("App", "Env", "Prof", b'{"v":1}', version_label="v1")
        self.em.set_config("App", "Env", "Other", b'{"o":1}')
        self.port = free_port()
        self.env = {
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
            "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{self.em.port}",
            "AWS_CA_BUNDLE": self.ca, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1",
            "ASAN_OPTIONS": "exitcode=86:detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87",
        }

    def tearDown(self):
        self.em.stop()


class LambdaEmf(TlsCase):
    def test_lifecycle_counts_every_event_once_at_most_one_line_per_invoke(self):
        env = dict(self.env, AWS_APPCONFIG_EXTENSION_METRICS="emf", AWS_APPCONFIG_EXTENSION_PREFETCH_LIST="App:Env:Prof")
        path_other = "/applications/App/environments/Env/configurations/Other"
        path_missing = "/applications/App/environments/Env/configurations/Missing"
        with LambdaEmulator(debug_binary(), env=env) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])   # prefetch: changed
            counts = [len(emu.stdout().splitlines())]
            self.assertEqual(counts[0], 0)  # nothing before the first invoke

            def step(fn, freeze_s=0.0):
                r = emu.invoke(fn, freeze_s=freeze_s)
                counts.append(len(emu.stdout().splitlines()))
                return r

            step(lambda: [get(self.port) for _ in range(4)], freeze_s=1.2)         # 4 cached
            step(lambda: None)                                                      # refresh: unchanged
            self.em.add_fault("429", count=1, api="GetLatestConfiguration")
            time.sleep(1.2)
            step(lambda: None)                                                      # refresh: throttled
            step(lambda: ([get(self.port) for _ in range(3)],                       # 3 stale serves,
                          get(self.port, path_other), get(self.port, path_missing)))  # a first read, a 404
            self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="v2")
            time.sleep(2.0)
            step(lambda: None)                                                      # refresh: changed
            step(lambda: get(self.port))                                            # 1 cached, not stale
            self.assertEqual(emu.shutdown().exit_code, 0)
            out = emu.stdout()
            self.assertEqual(emu.violations, [])
        for before, after in zip(counts, counts[1:]):
            self.assertLessEqual(after - before, 1, counts)  # at most one EMF line per invoke
        lines = [validate_emf(self, l) for l in out.splitlines()]
        totals = collections.defaultdict(collections.Counter)
        for obj in lines:
            self.assertEqual(obj["_aws"]["CloudWatchMetrics"][0]["Dimensions"], [["application", "environment", "profile"]])
            key = (obj["application"], obj["environment"], obj["profile"])
            for c in COUNTERS:
                totals[key][c] += obj[c]
            if "UpstreamLatency" in obj:
                totals[key]["latency_samples"] += len(obj["UpstreamLatency"])
        prof = totals[("App", "Env", "Prof")]
        self.assertEqual(prof["CachedReads"], 8)
        self.assertEqual(prof["StaleServes"], 3)
        self.assertEqual(prof["FirstReads"], 0)
        self.assertEqual(prof["UpstreamChanged"], 2)     # prefetch + the change
        self.assertEqual(prof["UpstreamThrottled"], 1)
        self.assertGreaterEqual(prof["UpstreamUnchanged"], 1)
        self.assertEqual(prof["latency_samples"], prof["UpstreamChanged"] + prof["UpstreamThrottled"]
                         + prof["UpstreamUnchanged"] + prof["UpstreamErrors"])
        other = totals[("App", "Env", "Other")]
        self.assertEqual(other["FirstReads"], 1)
        self.assertGreaterEqual(other["UpstreamChanged"], 1)
        # The unknown key never gets its own dimensions: its failed call is counted under "(other)".
        self.assertNotIn(("App", "Env", "Missing"), totals)
        self.assertEqual(totals[("(other)", "(other)", "(other)")]["UpstreamErrors"], 1)
        self.assertEqual(set(totals), {("App", "Env", "Prof"), ("App", "Env", "Other"), ("(other)",) * 3})

    def test_managed_instances_write_lines_on_the_refresh_timer(self):
        env = dict(self.env, AWS_APPCONFIG_EXTENSION_METRICS="emf", AWS_APPCONFIG_EXTENSION_PREFETCH_LIST="App:Env:Prof")
        with LambdaEmulator(debug_binary(), env=env, managed_instances=True) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            for _ in range(3):
                self.assertEqual(get(self.port)[0], 200)
            deadline = time.time() + 5
            while time.time() < deadline and not emu.stdout().strip():
                time.sleep(0.1)
            lines = [validate_emf(self, l) for l in emu.stdout().splitlines()]  # no INVOKE: the timer wrote it
            self.assertEqual(emu.shutdown().exit_code, 0)
        self.assertTrue(lines)
        self.assertEqual(sum(l["CachedReads"] for l in lines), 3)

    def test_off_by_default_and_prometheus_refused_in_lambda(self):
        with LambdaEmulator(debug_binary(), env=dict(self.env, AWS_APPCONFIG_EXTENSION_PREFETCH_LIST="App:Env:Prof")) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            emu.invoke(lambda: get(self.port))
            emu.invoke(lambda: get(self.port))
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assertEqual(emu.stdout(), "")
        with LambdaEmulator(debug_binary(), env=dict(self.env, AWS_APPCONFIG_EXTENSION_METRICS="prometheus")) as emu:
            init = emu.start()
            self.assertFalse(init.ok)
            self.assertTrue(emu.init_errors, emu.stderr())
            self.assertIn("AWS_APPCONFIG_EXTENSION_METRICS", json.dumps(emu.init_errors))


class AgentMetrics(TlsCase):
    def test_prometheus_behind_access_token(self):
        token = "metrics-token"
        a = Agent(env=dict(self.env, METRICS="prometheus", ACCESS_TOKEN=token, PREFETCH_LIST="App:Env:Prof"),
                  port=self.port).start()
        try:
            auth = {"Authorization": f"Bearer {token}"}
            for _ in range(3):
                self.assertEqual(a.get(PATH, headers=auth)[0], 200)
            status, headers, _ = a.get("/metrics")
            self.assertEqual(status, 401)
            status, headers, body = a.get("/metrics", headers=auth)
            self.assertEqual(status, 200)
            self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
            text = body.decode()
            labels = 'application="App",environment="Env",profile="Prof"'
            # The agent answers before its prefetch settles: the first read may have waited for it.
            cached = int(text.split(f"appconfig_cached_reads_total{{{labels}}} ")[1].split()[0])
            first = int(text.split(f"appconfig_first_reads_total{{{labels}}} ")[1].split()[0])
            self.assertEqual((cached + first, first <= 1), (3, True))
            self.assertIn(f'appconfig_upstream_calls_total{{{labels},outcome="changed"}} 1\n', text)
            self.assertIn(f'appconfig_upstream_latency_seconds_count{{{labels}}} 1\n', text)
            for line in text.splitlines():
                self.assertTrue(line.startswith("# HELP ") or line.startswith("# TYPE ") or
                                (line.startswith("appconfig_") and "} " in line), line)
            status, _, body = a.get("/metrics", headers=auth, method="HEAD")
            self.assertEqual((status, body), (200, b""))
            self.assertEqual(a.get("/metrics", headers=auth, method="POST")[0], 405)
        finally:
            self.assertEqual(a.stop(), 0)

    def test_metrics_path_is_unknown_when_off(self):
        a = Agent(env=dict(self.env), port=self.port).start()
        try:
            self.assertEqual(a.get("/metrics")[0], 404)
        finally:
            self.assertEqual(a.stop(), 0)

    def test_agent_emf_lines_each_poll_interval(self):
        a = Agent(env=dict(self.env, METRICS="emf", POLL_INTERVAL="1"), port=self.port).start()
        try:
            for _ in range(2):
                self.assertEqual(a.get(PATH)[0], 200)
            deadline = time.time() + 5
            emf = []
            while time.time() < deadline and not emf:
                time.sleep(0.2)
                emf = [l for l in a.stderr().splitlines() if l.startswith('{"_aws"')]
            self.assertTrue(emf, a.stderr())
            obj = validate_emf(self, emf[0])
            self.assertEqual(obj["FirstReads"] + obj["CachedReads"], 2)
        finally:
            self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    unittest.main()
