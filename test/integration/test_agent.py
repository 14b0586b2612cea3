"""Agent mode and the agent features against the AppConfig + STS emulator over TLS: the manifest (two accounts
through per-key AssumeRole, writeTo files), backups across restarts and outages, timer refresh, SIGHUP reload."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import EXIT_STARTUP_REFUSED, ROOT, Agent

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
import appconfig_data as ad  # noqa: E402
from test_appconfig import AK, SK, TOKEN, make_ca  # noqa: E402

ROLE_A = "arn:aws:iam::111111111111:role/read-a"
ROLE_B = "arn:aws:iam::222222222222:role/read-b"


def path_of(app, env, prof):
    return f"/applications/{app}/environments/{env}/configurations/{prof}"


class AgentCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls = tempfile.mkdtemp(prefix="appconfig-agent-tls-")
        cls.ca, cls.cert, cls.key = make_ca(cls.tls)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tls, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-agent-")
        self.em = ad.Emulator(tls_cert=self.cert, tls_key=self.key).start()
        self.em.settings(default_poll_interval_s=1)
        self.em.add_credentials(AK, SK, session_token=TOKEN)
        self.em.set_config("App", "Env", "Prof", b'{"v":1}', version_label="1")
        self.agents = []

    def tearDown(self):
        try:
            for a in self.agents:
                a.close()
        finally:
            self.em.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def agent(self, **env):
        base = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{self.em.port}",
                "AWS_ENDPOINT_URL_STS": f"https://localhost:{self.em.port}", "AWS_CA_BUNDLE": self.ca,
                "POLL_INTERVAL": "1", "REQUEST_TIMEOUT": "1500"}
        base.update({k: v for k, v in env.items() if v is not None})
        a = Agent(env=base)
        self.agents.append(a)
        return a

    def write_manifest(self, doc):
        p = os.path.join(self.tmp, "manifest.json")
        with open(p, "w") as f:
            json.dump(doc, f)
        return p

    def test_two_accounts_and_write_to(self):
        self.em.add_role(ROLE_A, account="acct-a")
        self.em.add_role(ROLE_B, account="acct-b", external_id="ext-b")
        self.em.set_config("App", "Env", "A", b'{"account":"a"}', account="acct-a")
        self.em.set_config("App", "Env", "B", b'{"account":"b"}', account="acct-b")
        out = os.path.join(self.tmp, "out", "b.json")
        m = self.write_manifest({
            "App:Env:A": {"credentials": {"roleArn": ROLE_A, "roleSessionName": "agent-a", "credentialsDuration": "1h"}},
            "App:Env:B": {"credentials": {"roleArn": ROLE_B, "roleExternalId": "ext-b"}, "writeTo": {"path": out}},
        })
        a = self.agent(MANIFEST=f"file:{m}").start()
        results = {}

        def read(name):
            results[name] = a.get(path_of("App", "Env", name))
        ts = [threading.Thread(target=read, args=(n,)) for n in ("A", "B")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(results["A"][:1] + (results["A"][2],), (200, b'{"account":"a"}'), a.stderr()[-3000:])
        self.assertEqual(results["B"][2], b'{"account":"b"}')
        arns = sorted(c.get("RoleArn", c.get("role_arn", "")) if isinstance(c, dict) else str(c)
                      for c in self.em.counters()["assume_role_calls"])
        self.assertEqual(len(arns), 2, arns)
        # writeTo: the file appears, then follows changes atomically.
        deadline = time.time() + 5
        while not os.path.exists(out) and time.time() < deadline:
            time.sleep(0.05)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b'{"account":"b"}')
        seen, bad, stop = set(), [], threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    with open(out, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    bad.append("missing")
                    continue
                seen.add(data)
                if data not in (b'{"account":"b"}', b'{"account":"b2","pad":"' + b"x" * 50000 + b'"}'):
                    bad.append(data[:40])
        t = threading.Thread(target=reader)
        t.start()
        self.em.set_config("App", "Env", "B", b'{"account":"b2","pad":"' + b"x" * 50000 + b'"}', account="acct-b")
        deadline = time.time() + 6
        while len(seen) < 2 and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        t.join()
        self.assertEqual(bad, [])
        self.assertEqual(len(seen), 2, "the writeTo file did not follow the change (timer refresh in agent mode)")
        self.assertIn("wrote", a.stderr())
        self.assertEqual(a.stop(), 0)

    def test_timer_refresh_without_invokes(self):
        a = self.agent().start()
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[2], b'{"v":1}')
        self.em.set_config("App", "Env", "Prof", b'{"v":2}', version_label="2")
        deadline = time.time() + 6
        body = b""
        while time.time() < deadline:
            body = a.get(path_of("App", "Env", "Prof"))[2]
            if body == b'{"v":2}':
                break
            time.sleep(0.1)
        self.assertEqual(body, b'{"v":2}')
        self.assertEqual(a.stop(), 0)

    def test_backups_survive_restart_during_outage(self):
        backups = os.path.join(self.tmp, "backups")
        a = self.agent(BACKUP_DIRECTORY=backups).start()
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[0], 200)
        deadline = time.time() + 5
        while not os.listdir(backups) if os.path.isdir(backups) else True:
            if time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(os.listdir(backups)), 1)
        self.assertEqual(a.stop(), 0)
        self.em.add_fault("500", count=None)  # AWS is down from now on
        # PRELOAD_BACKUPS (default true): served from the backup at once.
        b = self.agent(BACKUP_DIRECTORY=backups).start()
        status, h, body = b.get(path_of("App", "Env", "Prof"))
        self.assertEqual((status, body), (200, b'{"v":1}'))
        self.assertEqual(h["configuration-version"], "1")
        self.assertEqual(b.stop(), 0)
        # PRELOAD_BACKUPS=false: used only because the service is unreachable.
        c = self.agent(BACKUP_DIRECTORY=backups, PRELOAD_BACKUPS="false").start()
        status, _, body = c.get(path_of("App", "Env", "Prof"))
        self.assertEqual((status, body), (200, b'{"v":1}'))
        self.assertIn("backup", c.stderr())
        self.assertEqual(c.stop(), 0)
        # A corrupt backup is never served.
        name = os.path.join(backups, os.listdir(backups)[0])
        data = bytearray(open(name, "rb").read())
        data[-1] ^= 0xFF
        open(name, "wb").write(bytes(data))
        d = self.agent(BACKUP_DIRECTORY=backups).start()
        status, _, body = d.get(path_of("App", "Env", "Prof"))
        self.assertEqual(status, 502, body)
        self.assertIn("ignored", d.stderr())
        self.assertEqual(d.stop(), 0)

    def test_invalid_manifests_stop_startup(self):
        cases = [
            ({"App:Env": {}}, "App:Env"),
            ({"App:Env:P": {"credentials": {}}}, "roleArn"),
            ({"App:Env:P": {"writeTo": {"path": "relative/file"}}}, "path"),
            ({"App:Env:P": {"colour": "red"}}, "colour"),
            ([], "object"),
        ]
        for doc, needle in cases:
            m = self.write_manifest(doc)
            a = self.agent(MANIFEST=f"file:{m}")
            a.start(wait=False)
            code, err = a.wait_exit()
            self.assertEqual(code, EXIT_STARTUP_REFUSED, doc)
            self.assertIn(needle, err, doc)

    def test_manifest_from_appconfig(self):
        out = os.path.join(self.tmp, "from-manifest.json")
        self.em.set_config("App", "Env", "Manifest", json.dumps({"App:Env:Prof": {"writeTo": {"path": out}}}).encode())
        a = self.agent(MANIFEST="App:Env:Manifest").start()
        deadline = time.time() + 5
        while not os.path.exists(out) and time.time() < deadline:
            time.sleep(0.05)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b'{"v":1}')  # prefetched because the manifest lists it
        # A broken manifest update keeps the previous one active.
        self.em.set_config("App", "Env", "Manifest", b'{"App:Env": {}}')
        deadline = time.time() + 5
        while "previous manifest stays active" not in a.stderr() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("previous manifest stays active", a.stderr())
        self.assertEqual(a.stop(), 0)

    def test_sighup_reloads_manifest(self):
        out = os.path.join(self.tmp, "prof.json")
        m = self.write_manifest({"App:Env:Prof": {}})
        a = self.agent(MANIFEST=f"file:{m}").start()
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[0], 200)
        self.write_manifest({"App:Env:Prof": {"writeTo": {"path": out}}})
        a.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while not os.path.exists(out) and time.time() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(out), a.stderr()[-2000:])
        self.write_manifest({"App:Env:Prof": {"credentials": {"roleArn": "not-an-arn"}}})
        a.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        self.assertIn("previous manifest stays active", a.stderr())
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[0], 200)
        self.assertEqual(a.stop(), 0)

    # ---- issue 10: disk work off the loop, stale versions said to readers, URLs without passwords

    def test_disk_writes_do_not_stall_cached_reads(self):
        # A 4 MiB configuration written to a writeTo file: each write is an atomic replace with two fsyncs
        # (25..100 ms on this disk). SIGHUP with a new writeTo path writes the cached bytes again without a
        # fetch, so only the disk work is measured (a 4 MiB fetch has its own cost on the loop: TLS
        # decryption). Reads of another key are sent every 2 ms and timed from when they were due (a stall
        # counts for every read it delays). SIGHUPs come every 250 ms throughout; in alternate 1 s windows
        # they change the writeTo path (a write each) or not (no write), so both halves see the same load.
        # p99 in the write windows must be under 10 ms; on an overloaded machine (no-write p99 over 5 ms)
        # at most twice the no-write p99 plus 10 ms. Before the fix: 64..652 ms against ~5 ms.
        # Logging is at WARN: the loop's INFO lines per SIGHUP would go to a file on the same disk, where a
        # write(2) can wait behind the journal commit of a concurrent fsync -- a cost of file logs, not of
        # this design. Writes are counted by the inode changes of the target files.
        big = b"a" * (4 << 20)
        self.em.set_config("App", "Env", "Big", big, content_type="application/octet-stream", version_label="b0")
        outs = [os.path.join(self.tmp, f"big{i}.out") for i in range(2)]
        m = self.write_manifest({"App:Env:Big": {"writeTo": {"path": outs[0]}}, "App:Env:Prof": {}})
        a = self.agent(MANIFEST=f"file:{m}", AWS_APPCONFIG_EXTENSION_CACHE_SIZE="64MiB",
                       POLL_INTERVAL="1h", AWS_APPCONFIG_EXTENSION_LOG_LEVEL="warn").start()
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[0], 200)
        self.assertEqual(len(a.get(path_of("App", "Env", "Big"), timeout=20)[2]), len(big))
        reader = r"""
import http.client, json, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
out, start, i = [], time.monotonic(), 0
print(json.dumps({"start": start}), flush=True)
while time.monotonic() - start < 8:
    due = start + i * 0.002
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    c.request("GET", path)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    out.append((due, time.monotonic() - due))
    i += 1
print(json.dumps(out))
"""
        proc = subprocess.Popen([sys.executable, "-c", reader, str(a.port), path_of("App", "Env", "Prof")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        start = json.loads(proc.stdout.readline())["start"]
        inodes, windows, stop = {}, [], threading.Event()

        def drive():
            n = 0
            while not stop.wait(0.25):
                n += 1
                writing = int((time.monotonic() - start) // 1) % 2 == 1
                if writing:
                    windows.append(time.monotonic())
                big_entry = {"writeTo": {"path": outs[n % 2]}} if writing else {}  # applying writeTo writes
                self.write_manifest({"App:Env:Big": big_entry, "App:Env:Prof": {}})
                a.proc.send_signal(signal.SIGHUP)
                for o in outs:
                    try:
                        inodes[(o, os.stat(o).st_ino)] = True
                    except FileNotFoundError:
                        pass
        t = threading.Thread(target=drive)
        t.start()
        try:
            out, err_text = proc.communicate(timeout=60)
        finally:
            stop.set()
            t.join()
        self.assertEqual(proc.returncode, 0, err_text.decode()[-2000:])
        samples = json.loads(out)

        def p99(xs):
            xs = sorted(xs)
            return xs[int(len(xs) * 0.99)], xs[-1], len(xs)
        # Odd seconds since the reader started were write windows (without writeTo a SIGHUP writes nothing).
        w = p99([lat for due, lat in samples if int(due - start) % 2 == 1])
        q = p99([lat for due, lat in samples if int(due - start) % 2 == 0])
        self.assertTrue(a.proc.poll() is None and a.get("/ping")[0] == 200)
        writes = len(inodes)
        print(f"\n[ measured ] cached reads (due every 2 ms) in 1 s windows with 4 MiB writes: p99={w[0] * 1000:.2f} ms "
              f"max={w[1] * 1000:.1f} ms n={w[2]}; windows without: p99={q[0] * 1000:.2f} ms max={q[1] * 1000:.1f} ms "
              f"n={q[2]}; {writes} files written", file=sys.stderr)
        if q[0] < 0.005:
            self.assertLess(w[0], 0.010)
        else:
            self.assertLess(w[0], 2 * q[0] + 0.010, "the machine is loaded; the writes still stalled reads")
        self.assertGreaterEqual(writes, 6, a.stderr()[-3000:])
        self.assertEqual(a.stop(), 0)
        for o in outs:
            with open(o, "rb") as f:
                self.assertEqual(f.read(), big)

    def test_stale_version_is_said_to_readers(self):
        # A slow reader pins the 4 MiB entry; the 6 MiB arena cannot hold the next version as well.
        big = b"a" * (4 << 20)
        self.em.set_config("App", "Env", "Big", big, content_type="application/octet-stream", version_label="v1")
        a = self.agent(AWS_APPCONFIG_EXTENSION_CACHE_SIZE="6MiB").start()
        self.assertEqual(a.get(path_of("App", "Env", "Big"), timeout=20)[0], 200)
        status, _, body = a.get("/ping")
        self.assertEqual(json.loads(body)["stale"], 0)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", a.port))
        slow.sendall(("GET " + path_of("App", "Env", "Big") + " HTTP/1.1\r\nHost: x\r\n\r\n").encode())
        time.sleep(0.3)  # the reply is now stuck in flight: the entry stays pinned
        try:
            self.em.set_config("App", "Env", "Big", b"b" * (4 << 20), content_type="application/octet-stream",
                               version_label="v2")
            deadline = time.time() + 8
            while "marked stale" not in a.stderr() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("the previous version is still served, marked stale", a.stderr())
            status, h, body = a.get(path_of("App", "Env", "Big"), timeout=20)
            self.assertEqual((status, body[:1], h.get("version-label")), (200, b"a", "v1"))
            self.assertIn("110 - \"stale", h.get("warning", ""))
            self.assertRegex(h.get("age", ""), r"^\d+$")
            self.assertEqual(json.loads(a.get("/ping")[2])["stale"], 1)
            # Other keys are not marked.
            status, h, _ = a.get(path_of("App", "Env", "Prof"))
            self.assertEqual(status, 200)
            self.assertNotIn("warning", h)
        finally:
            slow.close()
        self.assertEqual(a.stop(), 0)

    def test_urls_with_userinfo_are_never_printed_with_the_password(self):
        for var, value in [("AWS_ENDPOINT_URL_APPCONFIGDATA", "https://user:s3cretpw@localhost:443"),
                           ("AWS_ENDPOINT_URL", "https://user:s3cretpw@localhost"),
                           ("AWS_ENDPOINT_URL_STS", "https://s3cretpw@localhost/x"),
                           ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://u:s3cretpw@127.0.0.1:1/creds")]:
            a = self.agent(**{var: value})
            a.start(wait=False)
            a.proc.wait(timeout=10)
            err = a.stderr()
            self.assertNotEqual(a.proc.returncode, 0, var)
            self.assertIn(var, err)
            self.assertNotIn("s3cretpw", err, var)
            self.assertIn("***@", err, var)

    def test_ca_bundle_fifo_does_not_block_the_loop(self):
        # AWS_CA_BUNDLE is read at the first connect, on the loop: a FIFO there blocked every reader.
        fifo = os.path.join(self.tmp, "ca.fifo")
        os.mkfifo(fifo)
        a = self.agent(AWS_CA_BUNDLE=fifo).start()
        status, _, body = a.get(path_of("App", "Env", "Prof"), timeout=10)
        self.assertGreaterEqual(status, 500, body)
        self.assertIn(b"not a regular file", body + a.stderr().encode())
        self.assertEqual(a.get("/ping", timeout=5)[0], 200)
        self.assertEqual(a.stop(), 0)

    def test_token_file_fifo_does_not_block_the_loop(self):
        # AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is read at every credentials fetch, on the loop.
        fifo = os.path.join(self.tmp, "token.fifo")
        os.mkfifo(fifo)
        self.em.set_container_credentials("container-token-1")
        env = {k: v for k, v in self.agent().env.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                            "AWS_APPCONFIG_EXTENSION_HTTP_PORT")}
        self.agents.pop()
        env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"https://localhost:{self.em.port}/container-credentials",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=fifo)
        a = Agent(env=env)
        self.agents.append(a)
        a.start()
        status, _, body = a.get(path_of("App", "Env", "Prof"), timeout=10)
        self.assertGreaterEqual(status, 500, body)
        self.assertIn("is not a regular file", body.decode() + a.stderr())
        self.assertEqual(a.get("/ping", timeout=5)[0], 200)
        self.assertEqual(a.stop(), 0)

    def test_version_labels_reach_headers_as_visible_ascii(self):
        # A Version-Label with obs-text from the service: sent percent-encoded, never as raw bytes.
        self.em.set_config("App", "Env", "Prof", b'{"v":1}', version_label="caf\u00e9 1")
        a = self.agent().start()
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        s.sendall(("GET " + path_of("App", "Env", "Prof") + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        head = data.split(b"\r\n\r\n", 1)[0]
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        for line in head.split(b"\r\n"):
            self.assertTrue(all(0x20 <= c < 0x7f for c in line), line)
        self.assertIn(b"\r\nVersion-Label: caf%E9%201", head)
        self.assertEqual(a.stop(), 0)


    def test_large_tls_fetch_does_not_stall_cached_reads(self):
        # A 4 MiB configuration arrives over TLS in ~256 records; decrypting them all in one loop turn
        # held every other reader for the whole body (~200 ms release, ~330 ms under ASan). The client
        # now decrypts at most 128 KiB per turn and resumes at the next pass. Reads of a cached key run
        # back to back while three 4 MiB first reads are fetched. Each fetch used to stall them once for
        # about its whole length (3 stalls of 250..1000 ms on a loaded machine, 40..70 ms after the fix):
        # the second-longest read (one scheduling hiccup of a loaded machine is forgiven) must stay under
        # half the quickest fetch (relative: robust to the machine's speed) or 100 ms. Release binary.
        release = os.path.join(ROOT, "build", "release", "x86_64" if os.uname().machine == "x86_64" else "arm64",
                               "appconfig-extension")
        big = bytes(range(256)) * (4 << 12)  # 4 MiB, incompressible enough to be realistic
        for i in range(3):
            self.em.set_config("App", "Env", f"Big{i}", big, content_type="application/octet-stream")
        a = self.agent(AWS_APPCONFIG_EXTENSION_CACHE_SIZE="64MiB", POLL_INTERVAL="1h", REQUEST_TIMEOUT="20s",
                       AWS_APPCONFIG_EXTENSION_LOG_LEVEL="warn")
        a.binary = release
        a.start()
        self.assertEqual(a.get(path_of("App", "Env", "Prof"))[0], 200)
        lat, stop = [], threading.Event()

        def reader():
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
            while not stop.is_set():
                t0 = time.monotonic()
                c.request("GET", path_of("App", "Env", "Prof"))
                r = c.getresponse()
                r.read()
                lat.append(time.monotonic() - t0)
            c.close()

        t = threading.Thread(target=reader)
        t.start()
        fetch_s = []
        try:
            time.sleep(0.2)
            for i in range(3):
                t0 = time.monotonic()
                status, _, body = a.get(path_of("App", "Env", f"Big{i}"), timeout=30)
                fetch_s.append(time.monotonic() - t0)
                self.assertEqual((status, len(body)), (200, len(big)))
        finally:
            stop.set()
            t.join()
        lat.sort()
        worst, second, fetch = lat[-1], lat[-2], min(fetch_s)
        print(f"\n[ measured ] 4 MiB TLS fetches: {min(fetch_s) * 1000:.0f}-{max(fetch_s) * 1000:.0f} ms each; "
              f"{len(lat)} cached reads meanwhile, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, "
              f"max {worst * 1000:.1f} ms, second {second * 1000:.1f} ms", flush=True)
        self.assertLess(second, max(0.1, fetch / 2), "a fetch held the loop for most of its body")


if __name__ == "__main__":
    unittest.main()
