"""End to end against AWS AppConfig's stand-in: the extension under the Lambda emulator, fetching over
TLS (a throwaway CA made with the openssl CLI) from test/emulator/appconfig_data.py, which checks every
SigV4 signature."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import ROOT, debug_binary, free_port

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
import appconfig_data as ad  # noqa: E402
from lambda_api import LambdaEmulator  # noqa: E402

AK, SK, TOKEN = "AKIDTESTEXAMPLE", "secret/Key+example", "session-token-example/+="
PATH = "/applications/App/environments/Env/configurations/Prof"


def make_ca(tmp):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=appconfig-extension test CA")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(tmp, "ca.pem"), os.path.join(tmp, "server.pem"), os.path.join(tmp, "server.key")


def get(port, path=PATH, timeout=5, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.monotonic()
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body, (time.monotonic() - t0) * 1000
    finally:
        c.close()


class AppConfigCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="appconfig-tls-")
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
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK, "AWS_SESSION_TOKEN": TOKEN,
            "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{self.em.port}",
            "AWS_CA_BUNDLE": self.ca,
            "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1",
            "AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "debug",
            "ASAN_OPTIONS": "exitcode=86:detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87",
        }

    def tearDown(self):
        self.em.stop()

    def calls(self, api):
        return self.em.counters()["calls"].get(api, 0)

    def lambda_(self, **env):
        return LambdaEmulator(debug_binary(), env=dict(self.env, **env))

    def assert_clean(self, emu):
        err = emu.stderr()
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            self.assertNotIn(bad, err)

    def test_first_read_then_cached(self):
        with self.lambda_() as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            r = emu.invoke(lambda: [get(self.port) for _ in range(5)])
            first = r.value[0]
            self.assertEqual(first[0], 200, first[2])
            self.assertEqual(first[2], b'{"v":1}')
            self.assertEqual(first[1]["configuration-version"], "v1")
            self.assertEqual(first[1]["version-label"], "v1")
            self.assertEqual(first[1]["content-type"], "application/json")
            self.assertEqual(self.calls("StartConfigurationSession"), 1)
            self.assertEqual(self.calls("GetLatestConfiguration"), 1)
            for later in r.value[1:]:
                self.assertEqual(later[2], b'{"v":1}')
            # Cached reads between intervals cause no upstream call.
            r = emu.invoke(lambda: [get(self.port) for _ in range(20)], freeze_s=0)
            self.assertEqual(self.calls("GetLatestConfiguration"), 1)
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assertEqual(emu.violations, [])
            self.assert_clean(emu)

    def test_refresh_after_interval_across_freezes(self):
        with self.lambda_() as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            self.assertEqual(emu.invoke(lambda: get(self.port), freeze_s=1.2).value[2], b'{"v":1}')
            # Unchanged: the refresh on this invoke gets an empty body and keeps the bytes.
            emu.invoke(lambda: None, freeze_s=1.2)
            self.assertEqual(self.calls("GetLatestConfiguration"), 2)
            self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="v2")
            emu.invoke(lambda: None, freeze_s=0.1)  # refresh runs during this invoke
            r = emu.invoke(lambda: get(self.port))
            self.assertEqual(r.value[2], b'{"v":2}')
            self.assertEqual(r.value[1]["configuration-version"], "v2")
            # One session for the whole chain of tokens.
            self.assertEqual(self.calls("StartConfigurationSession"), 1)
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assert_clean(emu)

    def test_prefetch_before_first_next_and_shared_with_reads(self):
        self.em.add_fault("slow", count=2, delay_ms=400)
        with self.lambda_(AWS_APPCONFIG_EXTENSION_PREFETCH_LIST="App:Env:Prof") as emu:
            init = emu.start(runtime_init=lambda: get(self.port))  # reads while the prefetch is in flight
            self.assertTrue(init.ok, emu.stderr()[-3000:])
            self.assertEqual(init.runtime_init_value[0], 200)
            self.assertEqual(init.runtime_init_value[2], b'{"v":1}')
            self.assertEqual(self.calls("StartConfigurationSession"), 1)
            self.assertEqual(self.calls("GetLatestConfiguration"), 1)
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_concurrent_first_reads_share_one_fetch(self):
        self.em.add_fault("slow", count=1, delay_ms=300)
        with self.lambda_() as emu:
            self.assertTrue(emu.start().ok)

            def fn():
                out = [None] * 8
                ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, get(self.port))) for i in range(8)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                return out
            r = emu.invoke(fn)
            self.assertEqual([x[0] for x in r.value], [200] * 8)
            self.assertEqual(self.calls("StartConfigurationSession"), 1)
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_stale_bytes_while_upstream_fails(self):
        with self.lambda_(AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS="800") as emu:
            self.assertTrue(emu.start().ok)
            self.assertEqual(emu.invoke(lambda: get(self.port), freeze_s=1.2).value[0], 200)
            for fault in ("hang", "500", "429", "403", "close"):
                self.em.clear_faults()
                self.em.add_fault(fault, count=None)

                def reads():
                    out = []
                    for _ in range(10):
                        out.append(get(self.port))
                        time.sleep(0.02)
                    return out
                r = emu.invoke(reads, freeze_s=1.2)
                for status, _, body, ms in r.value:
                    self.assertEqual((status, body), (200, b'{"v":1}'), fault)
                    self.assertLess(ms, 50, fault)  # generous for the sanitizer build; typically < 1 ms
            self.em.clear_faults()
            self.assertIn("serving the cached copy", emu.stderr())
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assert_clean(emu)

    def test_first_read_during_outage(self):
        for fault, want in (("500", 502), ("hang", 504), ("429", 502)):
            self.em.clear_faults()
            self.em.add_fault(fault, count=None)
            with self.lambda_(AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS="700") as emu:
                self.assertTrue(emu.start().ok)
                r = emu.invoke(lambda: get(self.port))
                status, h, body, ms = r.value
                self.assertEqual(status, want, (fault, body))
                self.assertLess(ms, 700 + 500)
                self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
                self.assertIn(b"App:Env:Prof", body)
                self.assertEqual(emu.shutdown().exit_code, 0)

    def test_not_found_and_bad_credentials(self):
        with self.lambda_() as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(lambda: get(self.port, "/applications/App/environments/Env/configurations/Nope"))
            self.assertEqual(r.value[0], 404, r.value[2])
            self.assertIn(b"ResourceNotFoundException", r.value[2])
            self.assertEqual(emu.shutdown().exit_code, 0)
        with self.lambda_(AWS_SECRET_ACCESS_KEY="wrong") as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(lambda: get(self.port))
            self.assertEqual(r.value[0], 403, r.value[2])
            self.assertIn(b"InvalidSignatureException", r.value[2])
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_assume_role(self):
        self.em.add_role("arn:aws:iam::222222222222:role/reader", account="other", external_id="ext-1")
        self.em.set_config("App", "Env", "Prof", b'{"account":"other"}', account="other")
        with self.lambda_(AWS_APPCONFIG_EXTENSION_ROLE_ARN="arn:aws:iam::222222222222:role/reader",
                          AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID="ext-1",
                          AWS_ENDPOINT_URL_STS=f"https://localhost:{self.em.port}") as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            r = emu.invoke(lambda: get(self.port))
            self.assertEqual(r.value[0], 200, r.value[2])
            self.assertEqual(r.value[2], b'{"account":"other"}')
            self.assertEqual(len(self.em.counters()["assume_role_calls"]), 1)
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_container_credentials(self):
        self.em.set_container_credentials("container-token-1")
        with self.lambda_(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None,
                          AWS_CONTAINER_CREDENTIALS_FULL_URI=f"https://localhost:{self.em.port}/container-credentials",
                          AWS_CONTAINER_AUTHORIZATION_TOKEN="container-token-1") as emu:
            self.assertTrue(emu.start().ok, emu.stderr()[-3000:])
            r = emu.invoke(lambda: get(self.port))
            self.assertEqual(r.value[0], 200, r.value[2])
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_untrusted_certificate_is_refused(self):
        with self.lambda_(AWS_CA_BUNDLE=None) as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(lambda: get(self.port))
            self.assertEqual(r.value[0], 502)
            self.assertIn(b"certificate", r.value[2])
            self.assertEqual(emu.shutdown().exit_code, 0)


if __name__ == "__main__":
    unittest.main()
