"""Multi-variant feature flags end to end: Context headers, rule evaluation, ?flag=, in local development mode
(Ion text files) and from the AppConfig emulator (binary Ion, as the service answers with our Accept header)."""
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

ION_NAME = "App:Env:Flags.application%ion%type=AWS.AppConfig.FeatureFlags"
PATH = "/applications/App/environments/Env/configurations/Flags"
PROFILE_TEXT = os.path.join(ROOT, "test", "data", "ion", "profile.ion")
PROFILE_BINARY = os.path.join(ROOT, "test", "data", "ion", "profile.10n")


class LocalVariants(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="appconfig-flags-")
        shutil.copy(PROFILE_TEXT, os.path.join(cls.dir, ION_NAME))
        cls.agent = Agent(local_dir=cls.dir, env={"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1"}).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, code

    def read(self, query="", context=None):
        headers = {}
        if context is not None:
            headers["Context"] = context
        status, h, body = self.agent.get(PATH + query, headers=headers)
        return status, h, body

    def test_defaults_without_context(self):
        status, h, body = self.read()
        self.assertEqual(status, 200, body)
        self.assertEqual(h["content-type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["ui_refresh"], {"_variant": "Default", "enabled": False})
        self.assertEqual(doc["basic"], {"enabled": True, "limit": 10})
        self.assertEqual(doc["tiers"]["_variant"], "Standard")

    def test_variants_by_context(self):
        cases = [
            ("accountId=111111111111", "BetaUsers"),
            ("country=US,age=30", "US21"),
            ("country=US,age=20", "Default"),
            ("country=US,age=21.0", "US21"),      # numeric comparison, not string
            ("email=ops@example.com", "Staff"),
            ("email=ops@example.org", "Default"),
            ("signup=2023-06-01", "Early"),
            ("signup=2024-06-01T10:00:00Z", "Default"),
        ]
        for ctx, want in cases:
            status, _, body = self.read("?flag=ui_refresh", ctx)
            self.assertEqual(status, 200, (ctx, body))
            self.assertEqual(json.loads(body)["_variant"], want, ctx)
        # First matching rule wins: account beats country.
        _, _, body = self.read("?flag=ui_refresh", "accountId=222222222222,country=US,age=40")
        self.assertEqual(json.loads(body)["_variant"], "BetaUsers")

    def test_repeated_context_headers_and_flag_filter(self):
        status, _, body = self.agent.get(PATH + "?flag=tiers&flag=basic",
                                         headers={"Context": "tier=gold"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"tiers": {"_variant": "Premium", "enabled": True},
                                            "basic": {"enabled": True, "limit": 10}})
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.agent.port, timeout=5)
        c.putrequest("GET", PATH + "?flag=ui_refresh")
        c.putheader("Context", "country=US")
        c.putheader("Context", "age=50")
        c.endheaders()
        r = c.getresponse()
        self.assertEqual(json.loads(r.read())["_variant"], "US21")
        c.close()

    def test_split_is_stable_and_proportional(self):
        hits = 0
        n = 400
        for i in range(n):
            _, _, body = self.read("?flag=ui_refresh", f"userId=user-{i}")
            v = json.loads(body)["_variant"]
            if v == "Split20":
                hits += 1
            _, _, again = self.read("?flag=ui_refresh", f"userId=user-{i}")
            self.assertEqual(json.loads(again)["_variant"], v)
        self.assertTrue(0.12 * n < hits < 0.28 * n, hits)  # 20 % +- sampling noise over 400 ids

    def test_errors(self):
        status, _, body = self.read("", "novalue")
        self.assertEqual(status, 400)
        self.assertIn(b"novalue", body)
        status, _, body = self.read("?flag=missing")
        self.assertEqual(status, 400)
        self.assertIn(b'"missing"', body)
        status, _, body = self.read("", "k=%zz")
        self.assertEqual(status, 400)

    def test_broken_update_keeps_previous_version(self):
        d = tempfile.mkdtemp(prefix="appconfig-flags2-")
        try:
            path = os.path.join(d, ION_NAME)
            shutil.copy(PROFILE_TEXT, path)
            a = Agent(local_dir=d, env={"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1"}).start()
            try:
                self.assertEqual(a.get(PATH)[0], 200)
                with open(path + ".tmp", "w") as f:
                    f.write("'basic'::[ [ (eq $x ), '''{}''' ] ]")  # a rule that does not parse
                os.replace(path + ".tmp", path)
                time.sleep(1.3)
                status, _, body = a.get(PATH)
                self.assertEqual(status, 200)
                self.assertIn("ui_refresh", json.loads(body))  # the previous good version
                self.assertIn("basic", a.stderr())  # the error names the flag
            finally:
                self.assertEqual(a.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class ServiceVariants(unittest.TestCase):
    def test_binary_ion_from_appconfig(self):
        tmp = tempfile.mkdtemp(prefix="appconfig-flags-tls-")
        try:
            ca, cert, key = make_ca(tmp)
            em = ad.Emulator(tls_cert=cert, tls_key=key).start()
            try:
                em.settings(default_poll_interval_s=1)
                em.add_credentials(AK, SK, session_token=TOKEN)
                with open(PROFILE_BINARY, "rb") as f:
                    em.set_config("App", "Env", "Flags", f.read(),
                                  content_type="application/ion; type=AWS.AppConfig.FeatureFlags", version_label="7")
                em.set_config("App", "Env", "Broken", b"\xe0\x01\x00\xea\xee\xff",
                              content_type="application/ion; type=AWS.AppConfig.FeatureFlags")
                port = free_port()
                env = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                       "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{em.port}",
                       "AWS_CA_BUNDLE": ca, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(port)}
                with LambdaEmulator(debug_binary(), env=env) as emu:
                    self.assertTrue(emu.start().ok, emu.stderr()[-2000:])

                    def fn():
                        return (get(port, PATH + "?flag=ui_refresh", headers={"Context": "country=US,age=40"}),
                                get(port, PATH),
                                get(port, "/applications/App/environments/Env/configurations/Broken"))
                    r = emu.invoke(fn)
                    (s1, h1, b1, _), (s2, _, b2, _), (s3, _, b3, _) = r.value
                    self.assertEqual(s1, 200, b1)
                    self.assertEqual(json.loads(b1)["_variant"], "US21")
                    self.assertEqual(h1["configuration-version"], "7")
                    self.assertEqual(json.loads(b2)["ui_refresh"]["_variant"], "Default")
                    self.assertEqual(s3, 502, b3)
                    self.assertIn(b"can read", b3)
                    # The Accept header of spec §4 went out with GetLatestConfiguration.
                    gets = [q for q in em.recent_requests() if q["api"] == "GetLatestConfiguration"]
                    self.assertTrue(gets)
                    for q in gets:
                        accept = [v for k, v in q["headers"] if k.lower() == "accept"]
                        self.assertEqual(accept, ["application/ion;type=AWS.AppConfig.FeatureFlags;q=1.0,*/*;q=0.1"])
                    self.assertEqual(emu.shutdown().exit_code, 0)
            finally:
                em.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
