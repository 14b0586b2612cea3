"""Local development mode, end to end, with independent clients (http.client, curl, raw sockets)."""
import json
import os
import shutil
import socket
import sys
import subprocess
import tempfile
import threading
import time
import unittest

from harness import EXIT_STARTUP_REFUSED, Agent, status_of

BASE = "/applications/MyApp/environments/Prod/configurations"

FLAGS = {
    "dark-mode": {"enabled": True, "theme": "midnight"},
    "beta": {"enabled": False},
    "limit": {"enabled": True, "perMinute": 600},
}


def make_dir():
    d = tempfile.mkdtemp(prefix="appconfig-local-")
    with open(os.path.join(d, "MyApp:Prod:Settings.json"), "w") as f:
        json.dump({"a": 1, "nested": {"b": [1, 2, 3]}}, f)
    with open(os.path.join(d, "MyApp:Prod:Motd.text%plain"), "w") as f:
        f.write("hello world\n")
    with open(os.path.join(d, "MyApp:Prod:Blob"), "wb") as f:
        f.write(bytes(range(256)))
    with open(os.path.join(d, "MyApp:Prod:Flags.json"), "w") as f:
        json.dump(FLAGS, f)
    return d


class LocalMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = make_dir()
        cls.agent = Agent(local_dir=cls.dir, env={"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1"}).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, f"exit code {code}"

    def assert_healthy(self):
        status, _, body = self.agent.get(BASE + "/Settings")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["a"], 1)

    # ---- reads
    def test_json_config(self):
        status, h, body = self.agent.get(BASE + "/Settings")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"a": 1, "nested": {"b": [1, 2, 3]}})
        self.assertEqual(int(h["content-length"]), len(body))
        self.assertRegex(h["configuration-version"], r"^[0-9a-f]{16}$")
        # Stable for the same bytes.
        _, h2, _ = self.agent.get(BASE + "/Settings")
        self.assertEqual(h["configuration-version"], h2["configuration-version"])

    def test_text_and_binary_configs(self):
        status, h, body = self.agent.get(BASE + "/Motd")
        self.assertEqual((status, h["content-type"], body), (200, "text/plain", b"hello world\n"))
        status, h, body = self.agent.get(BASE + "/Blob")
        self.assertEqual((status, h["content-type"], body), (200, "application/octet-stream", bytes(range(256))))

    def test_head_matches_get_without_body(self):
        _, hg, body = self.agent.get(BASE + "/Settings")
        status, hh, hbody = self.agent.get(BASE + "/Settings", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(hbody, b"")
        self.assertEqual(hh["content-length"], str(len(body)))
        self.assertEqual(hh["configuration-version"], hg["configuration-version"])

    def test_ping(self):
        status, h, body = self.agent.get("/ping")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertRegex(json.loads(body)["version"], r"^\d+\.\d+\.\d+")

    def test_date_header_is_imf_fixdate_now(self):
        # RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT", English names, two-digit day, GMT.
        import email.utils
        before = time.time()
        _, h, _ = self.agent.get(BASE + "/Settings")
        after = time.time()
        self.assertRegex(h["date"], r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                                    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$")
        when = email.utils.parsedate_to_datetime(h["date"])
        self.assertEqual(email.utils.format_datetime(when, usegmt=True), h["date"])  # weekday agrees with the date
        self.assertLessEqual(int(before) - 1, when.timestamp())
        self.assertLessEqual(when.timestamp(), after + 1)

    def test_curl_client(self):
        out = subprocess.run(["curl", "-sS", "-i", f"http://localhost:{self.agent.port}{BASE}/Settings"],
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith(b"HTTP/1.1 200 OK"))
        # curl keep-alive: two URLs on one connection.
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n",
                              f"http://127.0.0.1:{self.agent.port}{BASE}/Settings",
                              f"http://127.0.0.1:{self.agent.port}{BASE}/Motd"], capture_output=True, timeout=10)
        self.assertEqual(out.stdout.split(), [b"1", b"0"])

    def test_ipv6_loopback(self):
        if not socket.has_ipv6:
            self.skipTest("CI-exempt: this machine has no IPv6 socket support")
        try:
            s = socket.create_connection(("::1", self.agent.port), timeout=2)
        except OSError:
            self.skipTest("CI-exempt: the kernel has no IPv6 loopback")
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        self.assertEqual(status_of(data), 200)

    # ---- errors of spec §1
    def test_unknown_path_and_method(self):
        status, h, body = self.agent.get("/nope")
        self.assertEqual(status, 404)
        self.assertIn(b"/applications/", body)
        status, h, body = self.agent.get(BASE + "/Settings", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(h["allow"], "GET, HEAD")
        status, _, body = self.agent.get(BASE + "/Missing")
        self.assertEqual(status, 404)
        self.assertIn(b"MyApp:Prod:Missing", body)
        status, _, _ = self.agent.get(BASE + "/Settings/extra")
        self.assertEqual(status, 404)

    def test_bad_segments(self):
        for path, why in [(BASE + "/%2e%2e", b".."), ("/applications/%2E%2E/environments/Prod/configurations/S", b".."),
                          (BASE + "/a%00b", b"NUL"), (BASE + "/a%zzb", b"percent"), (BASE + "/a%2", b"percent"),
                          (BASE + "/" + "x" * 129, b"128")]:
            status, h, body = self.agent.get(path)
            self.assertEqual(status, 400, path)
            self.assertIn(why, body, path)
            self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(body.count(b"\n"), 1)
        # A percent-encoded slash is a legal name; it just has no file.
        status, _, _ = self.agent.get(BASE + "/a%2Fb")
        self.assertEqual(status, 404)
        self.assert_healthy()

    def test_forwarded_refused(self):
        status, _, body = self.agent.get(BASE + "/Settings", headers={"X-Forwarded-For": "10.0.0.1"})
        self.assertEqual(status, 403)
        self.assertIn(b"X-Forwarded-For", body)

    # ---- ?flag=
    def test_flags_all_one_several(self):
        status, h, body = self.agent.get(BASE + "/Flags")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), FLAGS)
        status, h, body = self.agent.get(BASE + "/Flags?flag=dark-mode")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(body), FLAGS["dark-mode"])
        status, _, body = self.agent.get(BASE + "/Flags?flag=dark-mode&flag=limit")
        self.assertEqual(json.loads(body), {"dark-mode": FLAGS["dark-mode"], "limit": FLAGS["limit"]})
        status, _, body = self.agent.get(BASE + "/Flags?flag=beta&flag=beta")
        self.assertEqual(status, 200)
        self.assertIn(json.loads(body), (FLAGS["beta"], {"beta": FLAGS["beta"]}))

    def test_flags_errors(self):
        status, _, body = self.agent.get(BASE + "/Flags?flag=nope")
        self.assertEqual(status, 400)
        self.assertIn(b'"nope"', body)
        status, _, body = self.agent.get(BASE + "/Flags?flag=dark-mode&flag=other")
        self.assertEqual(status, 400)
        self.assertIn(b'"other"', body)
        status, _, body = self.agent.get(BASE + "/Settings?flag=a")
        self.assertEqual(status, 400)
        self.assertIn(b"feature flag", body)
        status, _, body = self.agent.get(BASE + "/Flags?flag=%zz")
        self.assertEqual(status, 400)
        self.assert_healthy()

    # ---- files change
    def test_file_changes_after_interval(self):
        path = os.path.join(self.dir, "MyApp:Prod:Live.json")
        with open(path, "w") as f:
            f.write('{"v":1}')
        status, h1, body = self.agent.get(BASE + "/Live")
        self.assertEqual((status, body), (200, b'{"v":1}'))
        with open(path + ".tmp", "w") as f:
            f.write('{"v":22}')
        os.replace(path + ".tmp", path)
        deadline = time.time() + 5
        while time.time() < deadline:
            _, h2, body = self.agent.get(BASE + "/Live")
            if body == b'{"v":22}':
                break
            self.assertEqual(body, b'{"v":1}')  # old bytes until the interval passes, never partial
            time.sleep(0.1)
        self.assertEqual(body, b'{"v":22}')
        self.assertNotEqual(h1["configuration-version"], h2["configuration-version"])
        os.unlink(path)
        deadline = time.time() + 5
        while time.time() < deadline:
            status, _, _ = self.agent.get(BASE + "/Live")
            if status == 404:
                break
            time.sleep(0.1)
        self.assertEqual(status, 404)
        # A file that appears later is found after the interval.
        with open(os.path.join(self.dir, "MyApp:Prod:Late.json"), "w") as f:
            f.write("[]")
        deadline = time.time() + 5
        while time.time() < deadline:
            status, _, body = self.agent.get(BASE + "/Late")
            if status == 200:
                break
            time.sleep(0.1)
        self.assertEqual((status, body), (200, b"[]"))


class HostileInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = make_dir()
        cls.agent = Agent(local_dir=cls.dir).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, f"exit code {code}"

    def assert_healthy(self):
        status, _, body = self.agent.get(BASE + "/Settings")
        self.assertEqual(status, 200)

    def raw_status(self, data):
        return status_of(self.agent.raw(data))

    def test_malformed_request_lines(self):
        for data in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n",
                     b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", b"GET / HTTP/1.1\nHost: x\n\n",
                     b"GET / HTTP/1.1\r\n folded: x\r\n\r\n"]:
            self.assertEqual(self.raw_status(data), 400, data)
        self.assert_healthy()

    def test_http09_and_http2(self):
        self.assertEqual(self.raw_status(b"GET /ping\r\n\r\n"), 400)
        self.assertIn(self.raw_status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), (400, 505))
        self.assertEqual(self.raw_status(b"GET /ping HTTP/3.0\r\n\r\n"), 505)
        # HTTP/1.0 works and closes.
        data = self.agent.raw(b"GET /ping HTTP/1.0\r\n\r\n")
        self.assertEqual(status_of(data), 200)
        self.assert_healthy()

    def test_huge_headers_and_uri(self):
        big = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
        self.assertEqual(self.raw_status(big), 431)
        many = b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n"
        self.assertEqual(self.raw_status(many), 431)
        self.assertEqual(self.raw_status(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n"), 414)
        self.assert_healthy()

    def test_large_body_refused(self):
        s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=5)
        s.sendall(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
        try:
            s.sendall(b"x" * (1 << 20))
        except OSError:
            pass
        data = s.recv(4096)
        s.close()
        self.assertEqual(status_of(data), 413)
        self.assertIn(b"Connection: close", data)
        # A small body is read and discarded; the connection stays usable.
        data = self.agent.raw(b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /ping HTTP/1.1\r\n"
                              b"Host: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)
        data = self.agent.raw(b"GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                              b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)
        self.assert_healthy()

    def test_smuggling_shapes_refused(self):
        self.assertEqual(self.raw_status(b"GET /ping HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400)
        self.assertIn(self.raw_status(b"GET /ping HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                      (400, 501))
        self.assertEqual(self.raw_status(b"GET /ping HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400)
        self.assert_healthy()

    def test_pipelining_in_order(self):
        reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in
                        [BASE.encode() + b"/Motd", b"/ping", BASE.encode() + b"/Missing", BASE.encode() + b"/Motd"])
        reqs += b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data = self.agent.raw(reqs)
        import re
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
        self.assertEqual(statuses, [200, 200, 404, 200, 200])
        self.assertEqual(data.count(b"hello world\n"), 2)

    def test_pipelining_byte_by_byte(self):
        s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=5)
        msg = (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        for i in range(len(msg)):
            s.send(msg[i:i + 1])
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200"), 3)

    def test_slowloris_is_cut_off(self):
        s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=20)
        s.sendall(b"GET /ping HTTP/1.1\r\n")
        t0 = time.time()
        closed = False
        while time.time() - t0 < 15:
            # Meanwhile normal clients are served promptly.
            t1 = time.time()
            self.assert_healthy()
            self.assertLess(time.time() - t1, 1.0)
            try:
                s.sendall(b"X")
                s.settimeout(1)
                b = s.recv(4096)
                if b == b"" or status_of(b) == 408:
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        s.close()
        self.assertTrue(closed, "a client trickling header bytes must be disconnected")
        self.assertLess(time.time() - t0, 14)

    def test_connection_flood(self):
        socks = []
        busy = 0
        try:
            for _ in range(300):
                s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=5)
                socks.append(s)
            time.sleep(0.3)
            for s in socks:
                s.setblocking(False)
                try:
                    b = s.recv(4096)
                    if b.startswith(b"HTTP/1.1 503"):
                        busy += 1
                except BlockingIOError:
                    pass
        finally:
            for s in socks:
                s.close()
        # 300 silent connections fit in the agent's default table of 1,024 (MAX_CLIENT_CONNECTIONS);
        # a full table closes the oldest waiting one instead (test_server_hardening.py).
        self.assertEqual(busy, 0)
        time.sleep(0.2)
        self.assert_healthy()

    def test_concurrent_clients(self):
        errors = []

        def worker():
            try:
                for _ in range(50):
                    status, _, body = self.agent.get(BASE + "/Settings")
                    if status != 200:
                        errors.append(status)
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_random_garbage(self):
        import random
        seed = int(time.time())
        rnd = random.Random(seed)
        for _ in range(50):
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))) + b"\r\n\r\n"
            try:
                self.agent.raw(data, timeout=2)
            except OSError:
                pass
        self.assert_healthy()


class Settings(unittest.TestCase):
    def run_bad(self, env):
        a = Agent(env=env)
        a.start(wait=False)
        return a.wait_exit()

    def test_bad_values_stop_startup(self):
        for var, value in [("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "soon"),
                           ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "99999"),
                           ("AWS_APPCONFIG_EXTENSION_LOG_LEVEL", "loud"),
                           ("AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS", "3x"),
                           ("AWS_APPCONFIG_EXTENSION_CACHE_SIZE", "lots")]:
            code, err = self.run_bad({var: value})
            self.assertEqual(code, EXIT_STARTUP_REFUSED, var)
            self.assertIn(var, err)

    def test_missing_directory(self):
        code, err = self.run_bad({"LOCAL_DEVELOPMENT_DIRECTORY": "/nonexistent/dir"})
        self.assertEqual(code, EXIT_STARTUP_REFUSED)
        self.assertIn("/nonexistent/dir", err)

    def test_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            # A region, so start-up gets as far as binding (no instance metadata lookup first).
            a = Agent(port=port, env={"AWS_REGION": "us-east-1"})
            a.start(wait=False)
            code, err = a.wait_exit()
            self.assertEqual(code, EXIT_STARTUP_REFUSED)
            self.assertIn(str(port), err)
        finally:
            s.close()

    def test_sigint_clean_exit(self):
        import signal
        d = make_dir()
        try:
            a = Agent(local_dir=d).start()
            self.assertEqual(a.stop(sig=signal.SIGINT), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()


class TokenChecks(unittest.TestCase):
    def run_agent(self, env):
        d = make_dir()
        self.addCleanup(shutil.rmtree, d, True)
        a = Agent(local_dir=d, env=env).start()
        self.addCleanup(lambda: self.assertEqual(a.stop(), 0))
        return a

    def test_access_token_bearer(self):
        a = self.run_agent({"ACCESS_TOKEN": "s3cret-token"})
        self.assertEqual(a.get(BASE + "/Settings")[0], 401)
        status, h, body = a.get(BASE + "/Settings", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        self.assertIn(b"Authorization", body)
        self.assertEqual(h["www-authenticate"], "Bearer")
        self.assertEqual(a.get(BASE + "/Settings", headers={"Authorization": "Bearer s3cret-token"})[0], 200)
        self.assertEqual(a.get(BASE + "/Settings", headers={"Authorization": "bearer s3cret-token"})[0], 200)
        self.assertEqual(a.get(BASE + "/Settings", headers={"Authorization": "Bearer s3cret-tokenX"})[0], 401)
        self.assertEqual(a.get("/ping")[0], 200)  # health checks stay open

    def test_require_secrets_token(self):
        a = self.run_agent({"AWS_APPCONFIG_EXTENSION_REQUIRE_TOKEN": "true", "AWS_SESSION_TOKEN": "tok/+="})
        self.assertEqual(a.get(BASE + "/Settings")[0], 401)
        self.assertEqual(a.get(BASE + "/Settings", headers={"X-Aws-Parameters-Secrets-Token": "tok"})[0], 401)
        status, _, _ = a.get(BASE + "/Settings", headers={"X-Aws-Parameters-Secrets-Token": "tok/+="})
        self.assertEqual(status, 200)


class AgentHost(unittest.TestCase):
    def test_http_host_binds_another_address(self):
        d = make_dir()
        self.addCleanup(shutil.rmtree, d, True)
        a = Agent(local_dir=d, env={"HTTP_HOST": "127.0.0.2"})
        a.start(wait=False)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                s = socket.create_connection(("127.0.0.2", a.port), timeout=1)
                s.close()
                break
            except OSError:
                time.sleep(0.05)
        import http.client
        c = http.client.HTTPConnection("127.0.0.2", a.port, timeout=5)
        c.request("GET", BASE + "/Settings")
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
        self.assertEqual(a.stop(), 0)


def raw_head(port, path):
    """The raw response head bytes (header values exactly as sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                break
            data += b
        return data.split(b"\r\n\r\n", 1)[0]
    finally:
        s.close()


class HostileFiles(unittest.TestCase):
    """Files in the directory that change under the reader, block, point elsewhere or carry bytes a header cannot."""

    def setUp(self):
        self.dir = make_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, **env):
        a = Agent(local_dir=self.dir, env={"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1", **env}).start()
        self.addCleanup(lambda: a.proc.poll() is None and a.proc.kill())
        return a

    def test_fifo_is_refused_without_blocking_and_sigterm_still_works(self):
        os.mkfifo(os.path.join(self.dir, "MyApp:Prod:Fifo.json"))
        a = self.start()
        t0 = time.time()
        status, _, body = a.get(BASE + "/Fifo", timeout=5)  # before the fix: open() blocked forever
        self.assertEqual(status, 403, body)
        self.assertIn(b"MyApp:Prod:Fifo.json is not a regular file (a FIFO)", body)
        self.assertLess(time.time() - t0, 2)
        self.assertEqual(a.get(BASE + "/Settings")[0], 200)
        self.assertEqual(a.stop(), 0)

    def test_symlinks_are_not_followed(self):
        os.symlink("/etc/passwd", os.path.join(self.dir, "MyApp:Prod:Passwd.json"))
        a = self.start()
        status, _, body = a.get(BASE + "/Passwd")
        self.assertEqual(status, 403, body)
        self.assertIn(b"MyApp:Prod:Passwd.json is a symbolic link", body)
        self.assertNotIn(b"root:", body)
        a.get(BASE + "/Passwd")
        err = a.stderr()
        # One warning naming the file, not one per request.
        self.assertEqual(err.count("WARN MyApp:Prod:Passwd.json is a symbolic link"), 1, err[-2000:])
        self.assertEqual(a.stop(), 0)

    def test_missing_file_message_names_the_file_only(self):
        a = self.start()
        status, _, body = a.get(BASE + "/Nope")
        self.assertEqual(status, 404)
        self.assertIn(b"MyApp:Prod:Nope", body)
        self.assertNotIn(self.dir.encode(), body)
        self.assertNotIn(b"/tmp", body)
        self.assertEqual(a.stop(), 0)

    def test_header_values_are_visible_ascii(self):
        for name in (b"MyApp:Prod:Ctl.text%ht\x01ml", b"MyApp:Prod:Hi.text%h\xc3\xa9tml", b"MyApp:Prod:Tab.text%a\tb"):
            with open(os.path.join(self.dir.encode(), name), "wb") as f:
                f.write(b"x")
        a = self.start()
        for prof in ("Ctl", "Hi", "Tab"):
            head = raw_head(a.port, BASE + "/" + prof)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            for line in head.split(b"\r\n"):
                self.assertTrue(all(0x20 <= c < 0x7f for c in line), line)  # before the fix: \x01, \xc3\xa9, \t
            self.assertIn(b"\r\nContent-Type: application/octet-stream", head)
        self.assertEqual(a.stop(), 0)

    def test_files_truncated_while_loading_never_crash(self):
        # cp and shell `>` truncate then write. Here each file flips between 0 and 4 MiB (sparse) as fast as
        # ftruncate allows, so any load overlaps a truncation: before the fix the mapped copy raised SIGBUS.
        names = [f"Big{i}" for i in range(4)]
        for n in names:
            with open(os.path.join(self.dir, f"MyApp:Prod:{n}"), "wb") as f:
                f.write(b"x" * (4 << 20))
        a = self.start(AWS_APPCONFIG_EXTENSION_CACHE_SIZE="64MiB")
        for n in names:
            self.assertEqual(a.get(BASE + "/" + n, timeout=10)[0], 200)
        stop = threading.Event()

        def flip(name):
            fd = os.open(os.path.join(self.dir, f"MyApp:Prod:{name}"), os.O_RDWR)
            try:
                while not stop.is_set():
                    os.ftruncate(fd, 0)
                    os.ftruncate(fd, 4 << 20)
            finally:
                os.close(fd)
        writers = [threading.Thread(target=flip, args=(n,)) for n in names]
        for w in writers:
            w.start()
        seen = {}
        try:
            deadline = time.time() + 4.5
            while time.time() < deadline:
                for n in names:
                    status, _, body = a.get(BASE + "/" + n, timeout=10)
                    self.assertIsNone(a.proc.poll(), "the agent died: " + a.stderr()[-3000:])
                    self.assertIn(status, (200, 503), body[:300])
                    if status == 200:
                        self.assertLessEqual(set(body), {ord("x"), 0})  # the file's bytes, never foreign ones
                    seen[status] = seen.get(status, 0) + 1
                time.sleep(0.05)
        finally:
            stop.set()
            for w in writers:
                w.join()
        self.assertIsNone(a.proc.poll(), "the agent died: " + a.stderr()[-3000:])
        self.assertIn("changed size while being read", a.stderr())
        self.assertEqual(a.stop(), 0)

    def test_misses_in_a_large_directory_do_not_stall_other_readers(self):
        # 20,000 files: before the fix every missing key cost a full readdir (~4 ms here), so 300 pipelined
        # misses held the loop for over a second.
        for i in range(20000):
            open(os.path.join(self.dir, f"Other:Env:P{i}.json"), "w").close()
        a = self.start()
        self.assertEqual(a.get(BASE + "/Settings")[0], 200)
        misses = b"".join(b"GET /applications/A/environments/E/configurations/Miss%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                          for i in range(300))
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        worst = 0.0
        try:
            s.sendall(misses)
            for _ in range(20):
                t0 = time.time()
                self.assertEqual(a.get(BASE + "/Settings")[0], 200)
                worst = max(worst, time.time() - t0)
            got = b""
            while got.count(b"HTTP/1.1 404") < 300:
                b = s.recv(1 << 20)
                if not b:
                    break
                got += b
            self.assertEqual(got.count(b"HTTP/1.1 404"), 300)
        finally:
            s.close()
        print(f"\n[ measured ] cached read during 300 pipelined misses over 20,000 files: worst {worst * 1000:.1f} ms",
              file=sys.stderr)
        self.assertLess(worst, 0.3)
        self.assertEqual(a.stop(), 0)

    def test_log_path_fifo_fails_fast(self):
        # LOG_PATH naming a FIFO nobody reads: before the fix open() blocked start-up forever.
        fifo = os.path.join(self.dir, "log.fifo")
        os.mkfifo(fifo)
        a = Agent(local_dir=self.dir, env={"LOG_PATH": fifo})
        a.start(wait=False)
        try:
            a.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()
            self.fail("start-up blocked on a LOG_PATH FIFO")
        self.assertNotEqual(a.proc.returncode, 0)
        self.assertIn("LOG_PATH", a.stderr())
