#!/usr/bin/env python3
"""Self-test of the AppConfig Data emulator (unittest, standard library only).

Run:  python3 test/emulator/test_appconfig_data.py [-v]
(`python3 -m unittest test/emulator/...` does not work: "test" is a standard-library package.)
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import appconfig_data as ad  # noqa: E402

SUITE = os.path.join(HERE, "..", "data", "sigv4", "v4")
REGION = "eu-west-1"
KEY_A, SECRET_A = "AKIAACCOUNTA", "secret-a"
KEY_B, SECRET_B, TOKEN_B = "ASIAACCOUNTB", "secret-b", "token-b/+="
CONFIG = b'{"feature":{"enabled":true}}'


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8", newline="") as f:
        return f.read()


def parse_request(text):
    """request.txt rules from test/data/sigv4/FORMAT.md."""
    lines = text.split("\n")
    first = lines[0]
    method = first[:first.index(" ")]
    target = first[len(method) + 1:-9]
    path, _, query = target.partition("?")
    headers, i = [], 1
    while i < len(lines) and lines[i] != "":
        line = lines[i]
        if line[0] in " \t":
            headers[-1] = (headers[-1][0], headers[-1][1] + "\n" + line)
        else:
            name, _, value = line.partition(":")
            headers.append((name, value.lstrip(" \t")))
        i += 1
    body = "\n".join(lines[i + 1:]) if i < len(lines) else ""
    return method, path, query, headers, body


class SignerAgainstSuite(unittest.TestCase):
    """The emulator's verifier must itself be right: check it on the AWS v4 suite."""

    def test_header_mode_v4_suite(self):
        cases = sorted(os.listdir(SUITE))
        self.assertEqual(len(cases), 38)
        for case in cases:
            with self.subTest(case=case):
                d = os.path.join(SUITE, case)
                ctx = json.loads(read(d, "context.json"))
                method, path, query, headers, body = parse_request(read(d, "request.txt"))
                headers.append(("X-Amz-Date", "20150830T123600Z"))
                token = ctx["credentials"].get("token")
                if token and not ctx.get("omit_session_token"):
                    headers.append(("X-Amz-Security-Token", token))
                payload = ad.hashlib.sha256(body.encode()).hexdigest()
                if ctx["sign_body"]:
                    headers.append(("x-amz-content-sha256", payload))
                names = sorted({n.lower() for n, _ in headers})
                creq = ad.canonical_request(method, path, query, headers, names, payload, ctx["normalize"])
                self.assertEqual(creq, read(d, "header-canonical-request.txt"))
                sts = ad.string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq)
                self.assertEqual(sts, read(d, "header-string-to-sign.txt"))
                sig = ad.hmac.new(ad.signing_key(ctx["credentials"]["secret_access_key"], "20150830", "us-east-1",
                                                 "service"), sts.encode(), ad.hashlib.sha256).hexdigest()
                self.assertEqual(sig, read(d, "header-signature.txt"))


class EmulatorTestBase(unittest.TestCase):
    tls_cert = None
    tls_key = None

    def setUp(self):
        self.em = ad.Emulator(region=REGION, tls_cert=self.tls_cert, tls_key=self.tls_key).start()
        self.addCleanup(self.em.stop)
        self.em.add_credentials(KEY_A, SECRET_A, account="A")
        self.em.add_credentials(KEY_B, SECRET_B, account="B", session_token=TOKEN_B)
        self.em.set_config("app", "env", "prof", CONFIG, "application/json", "v1", account="A")
        self.em.set_config("appB", "envB", "profB", b"b-config", "text/plain", None, account="B")
        self.a = self.client(KEY_A, SECRET_A)
        self.b = self.client(KEY_B, SECRET_B, TOKEN_B)

    def client(self, key, secret, token=None):
        ctx = None
        if self.tls_cert:
            ctx = ssl.create_default_context(cafile=self.tls_cert)
        return ad.Client("127.0.0.1", self.em.port, key, secret, token, region=REGION,
                         tls=bool(self.tls_cert), ssl_context=ctx, host_header="localhost:%d" % self.em.port)

    def start(self, client=None, app="app", env="env", prof="prof", interval_s=None):
        status, headers, body = (client or self.a).start_session(app, env, prof, interval_s)
        self.assertEqual(status, 201, body)
        return json.loads(body)["InitialConfigurationToken"]

    def assertAwsError(self, resp, status, name, reason=None):
        st, headers, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(headers["x-amzn-errortype"].split(":")[0], name)
        obj = json.loads(body)
        self.assertTrue(obj["Message"])
        if reason:
            self.assertEqual(obj.get("Reason"), reason)
        return obj


class Sessions(EmulatorTestBase):
    def test_token_chain_and_empty_body_when_unchanged(self):
        token = self.start(interval_s=15)
        st, h, body = self.a.get_configuration(token)
        self.assertEqual(st, 200)
        self.assertEqual(body, CONFIG)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["version-label"], "v1")
        self.assertEqual(h["next-poll-interval-in-seconds"], "15")
        nxt = h["next-poll-configuration-token"]
        self.assertNotEqual(nxt, token)
        self.em.advance_clock(15)
        st, h2, body = self.a.get_configuration(nxt)
        self.assertEqual((st, body), (200, b""))  # unchanged: empty body
        self.assertEqual(h2["content-type"], "application/json")
        self.em.set_config("app", "env", "prof", b'{"v":2}', "application/json", None, account="A")
        self.em.advance_clock(15)
        st, h3, body = self.a.get_configuration(h2["next-poll-configuration-token"])
        self.assertEqual((st, body), (200, b'{"v":2}'))
        self.assertNotIn("version-label", h3)
        # A second session sees the configuration again even though the first already did.
        st, _, body = self.a.get_configuration(self.start())
        self.assertEqual((st, body), (200, b'{"v":2}'))

    def test_default_interval_and_token_reuse(self):
        token = self.start()
        st, h, _ = self.a.get_configuration(token)
        self.assertEqual(h["next-poll-interval-in-seconds"], "60")
        self.assertAwsError(self.a.get_configuration(token), 400, "BadRequestException")

    def test_poll_interval_rule_does_not_consume_the_token(self):
        token = self.start(interval_s=30)
        _, h, _ = self.a.get_configuration(token)
        nxt = h["next-poll-configuration-token"]
        self.em.advance_clock(29)
        self.assertAwsError(self.a.get_configuration(nxt), 400, "BadRequestException", "PollIntervalNotSatisfied")
        self.em.advance_clock(1)
        self.assertEqual(self.a.get_configuration(nxt)[0], 200)
        self.em.settings(enforce_interval=False)
        _, h, _ = self.a.get_configuration(self.start())
        self.assertEqual(self.a.get_configuration(h["next-poll-configuration-token"])[0], 200)

    def test_token_expiry(self):
        token = self.start()
        self.em.advance_clock(24 * 3600 + 1)
        self.assertAwsError(self.a.get_configuration(token), 400, "BadRequestException")
        self.em.settings(token_lifetime_s=10)
        token = self.start()
        self.em.advance_clock(11)
        self.assertAwsError(self.a.get_configuration(token), 400, "BadRequestException")

    def test_bad_tokens(self):
        self.assertAwsError(self.a.get_configuration("nope"), 400, "BadRequestException")
        self.assertAwsError(self.a.request("GET", "/configuration"), 400, "BadRequestException")
        # Another account's token is not valid for this account.
        token = self.start(self.b, "appB", "envB", "profB")
        self.assertAwsError(self.a.get_configuration(token), 400, "BadRequestException")
        self.assertEqual(self.b.get_configuration(token)[2], b"b-config")

    def test_not_found_and_bad_requests(self):
        obj = self.assertAwsError(self.a.start_session("zzz", "env", "prof"), 404, "ResourceNotFoundException")
        self.assertEqual(obj["ResourceType"], "Application")
        obj = self.assertAwsError(self.a.start_session("app", "zzz", "prof"), 404, "ResourceNotFoundException")
        self.assertEqual(obj["ResourceType"], "Environment")
        obj = self.assertAwsError(self.a.start_session("app", "env", "zzz"), 404, "ResourceNotFoundException")
        self.assertEqual(obj["ResourceType"], "ConfigurationProfile")
        # Account B cannot see account A's configuration.
        self.assertAwsError(self.b.start_session("app", "env", "prof"), 404, "ResourceNotFoundException")
        for interval in (14, 86401, "15", True):
            self.assertAwsError(self.a.start_session("app", "env", "prof", interval), 400, "BadRequestException")
        for body in (b"", b"{", b"[]", b'{"ApplicationIdentifier":"app"}'):
            self.assertAwsError(self.a.request("POST", "/configurationsessions", body=body), 400,
                                "BadRequestException")
        self.assertEqual(self.a.start_session("app", "env", "prof", 15)[0], 201)
        self.assertEqual(self.a.start_session("app", "env", "prof", 86400)[0], 201)

    def test_deleted_configuration(self):
        token = self.start()
        self.em.delete_config("app", "env", "prof", account="A")
        self.assertAwsError(self.a.get_configuration(token), 404, "ResourceNotFoundException")


class Auth(EmulatorTestBase):
    def test_signature_failures(self):
        self.assertAwsError(self.client("AKIAUNKNOWN", "x").start_session("app", "env", "prof"), 403,
                            "UnrecognizedClientException")
        self.assertAwsError(self.client(KEY_A, "wrong").start_session("app", "env", "prof"), 403,
                            "InvalidSignatureException")
        self.assertAwsError(self.client(KEY_B, SECRET_B).start_session("appB", "envB", "profB"), 403,
                            "UnrecognizedClientException")  # token required but missing
        self.assertAwsError(self.client(KEY_B, SECRET_B, "other").start_session("appB", "envB", "profB"), 403,
                            "UnrecognizedClientException")
        self.assertAwsError(self.a.request("POST", "/configurationsessions", body=b"{}", sign=False), 403,
                            "MissingAuthenticationTokenException")
        self.assertAwsError(self.a.request("GET", "/configuration", "configuration_token=x", service="sts"), 403,
                            "InvalidSignatureException")
        self.assertAwsError(self.a.request("GET", "/configuration", "configuration_token=x",
                                           unix_time=time.time() - 3600), 403, "InvalidSignatureException")

    def test_tampering_is_detected(self):
        body = json.dumps({"ApplicationIdentifier": "app", "EnvironmentIdentifier": "env",
                           "ConfigurationProfileIdentifier": "prof"}).encode()
        hdrs = {"Host": "localhost:%d" % self.em.port, "Content-Type": "application/json"}
        signed = ad.sign_headers("POST", "/configurationsessions", "", hdrs, body, KEY_A, SECRET_A, REGION,
                                 "appconfig", time.time())
        for what in ("ok", "body", "header", "path", "unsigned-header"):
            h = dict(hdrs, **signed)
            b, path = body, "/configurationsessions"
            if what == "body":
                b = body.replace(b"prof", b"proX")
            elif what == "header":
                h["Content-Type"] = "application/json; x=1"
            elif what == "path":
                path = "/configurationsessions/"
            elif what == "unsigned-header":
                h["User-Agent"] = "changed"  # not signed: still valid
            conn = http.client.HTTPConnection("127.0.0.1", self.em.port, timeout=5)
            conn.request("POST", path, body=b, headers=h)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            # A changed path hits no route (404: routing comes before the signature check).
            want = {"ok": 201, "unsigned-header": 201, "path": 404}.get(what, 403)
            with self.subTest(what=what):
                self.assertEqual(resp.status, want)


    def test_tampered_query_is_detected(self):
        hdrs = {"Host": "localhost:%d" % self.em.port}
        signed = ad.sign_headers("GET", "/configuration", "configuration_token=a", hdrs, b"", KEY_A, SECRET_A,
                                 REGION, "appconfig", time.time())
        for query, want in (("configuration_token=a", 400), ("configuration_token=b", 403),
                            ("configuration_token=%61", 400)):  # %61 is "a": same canonical query
            conn = http.client.HTTPConnection("127.0.0.1", self.em.port, timeout=5)
            conn.request("GET", "/configuration?" + query, headers=dict(hdrs, **signed))
            resp = conn.getresponse()
            resp.read()
            conn.close()
            with self.subTest(query=query):
                self.assertEqual(resp.status, want)  # 400 = signature fine, token unknown


class Faults(EmulatorTestBase):
    def test_status_faults_then_recovery(self):
        self.em.add_fault("500", count=2)
        self.assertAwsError(self.a.start_session("app", "env", "prof"), 500, "InternalServerException")
        self.assertAwsError(self.a.start_session("app", "env", "prof"), 500, "InternalServerException")
        token = self.start()
        self.em.add_fault("429", count=1, api=ad.API_GET)
        self.start()  # other API: not affected
        self.assertAwsError(self.a.get_configuration(token), 429, "ThrottlingException")
        self.assertEqual(self.a.get_configuration(token)[0], 200)  # the throttled call did not consume it
        self.em.add_fault("403", count=None)
        for _ in range(3):
            self.assertAwsError(self.a.start_session("app", "env", "prof"), 403, "AccessDeniedException")
        self.em.clear_faults()
        self.start()

    def test_slow_close_and_hang(self):
        self.em.add_fault("slow", delay_ms=300)
        t0 = time.monotonic()
        self.start()
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.em.add_fault("close")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.a.start_session("app", "env", "prof")
        self.em.add_fault("hang")
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.a.request("POST", "/configurationsessions", body=b"{}", timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5)
        self.start()  # server still answers others while one request hangs

    def test_counters(self):
        token = self.start()
        self.a.get_configuration(token)
        self.start(self.b, "appB", "envB", "profB")
        self.em.add_fault("500")
        self.a.start_session("app", "env", "prof")
        c = self.em.counters()
        self.assertEqual(c["calls"], {ad.API_START: 3, ad.API_GET: 1})
        self.assertEqual(c["calls_by_key"][KEY_A], {ad.API_START: 2, ad.API_GET: 1})
        self.assertEqual(c["calls_by_key"][KEY_B], {ad.API_START: 1})
        self.em.reset_counters()
        self.assertEqual(self.em.counters()["calls"], {})
        self.assertEqual(self.em.recent_requests(), [])


class StsAndContainer(EmulatorTestBase):
    def test_assume_role_credentials_work_for_the_role_account(self):
        self.em.add_role("arn:aws:iam::222:role/r", "B", external_id="ext")
        st, _, body = self.a.assume_role("arn:aws:iam::222:role/r", "sess", "ext", 900)
        self.assertEqual(st, 200, body)
        ns = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}
        creds = ET.fromstring(body).find("s:AssumeRoleResult/s:Credentials", ns)
        key, secret, token, exp = (creds.find("s:" + n, ns).text for n in
                                   ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"))
        self.assertRegex(exp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        c = self.client(key, secret, token)
        tok = self.start(c, "appB", "envB", "profB")
        self.assertEqual(c.get_configuration(tok)[2], b"b-config")
        self.assertAwsError(c.start_session("app", "env", "prof"), 404, "ResourceNotFoundException")
        self.assertEqual(self.em.counters()["assume_role_calls"][0]["RoleSessionName"], "sess")
        self.em.advance_clock(901)
        self.assertAwsError(c.start_session("appB", "envB", "profB"), 403, "ExpiredTokenException")

    def test_assume_role_failures(self):
        self.em.add_role("arn:aws:iam::222:role/r", "B", external_id="ext")
        for args in (("arn:aws:iam::222:role/r", "s", "wrong"), ("arn:aws:iam::222:role/r", "s"),
                     ("arn:aws:iam::222:role/unknown", "s")):
            st, _, body = self.a.assume_role(*args)
            self.assertEqual(st, 403, body)
            self.assertIn(b"<Code>AccessDenied</Code>", body)
        st, _, body = self.a.assume_role("arn:aws:iam::222:role/r", "s", "ext", 100)
        self.assertEqual(st, 400)
        st, _, body = self.client(KEY_A, "bad").assume_role("arn:aws:iam::222:role/r", "s", "ext")
        self.assertEqual(st, 403)
        self.assertIn(b"InvalidSignatureException", body)
        # Signed for the wrong service.
        st, _, _ = self.a.request("POST", "/", body=b"Action=AssumeRole&Version=2011-06-15", service="appconfig")
        self.assertEqual(st, 403)

    def test_container_credentials(self):
        def get(auth):
            conn = self.a._conn(5)
            conn.request("GET", "/container-credentials/v1", headers={} if auth is None else {"Authorization": auth})
            r = conn.getresponse()
            data = r.read()
            conn.close()
            return r.status, data
        self.assertEqual(get("x")[0], 404)  # not configured yet
        self.em.set_container_credentials("secret-token", account="A", lifetime_s=600)
        self.assertEqual(get(None)[0], 401)
        self.assertEqual(get("wrong")[0], 403)
        st, data = get("secret-token")
        self.assertEqual(st, 200)
        obj = json.loads(data)
        c = self.client(obj["AccessKeyId"], obj["SecretAccessKey"], obj["Token"])
        self.assertEqual(c.get_configuration(self.start(c))[2], CONFIG)
        self.em.add_fault("500", api=ad.API_CONTAINER)
        self.assertEqual(get("secret-token")[0], 500)


class ControlOverHttpAndScript(unittest.TestCase):
    def control(self, port, op, obj=None, method="POST"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(method, "/_control/" + op, body=json.dumps(obj or {}).encode() if method == "POST" else None)
        r = conn.getresponse()
        data = json.loads(r.read())
        conn.close()
        return r.status, data

    def test_script_mode_and_control_api(self):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "appconfig_data.py"), "--port", "0",
                                 "--region", REGION, "--credentials", "AKIAX:sx@acct"],
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.terminate)
        info = json.loads(proc.stdout.readline())
        self.assertEqual(info["scheme"], "http")
        cp = info["control_port"]
        self.assertEqual(self.control(cp, "config", {"application": "a", "environment": "e", "profile": "p",
                                                     "content": "hello", "content_type": "text/plain",
                                                     "version_label": "7", "account": "acct"})[0], 200)
        self.assertEqual(self.control(cp, "fault", {"action": "bogus"})[0], 400)
        self.assertEqual(self.control(cp, "nope")[0], 404)
        self.assertEqual(self.control(cp, "settings", {"bogus": 1})[0], 400)
        c = ad.Client("127.0.0.1", info["port"], "AKIAX", "sx", region=REGION)
        st, _, body = c.start_session("a", "e", "p")
        self.assertEqual(st, 201)
        st, h, body = c.get_configuration(json.loads(body)["InitialConfigurationToken"])
        self.assertEqual((st, body, h["version-label"]), (200, b"hello", "7"))
        self.assertEqual(self.control(cp, "fault", {"action": "429", "count": 1})[0], 200)
        self.assertEqual(c.start_session("a", "e", "p")[0], 429)
        st, counters = self.control(cp, "counters", method="GET")
        self.assertEqual(counters["calls"], {ad.API_START: 2, ad.API_GET: 1})
        self.assertEqual(counters["calls_by_key"]["AKIAX"][ad.API_START], 2)
        # The control API is served on the main port too; the API is not served on the control port.
        self.assertEqual(self.control(info["port"], "counters/reset")[0], 200)
        self.assertEqual(self.control(cp, "counters", method="GET")[1]["calls"], {})
        conn = http.client.HTTPConnection("127.0.0.1", cp, timeout=5)
        conn.request("POST", "/configurationsessions", body=b"{}")
        self.assertEqual(conn.getresponse().status, 404)
        conn.close()
        self.assertEqual(self.control(cp, "clock", {"advance_s": 5})[0], 200)


@unittest.skipUnless(shutil.which("openssl"), "openssl CLI needed for the TLS test")
class Tls(EmulatorTestBase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.tls_cert = os.path.join(cls.tmp, "cert.pem")
        cls.tls_key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", cls.tls_key, "-out", cls.tls_cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_https_session(self):
        self.assertTrue(self.em.url.startswith("https://"))
        token = self.start()
        self.assertEqual(self.a.get_configuration(token)[2], CONFIG)

    def test_stalled_handshake_does_not_block_others(self):
        s = socket.create_connection(("127.0.0.1", self.em.port))  # never sends a ClientHello
        self.addCleanup(s.close)
        self.start()


if __name__ == "__main__":
    unittest.main()
