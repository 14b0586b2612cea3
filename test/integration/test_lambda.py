"""The extension under a Lambda service emulator (test/emulator/lambda_api.py): register, the
/event/next loop with freezes, SHUTDOWN, error reports, Managed Instances, the extension name."""
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

from harness import EXIT_FATAL, EXIT_STARTUP_REFUSED, ROOT, debug_binary, free_port, sanitizer_report

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
from lambda_api import LambdaEmulator  # noqa: E402

PATH = "/applications/MyApp/environments/Prod/configurations/Settings"


def local_dir():
    d = tempfile.mkdtemp(prefix="appconfig-lambda-")
    with open(os.path.join(d, "MyApp:Prod:Settings.json"), "w") as f:
        json.dump({"v": 1}, f)
    return d


def get(port, path=PATH, timeout=3):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class LambdaCase(unittest.TestCase):
    def setUp(self):
        self.dir = local_dir()
        self.port = free_port()
        self.env = {"LOCAL_DEVELOPMENT_DIRECTORY": self.dir, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(self.port),
                    "AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "debug",
                    "ASAN_OPTIONS": "exitcode=86:detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87"}

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assert_clean(self, emu):
        self.assertIsNone(sanitizer_report(emu.stderr()))

    def test_full_lifecycle_with_freezes(self):
        env = dict(self.env, AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS="1")
        with LambdaEmulator(debug_binary(), env=env) as emu:
            seen = []
            init = emu.start(runtime_init=lambda: get(self.port))
            self.assertTrue(init.ok, f"{init.reason}: {emu.stderr()[-2000:]}")
            self.assertEqual(init.runtime_init_value[0], 200)  # readable during the runtime's init
            for i in range(20):
                if i == 10:  # a configuration change between invokes is served after the interval
                    with open(os.path.join(self.dir, "MyApp:Prod:Settings.json"), "w") as f:
                        json.dump({"v": 2}, f)
                r = emu.invoke(lambda: get(self.port), freeze_s=[0, 0.05, 0.3, 0.01, 1.1][i % 5])
                self.assertFalse(r.timed_out)
                self.assertEqual(r.value[0], 200)
                seen.append(json.loads(r.value[1])["v"])
            self.assertEqual(seen[:10], [1] * 10)
            self.assertIn(2, seen[10:])  # 1 s interval: wall time across freezes counts
            s = emu.shutdown("spindown")
            self.assertEqual(s.exit_code, 0)
            self.assertFalse(s.killed)
            self.assertLess(s.duration_ms, 500)
            self.assertEqual(emu.violations, [])
            kinds = [e[0] for e in emu.events_delivered]
            self.assertEqual(kinds.count("INVOKE"), 20)
            self.assert_clean(emu)

    def test_bad_setting_reports_init_error(self):
        env = dict(self.env, AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS="soon")
        with LambdaEmulator(debug_binary(), env=env) as emu:
            init = emu.start()
            self.assertFalse(init.ok)
            self.assertEqual(len(emu.init_errors), 1, emu.stderr())
            e = emu.init_errors[0]
            self.assertEqual(e["type"], "Extension.ConfigInvalid")
            self.assertIn("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", e["body"]["errorMessage"])
            self.assertEqual(e["body"]["errorType"], "Extension.ConfigInvalid")
            emu.proc.wait(timeout=5)
            self.assertEqual(emu.proc.returncode, EXIT_STARTUP_REFUSED)
            self.assertIsNone(sanitizer_report(emu.stderr()))

    def test_port_in_use_reports_init_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", self.port))
        s.listen(1)
        try:
            with LambdaEmulator(debug_binary(), env=self.env) as emu:
                init = emu.start()
                self.assertFalse(init.ok)
                self.assertEqual([e["type"] for e in emu.init_errors], ["Extension.PortInUse"], emu.stderr())
                self.assertIn(str(self.port), emu.init_errors[0]["body"]["errorMessage"])
        finally:
            s.close()

    def test_runtime_api_500_exits_promptly(self):
        with LambdaEmulator(debug_binary(), env=self.env) as emu:
            self.assertTrue(emu.start().ok)
            emu.fail_next_event(500)
            emu.thaw()
            t0 = time.time()
            emu.proc.wait(timeout=5)
            self.assertLess(time.time() - t0, 2)
            self.assertEqual(emu.proc.returncode, EXIT_FATAL)
            self.assertIsNone(sanitizer_report(emu.stderr()))
            self.assertIn("500", emu.stderr())

    def test_connection_dropped_while_frozen(self):
        with LambdaEmulator(debug_binary(), env=self.env) as emu:
            self.assertTrue(emu.start().ok)
            for i in range(4):
                r = emu.invoke(lambda: get(self.port), freeze_s=0.1, drop_connection=(i % 2 == 0))
                self.assertFalse(r.timed_out)
                self.assertEqual(r.value[0], 200)
            s = emu.shutdown()
            self.assertEqual(s.exit_code, 0)
            self.assertEqual(emu.violations, [])
            ids = [e[1] for e in emu.events_delivered if e[0] == "INVOKE"]
            self.assertEqual(len(ids), 4)
            self.assertEqual(len(set(ids)), 4)  # none lost, none twice
            self.assert_clean(emu)

    def test_shutdown_during_inflight_request(self):
        with LambdaEmulator(debug_binary(), env=self.env) as emu:
            self.assertTrue(emu.start().ok)
            emu.invoke(lambda: get(self.port))
            emu.thaw()
            # A client that started a request and never finished it.
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.05)
            r = emu.shutdown()
            s.close()
            self.assertEqual(r.exit_code, 0)
            self.assertFalse(r.killed)
            self.assertLess(r.duration_ms, 500)

    def test_managed_instances(self):
        with LambdaEmulator(debug_binary(), env=dict(self.env, AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS="1"),
                            managed_instances=True) as emu:
            init = emu.start()
            self.assertTrue(init.ok, f"{init.reason}: {emu.stderr()[-2000:]}")
            self.assertEqual(get(self.port)[0], 200)
            with open(os.path.join(self.dir, "MyApp:Prod:Settings.json"), "w") as f:
                json.dump({"v": 3}, f)
            deadline = time.time() + 5
            while time.time() < deadline and json.loads(get(self.port)[1])["v"] != 3:
                time.sleep(0.1)
            self.assertEqual(json.loads(get(self.port)[1])["v"], 3)
            s = emu.shutdown()
            self.assertEqual(s.exit_code, 0)
            self.assertEqual(emu.violations, [])

    def test_name_header_is_the_file_name(self):
        d = tempfile.mkdtemp(prefix="appconfig-name-")
        try:
            renamed = os.path.join(d, "my-config-layer")
            shutil.copy(debug_binary(), renamed)
            with LambdaEmulator(renamed, env=self.env) as emu:
                self.assertTrue(emu.start().ok, emu.stderr()[-2000:])
                self.assertEqual(emu.shutdown().exit_code, 0)
            # A name that does not match the file is refused by the platform: init fails, loudly.
            with LambdaEmulator(renamed, env=self.env, name="someone-else") as emu:
                init = emu.start()
                self.assertFalse(init.ok)
                self.assertIn("registration", emu.stderr())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_chunked_runtime_api_answers(self):
        with LambdaEmulator(debug_binary(), env=self.env, chunked=True) as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-2000:])
            for _ in range(3):
                self.assertEqual(emu.invoke(lambda: get(self.port)).value[0], 200)
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assertEqual(emu.violations, [])


if __name__ == "__main__":
    unittest.main()
