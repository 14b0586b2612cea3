"""Agent parity outside Lambda (issue 12): the SDKs' credential chain (web identity, shared profiles,
IMDSv2) end to end with every signature verified by the AppConfig emulator, region discovery,
HTTP_HOST forms and defaults, inline MANIFEST JSON, Go durations, and an https:// proxy."""
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

from harness import ROOT, Agent

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
import appconfig_data as ad  # noqa: E402
import imds as imds_emulator  # noqa: E402
from test_appconfig import make_ca  # noqa: E402

PATH = "/applications/App/environments/Env/configurations/Prof"
ROLE = "arn:aws:iam::111111111111:role/irsa-reader"
ROLE_A = "arn:aws:iam::222222222222:role/profile-reader"
ROLE_B = "arn:aws:iam::333333333333:role/second-hop"
PROFILE_AK, PROFILE_SK = "AKIAPROFILEEXAMPLE", "profile/secret+example"
ENV_AK, ENV_SK = "AKIAENVEXAMPLE", "env/secret+example"


def wait_for(pred, timeout_s, what):
    end = time.time() + timeout_s
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class ParityCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls = tempfile.mkdtemp(prefix="appconfig-parity-tls-")
        cls.ca, cls.cert, cls.key = make_ca(cls.tls)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tls, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-parity-")
        self.em = ad.Emulator(tls_cert=self.cert, tls_key=self.key).start()
        self.em.settings(default_poll_interval_s=1)
        self.em.set_config("App", "Env", "Prof", b'{"v":1}', version_label="1")
        self.agents = []
        self.imds = None

    def tearDown(self):
        for a in self.agents:
            if a.proc is not None and a.proc.poll() is None:
                a.stop()
        if self.imds is not None:
            self.imds.stop()
        self.em.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def agent(self, region="us-east-1", **env):
        base = {"AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{self.em.port}",
                "AWS_ENDPOINT_URL_STS": f"https://localhost:{self.em.port}", "AWS_CA_BUNDLE": self.ca,
                "POLL_INTERVAL": "1", "REQUEST_TIMEOUT": "1500",
                # Never the real instance metadata of the machine running the tests.
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}
        if region:
            base["AWS_REGION"] = region
        base.update({k: v for k, v in env.items() if v is not None})
        for k in [k for k, v in env.items() if v is None]:
            base.pop(k, None)
        a = Agent(env=base)
        self.agents.append(a)
        return a

    def fatal(self, **env):
        """Starts an agent that must refuse to start; returns its output."""
        a = self.agent(**env).start(wait=False)
        a.proc.wait(timeout=10)
        self.assertNotEqual(a.proc.returncode, 0)
        return a.stderr()

    def write(self, rel, text, mode=0o600):
        p = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def start_imds(self, **kw):
        self.imds = imds_emulator.Imds(appconfig=self.em, **kw).start()
        return self.imds

    def assert_served(self, a, body=b'{"v":1}'):
        status, _, got = a.get(PATH)
        self.assertEqual(status, 200, got)
        self.assertEqual(got, body)

    # ---------------------------------------------------------------- web identity (EKS IRSA)

    def test_web_identity_unsigned_token_reread_on_refresh(self):
        token_file = self.write("eks/token", "jwt-one\n")
        # 12 s credentials: refreshed in the background after half their lifetime.
        self.em.add_web_identity_role(ROLE, "default", "jwt-one", lifetime_s=12)
        a = self.agent(AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=ROLE,
                       AWS_ROLE_SESSION_NAME="irsa-test").start()
        self.assert_served(a)
        calls = self.em.counters()["web_identity_calls"]
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["WebIdentityToken"], "jwt-one")  # the file's content, newline dropped
        self.assertEqual(calls[0]["RoleSessionName"], "irsa-test")
        self.assertIn("credentials: web identity", a.stderr())
        # kubelet rotates the token: the next refresh reads the new one.
        self.write("eks/token", "jwt-two")
        self.em.add_web_identity_role(ROLE, "default", "jwt-two", lifetime_s=12)
        calls = wait_for(lambda: [c for c in self.em.counters()["web_identity_calls"] if c["WebIdentityToken"] == "jwt-two"],
                         12, "a refresh with the rotated token")
        self.assertTrue(calls)
        self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="2")
        wait_for(lambda: a.get(PATH)[2] == b'{"v":2}', 5, "a fetch signed with the refreshed credentials")
        self.assertNotIn("AQoDYXdz", a.stderr())
        self.assertEqual(a.stop(), 0)

    def test_web_identity_errors_are_clear_and_never_block(self):
        self.em.add_web_identity_role(ROLE, "default", "jwt-one")
        out = self.fatal(AWS_WEB_IDENTITY_TOKEN_FILE=self.write("t", "x"))
        self.assertIn("AWS_ROLE_ARN", out)
        # A FIFO with no writer would block open()/read(): refused as not a regular file.
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        a = self.agent(AWS_WEB_IDENTITY_TOKEN_FILE=fifo, AWS_ROLE_ARN=ROLE).start()
        t0 = time.time()
        status, _, body = a.get(PATH)
        self.assertLess(time.time() - t0, 4)
        self.assertNotEqual(status, 200)
        self.assertIn("regular file", a.stderr() + body.decode())
        self.assertEqual(a.get("/ping")[0], 200)
        # Worst inputs: the largest token STS takes works; a larger file, or one that percent-encodes
        # past the request buffer, is a clear error.
        big = "e" * 20000
        self.em.add_web_identity_role(ROLE, "default", big)
        ok = self.agent(AWS_WEB_IDENTITY_TOKEN_FILE=self.write("big", big + "\n"), AWS_ROLE_ARN=ROLE).start()
        self.assert_served(ok)
        self.assertEqual(self.em.counters()["web_identity_calls"][-1]["WebIdentityToken"], big)
        for name, text, want in (("huge", "e" * 30000, "larger than 20001 bytes"),
                                 ("escaped", "%" * 20000, "does not fit the 32")):
            a = self.agent(AWS_WEB_IDENTITY_TOKEN_FILE=self.write(name, text), AWS_ROLE_ARN=ROLE).start()
            self.assertNotEqual(a.get(PATH)[0], 200)
            self.assertIn(want, a.stderr())
        self.em.add_web_identity_role(ROLE, "default", "jwt-one")
        # The wrong token: STS's message reaches the log.
        bad = self.agent(AWS_WEB_IDENTITY_TOKEN_FILE=self.write("t2", "stale"), AWS_ROLE_ARN=ROLE).start()
        self.assertNotEqual(bad.get(PATH)[0], 200)
        self.assertIn("InvalidIdentityToken", bad.stderr())

    def test_environment_wins_over_web_identity(self):
        self.em.add_credentials(ENV_AK, ENV_SK)
        a = self.agent(AWS_ACCESS_KEY_ID=ENV_AK, AWS_SECRET_ACCESS_KEY=ENV_SK,
                       AWS_WEB_IDENTITY_TOKEN_FILE=self.write("t", "jwt"), AWS_ROLE_ARN=ROLE).start()
        self.assert_served(a)
        self.assertIn("credentials: environment", a.stderr())
        self.assertEqual(self.em.counters()["web_identity_calls"], [])

    # ---------------------------------------------------------------- shared files

    def test_shared_profile_static_keys_and_region(self):
        self.em.add_credentials(PROFILE_AK, PROFILE_SK)
        home = os.path.join(self.tmp, "home")
        self.write("home/.aws/credentials", f"[default]\naws_access_key_id = {PROFILE_AK}\n"
                   f"aws_secret_access_key = {PROFILE_SK}\n")
        self.write("home/.aws/config", "[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 2\n")
        a = self.agent(region=None, HOME=home).start()
        self.assert_served(a)
        err = a.stderr()
        self.assertIn("credentials: shared profile default (static keys)", err)
        self.assertIn("region us-east-1 from the shared config profile", err)
        self.assertNotIn(PROFILE_SK, err)

    def test_profile_role_chain_source_profile(self):
        self.em.add_credentials(PROFILE_AK, PROFILE_SK)
        self.em.add_role(ROLE_B, account="acct-b")
        self.em.add_role(ROLE_A, account="acct-a")
        self.em.set_config("App", "Env", "Prof", b'{"account":"a"}', account="acct-a")
        creds = self.write("files/creds", f"[base]\naws_access_key_id={PROFILE_AK}\naws_secret_access_key={PROFILE_SK}\n")
        config = self.write("files/config", f"[profile hop]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
                            f"[profile dev]\nrole_arn = {ROLE_A}\nsource_profile = hop\nrole_session_name = dev-session\n"
                            "duration_seconds = 900\n")
        a = self.agent(AWS_PROFILE="dev", AWS_SHARED_CREDENTIALS_FILE=creds, AWS_CONFIG_FILE=config).start()
        self.assert_served(a, b'{"account":"a"}')
        arns = [c["RoleArn"] for c in self.em.counters()["assume_role_calls"]]
        self.assertEqual(arns, [ROLE_B, ROLE_A])
        self.assertEqual(self.em.counters()["assume_role_calls"][1]["RoleSessionName"], "dev-session")
        self.assertIn(f"shared profile dev (static keys of base) -> AssumeRole {ROLE_B} -> AssumeRole {ROLE_A}",
                      a.stderr())

    def test_profile_errors_at_start(self):
        config = self.write("c", "[profile a]\nrole_arn = %s\nsource_profile = b\n[profile b]\nrole_arn = %s\n"
                            "source_profile = a\n[profile proc]\ncredential_process = /bin/echo\n"
                            "[profile sso]\nsso_session = corp\n[profile half]\naws_access_key_id = AKIAX\n"
                            "[profile bad-source]\nrole_arn = %s\ncredential_source = Somewhere\n" % (ROLE_A, ROLE_B, ROLE_A))
        cases = {"a": "cycle", "proc": "credential_process, which is not supported", "sso": "not supported",
                 "half": "only one of", "missing": "AWS_PROFILE=missing: no such profile",
                 "bad-source": "credential_source \"Somewhere\""}
        for profile, want in cases.items():
            out = self.fatal(AWS_PROFILE=profile, AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
            self.assertIn(want, out, profile)
        # A shared file that is a FIFO is refused, never waited on.
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        out = self.fatal(AWS_CONFIG_FILE=fifo)
        self.assertIn("not a regular file", out)

    def test_container_endpoint_and_credential_sources_in_the_chain(self):
        # No keys, no web identity, no profile: the container endpoint (ECS, EKS Pod Identity).
        self.em.set_container_credentials("pod-token")
        token_file = self.write("eks-pod-identity-token", "pod-token\n")
        a = self.agent(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"https://localhost:{self.em.port}/container-credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token_file).start()
        self.assert_served(a)
        self.assertIn("credentials: container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)", a.stderr())
        # A profile role over credential_source = Ec2InstanceMetadata and = EcsContainer.
        md = self.start_imds()
        self.em.add_role(ROLE_A, account="acct-a")
        self.em.set_config("App", "Env", "Prof", b'{"account":"a"}', account="acct-a")
        config = self.write("cfg", f"[profile ec2]\nrole_arn = {ROLE_A}\ncredential_source = Ec2InstanceMetadata\n"
                            f"[profile ecs]\nrole_arn = {ROLE_A}\ncredential_source = EcsContainer\n")
        b = self.agent(AWS_PROFILE="ec2", AWS_CONFIG_FILE=config, AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url).start()
        self.assert_served(b, b'{"account":"a"}')
        self.assertEqual(md.counters()["creds"], 1)
        self.assertIn("credential_source Ec2InstanceMetadata", b.stderr())
        c = self.agent(AWS_PROFILE="ecs", AWS_CONFIG_FILE=config,
                       AWS_CONTAINER_CREDENTIALS_FULL_URI=f"https://localhost:{self.em.port}/container-credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN="pod-token").start()
        self.assert_served(c, b'{"account":"a"}')
        self.assertEqual(len(self.em.counters()["assume_role_calls"]), 2)

    # ---------------------------------------------------------------- IMDS

    def test_imds_v2_credentials_region_refresh_and_token_renewal(self):
        md = self.start_imds(region="us-east-1", lifetime_s=12)
        a = self.agent(region=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url).start()
        self.assert_served(a)
        err = a.stderr()
        self.assertIn("region us-east-1 from instance metadata", err)
        self.assertIn("credentials: instance metadata (IMDS at 127.0.0.1", err)
        c = md.counters()
        self.assertEqual(md.ttls[0], 21600)
        self.assertEqual(c["unauthorized"], 0)
        self.assertEqual(c["creds"], 1)
        # Credentials refresh before they expire, with the cached token.
        wait_for(lambda: md.counters()["creds"] >= 2, 12, "an IMDS credential refresh")
        tokens_before = md.counters()["token"]
        # The token stops working (401): one new token, then the same GET; never a GET without one.
        md.expire_tokens()
        wait_for(lambda: md.counters()["creds"] >= 3, 12, "a refresh after the token expired")
        c = md.counters()
        self.assertGreater(c["token"], tokens_before)
        self.assertGreaterEqual(c["unauthorized"], 1)
        self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="2")
        wait_for(lambda: a.get(PATH)[2] == b'{"v":2}', 5, "a fetch with the refreshed IMDS credentials")
        self.assertEqual(len(set(md.issued_keys)), len(md.issued_keys))
        self.assertEqual(a.stop(), 0)

    def test_imds_retry_v1_fallback_and_role_on_top(self):
        # One failed token call is retried after a back-off.
        md = self.start_imds()
        md.fault("token", count=1, status=500)
        a = self.agent(AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url).start()
        self.assert_served(a)
        self.assertEqual(md.counters()["token"], 2)
        a.stop()
        md.stop()
        # IMDSv1 only when the token call is refused with 403 / 404 / 405.
        for status in (403, 404, 405):
            md = self.imds = imds_emulator.Imds(appconfig=self.em, v1=True, token_status=status).start()
            a = self.agent(AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url).start()
            self.assert_served(a)
            a.stop()
            md.stop()
        # A token call that keeps failing otherwise never falls back to IMDSv1.
        md = self.imds = imds_emulator.Imds(appconfig=self.em).start()
        md.fault("token", count=10, status=503)
        a = self.agent(AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url).start()
        status, _, _ = a.get(PATH)
        self.assertNotEqual(status, 200)
        self.assertEqual(md.counters()["role"], 0)
        self.assertIn("HTTP 503", a.stderr())
        a.stop()
        md.stop()
        # ROLE_ARN chains on top of the instance role.
        md = self.imds = imds_emulator.Imds(appconfig=self.em).start()
        self.em.add_role(ROLE_A, account="acct-a")
        self.em.set_config("App", "Env", "Prof", b'{"account":"a"}', account="acct-a")
        a = self.agent(AWS_EC2_METADATA_SERVICE_ENDPOINT=md.url, ROLE_ARN=ROLE_A).start()
        self.assert_served(a, b'{"account":"a"}')
        self.assertEqual([c["RoleArn"] for c in self.em.counters()["assume_role_calls"]], [ROLE_A])

    # ---------------------------------------------------------------- MANIFEST={...}

    def test_inline_manifest(self):
        self.em.add_credentials(ENV_AK, ENV_SK)
        self.em.add_role(ROLE_A, account="acct-a")
        self.em.set_config("App", "Env", "A", b'{"account":"a"}', account="acct-a")
        out = os.path.join(self.tmp, "out", "a.json")
        doc = {"App:Env:A": {"credentials": {"roleArn": ROLE_A, "credentialsDuration": "1h"}, "writeTo": {"path": out}}}
        keys = {"AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK}
        a = self.agent(MANIFEST=json.dumps(doc, indent=1), **keys).start()
        status, _, body = a.get("/applications/App/environments/Env/configurations/A")
        self.assertEqual((status, body), (200, b'{"account":"a"}'))
        wait_for(lambda: os.path.exists(out), 5, "writeTo from the inline manifest")
        self.assertEqual(self.em.counters()["assume_role_calls"][0]["RoleArn"], ROLE_A)
        # Same validation and messages as the file form.
        bad = '{"App:Env:A": {"credentials": {"roleArn": "arn:aws:iam::1:role/short"}, "extra": 1}}'
        path = self.write("bad.json", bad)
        from_file = self.fatal(MANIFEST="file:" + path, **keys)
        inline = self.fatal(MANIFEST=bad, **keys)
        file_msg = from_file.split("manifest file %s: " % path, 1)[1].splitlines()[0]
        inline_msg = inline.split("MANIFEST: inline manifest: ", 1)[1].splitlines()[0]
        self.assertEqual(file_msg, inline_msg)
        self.assertIn("not valid JSON", self.fatal(MANIFEST="{\"App:Env:A\": ", **keys))

    # ---------------------------------------------------------------- durations

    def test_go_duration_forms(self):
        self.em.add_credentials(ENV_AK, ENV_SK)
        keys = {"AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK}
        for interval, timeout in (("1.5s", "1500ms"), ("1h30m", "1.5s"), ("2h45m10.5s", "0.75s"), ("45", "3000"),
                                  ("90000ms", "1500000us"), ("1m0.5s", "2s")):
            a = self.agent(POLL_INTERVAL=interval, REQUEST_TIMEOUT=timeout, **keys).start()
            self.assert_served(a)
            a.stop()
        # The timeout is honoured at millisecond resolution: a 2 s stall fails after about 300 ms.
        a = self.agent(REQUEST_TIMEOUT="0.3s", **keys).start()
        self.em.add_fault("slow", count=None, delay_ms=2000, api="StartConfigurationSession")
        t0 = time.time()
        status, _, _ = a.get(PATH)
        elapsed = time.time() - t0
        self.assertNotEqual(status, 200)
        self.assertLess(elapsed, 1.6)
        self.em.clear_faults()
        for bad, want in (("1.5", "not a valid poll interval"), ("1h30", "not a valid poll interval"),
                          ("-1s", "not a valid poll interval"), ("500ms", "out of range")):
            self.assertIn(want, self.fatal(POLL_INTERVAL=bad, **keys))
        self.assertIn("out of range", self.fatal(REQUEST_TIMEOUT="300us", **keys))

    # ---------------------------------------------------------------- region

    def test_region_sources(self):
        self.em.add_credentials(ENV_AK, ENV_SK)
        keys = {"AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK}
        a = self.agent(region=None, AWS_DEFAULT_REGION="us-east-1", **keys).start()
        self.assert_served(a)
        self.assertIn("region us-east-1 from AWS_DEFAULT_REGION", a.stderr())
        a = self.agent(region="us-east-1", AWS_DEFAULT_REGION="eu-west-1", **keys).start()
        self.assertIn("region us-east-1 from AWS_REGION", a.stderr())
        a = self.agent(region="eu-west-1", SERVICE_REGION="us-east-1", **keys).start()
        self.assert_served(a)
        self.assertIn("region us-east-1 from SERVICE_REGION", a.stderr())
        # Nothing anywhere: a fatal error that lists what was tried.
        out = self.fatal(region=None, AWS_EC2_METADATA_DISABLED="true", **keys)
        self.assertIn("no AWS region: tried SERVICE_REGION, AWS_REGION, AWS_DEFAULT_REGION, the shared config "
                      "profile's region", out)
        self.assertIn("AWS_EC2_METADATA_DISABLED", out)
        out = self.fatal(region=None, **keys)  # IMDS at 127.0.0.1:9 refuses
        self.assertIn("instance metadata at 127.0.0.1:9", out)


def make_ca_with_names(tmp, names):
    """A CA and one server certificate for localhost, 127.0.0.1 and `names`."""
    import subprocess

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=appconfig-extension proxy test CA")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,%s\nbasicConstraints=CA:FALSE\n"
                % ",".join("DNS:" + n for n in names))
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.pem", "-days", "2", "-extfile", "ext.cnf")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "self.key", "-out", "self.pem", "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost")
    return tuple(os.path.join(tmp, n) for n in ("ca.pem", "server.pem", "server.key", "self.pem", "self.key"))


class HttpsProxyCase(unittest.TestCase):
    """PROXY_URL=https://...: TLS to the proxy, CONNECT inside it, TLS to AppConfig inside that."""
    TARGET = "appconfig.proxied.test"  # only the proxy knows where it is (--map)

    @classmethod
    def setUpClass(cls):
        cls.tls = tempfile.mkdtemp(prefix="appconfig-https-proxy-")
        cls.ca, cls.cert, cls.key, cls.self_cert, cls.self_key = make_ca_with_names(cls.tls, [cls.TARGET])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tls, ignore_errors=True)

    def setUp(self):
        self.em = ad.Emulator(tls_cert=self.cert, tls_key=self.key).start()
        self.em.add_credentials(ENV_AK, ENV_SK)
        self.em.set_config("App", "Env", "Prof", b'{"via":"https proxy"}', version_label="1")
        self.procs, self.agents = [], []
        self.log = os.path.join(self.tls, "proxy-%d.log" % id(self))

    def tearDown(self):
        for a in self.agents:
            if a.proc is not None and a.proc.poll() is None:
                a.stop()
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=10)
            p.stdout.close()
        self.em.stop()

    def proxy(self, *args, cert=None, key=None):
        import subprocess
        p = subprocess.Popen([sys.executable, os.path.join(ROOT, "test", "emulator", "connect_proxy.py"),
                              "--tls-cert", cert or self.cert, "--tls-key", key or self.key, "--log", self.log,
                              "--map", self.TARGET + "=127.0.0.1", *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        return int(p.stdout.readline().split()[1])

    def agent(self, proxy_url):
        a = Agent(env={"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK,
                       "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://{self.TARGET}:{self.em.port}",
                       "AWS_CA_BUNDLE": self.ca, "PROXY_URL": proxy_url, "REQUEST_TIMEOUT": "3s"})
        self.agents.append(a)
        return a.start()

    def heads(self):
        with open(self.log) as f:
            return [json.loads(line)["head"] for line in f]

    def test_tls_inside_tls_with_proxy_auth(self):
        port = self.proxy("--require-auth", "agent:pa55")
        a = self.agent(f"https://agent:pa55@localhost:{port}")
        status, _, body = a.get(PATH)
        self.assertEqual((status, body), (200, b'{"via":"https proxy"}'), a.stderr())
        heads = self.heads()
        self.assertTrue(heads[0].startswith(f"CONNECT {self.TARGET}:{self.em.port} HTTP/1.1\r\n"), heads)
        self.assertIn("Proxy-Authorization: Basic", heads[0])
        # The signed AppConfig requests reached the emulator through the tunnel (SigV4 verified there).
        self.assertGreaterEqual(self.em.counters()["calls"].get("GetLatestConfiguration", 0), 1)
        self.assertNotIn("pa55", a.stderr())

    def test_plain_http_target_in_absolute_form_over_tls(self):
        plain = ad.Emulator().start()  # an http:// endpoint (a test double; AWS is always https)
        try:
            plain.add_credentials(ENV_AK, ENV_SK)
            plain.set_config("App", "Env", "Prof", b'{"via":"absolute form"}', version_label="1")
            port = self.proxy()
            a = Agent(env={"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK,
                           "AWS_ENDPOINT_URL_APPCONFIGDATA": f"http://{self.TARGET}:{plain.port}",
                           "AWS_CA_BUNDLE": self.ca, "PROXY_URL": f"https://localhost:{port}"})
            self.agents.append(a)
            a.start()
            status, _, body = a.get(PATH)
            self.assertEqual((status, body), (200, b'{"via":"absolute form"}'), a.stderr())
            self.assertTrue(self.heads()[0].startswith(f"POST http://{self.TARGET}:{plain.port}/configurationsessions"))
        finally:
            plain.stop()

    def test_proxy_certificate_is_verified(self):
        port = self.proxy(cert=self.self_cert, key=self.self_key)
        a = self.agent(f"https://localhost:{port}")
        status, _, body = a.get(PATH)
        self.assertNotEqual(status, 200)
        self.assertIn("TLS to the proxy", a.stderr() + body.decode())
        self.assertFalse(os.path.exists(self.log) and self.heads(), "no CONNECT may be sent to an unverified proxy")

    def test_refusal_inside_tls(self):
        port = self.proxy("--refuse", "403")
        a = self.agent(f"https://localhost:{port}")
        status, _, _ = a.get(PATH)
        self.assertNotEqual(status, 200)
        self.assertIn("refused CONNECT: 403", a.stderr())


def ping(host, port):
    import http.client
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request("GET", "/ping")
        return c.getresponse().status
    finally:
        c.close()


def hosts_file_name():
    """A name other than localhost that /etc/hosts maps to a loopback address (the machine's own)."""
    with open("/etc/hosts") as f:
        for line in f:
            parts = line.split("#")[0].split()
            if len(parts) >= 2 and (parts[0].startswith("127.") or parts[0] == "::1"):
                for name in parts[1:]:
                    if name != "localhost" and "." not in name:
                        return name, parts[0]
    raise AssertionError("/etc/hosts maps no name but localhost to loopback: the host-name test needs one")


class HttpHostCase(unittest.TestCase):
    WARNING = "without ACCESS_TOKEN: anyone who can reach port"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-host-")
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            if a.proc is not None and a.proc.poll() is None:
                a.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def agent(self, ready_host="127.0.0.1", **env):
        env.setdefault("LOCAL_DEVELOPMENT_DIRECTORY", self.tmp)
        a = Agent(env=env)
        self.agents.append(a)
        a.start(wait=False)

        def up():
            if a.proc.poll() is not None:
                raise AssertionError("agent exited: " + a.stderr())
            try:
                return ping(ready_host, a.port) == 200
            except OSError:
                return False
        wait_for(up, 10, "the agent on " + ready_host)
        return a

    def test_all_reaches_other_loopback_addresses_and_warns_once(self):
        a = self.agent(HTTP_HOST="all")
        self.assertEqual(ping("127.0.0.2", a.port), 200)
        self.assertEqual(a.stderr().count(self.WARNING), 1)
        if socket.has_ipv6:
            try:
                self.assertEqual(ping("::1", a.port), 200)
            except OSError as e:  # no IPv6 on this kernel: [::] was optional
                self.assertIn("Cannot assign", str(e))
        # With a token nobody else can read: no warning.
        b = self.agent(HTTP_HOST="all", ACCESS_TOKEN="t0ken")
        self.assertEqual(ping("127.0.0.2", b.port), 200)
        self.assertNotIn(self.WARNING, b.stderr())

    def test_default_under_kubernetes_and_ecs_is_every_ipv4_address(self):
        for var, value in (("KUBERNETES_SERVICE_HOST", "10.100.0.1"),
                           ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x")):
            a = self.agent(**{var: value})
            self.assertEqual(ping("127.0.0.2", a.port), 200)
            self.assertIn("default under ECS / Kubernetes", a.stderr())
        # Elsewhere (EC2, a laptop): loopback only.
        c = self.agent()
        with self.assertRaises(OSError):
            ping("127.0.0.2", c.port)
        self.assertNotIn(self.WARNING, c.stderr())

    def test_host_name_resolved_once_and_literals(self):
        name, addr = hosts_file_name()
        a = self.agent(HTTP_HOST=name)
        self.assertEqual(ping(addr, a.port), 200)
        self.assertIn(f"HTTP_HOST={name}: listening on {addr}", a.stderr())
        self.assertNotIn(self.WARNING, a.stderr())  # a loopback name
        b = self.agent(ready_host="127.0.0.2", HTTP_HOST="127.0.0.2")
        self.assertEqual(ping("127.0.0.2", b.port), 200)
        self.assertNotIn(self.WARNING, b.stderr())  # 127.0.0.0/8 is loopback
        c = self.agent(HTTP_HOST="0.0.0.0")
        self.assertIn(self.WARNING, c.stderr())
        bad = Agent(env={"LOCAL_DEVELOPMENT_DIRECTORY": self.tmp, "HTTP_HOST": "no-such-host.invalid"})
        self.agents.append(bad)
        bad.start(wait=False)
        bad.proc.wait(timeout=15)
        self.assertNotEqual(bad.proc.returncode, 0)
        self.assertIn("HTTP_HOST=no-such-host.invalid does not resolve", bad.stderr())


if __name__ == "__main__":
    unittest.main()
