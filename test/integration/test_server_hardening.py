"""The local HTTP server under hostile and heavy clients, in agent mode (local development directory):
silent connections filling the table, 1,000 concurrent keep-alive clients, byte-at-a-time heads, a
Context answer far larger than the per-connection scratch, and the MAX_CLIENT_CONNECTIONS setting.
After each attack a normal read must still work."""
import json
import os
import resource
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Agent

BASE = "/applications/MyApp/environments/Prod/configurations"
FLAGS_NAME = "MyApp:Prod:Big.application%ion%type=AWS.AppConfig.FeatureFlags"
NUM_FLAGS = 2000
VARIANT_BYTES = 500


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def big_profile():
    """2,000 flags, each with a gold variant of ~500 bytes and a default: with tier=gold the
    answer is ~1 MB of pieces that are not adjacent in the compiled blob."""
    lines = ["$ion_1_0"]
    for i in range(NUM_FLAGS):
        pad = "g" * (VARIANT_BYTES - 40)
        gold = json.dumps({"_variant": "Gold", "i": i, "pad": pad})
        default = json.dumps({"_variant": "Default", "i": i})
        lines.append(f"'f{i:04d}'::[ [ (eq $tier \"gold\"), '''{gold}''' ], '''{default}''' ]")
    return "\n".join(lines) + "\n"


def request(port, path, timeout=10):
    """One request on a fresh connection; returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body
    finally:
        s.close()


class ServerHardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise_fd_limit(4096)
        cls.dir = tempfile.mkdtemp(prefix="appconfig-hardening-")
        with open(os.path.join(cls.dir, "MyApp:Prod:Settings.json"), "w") as f:
            json.dump({"a": 1}, f)
        with open(os.path.join(cls.dir, FLAGS_NAME), "w") as f:
            f.write(big_profile())
        cls.agents = []

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start(self, env=None):
        # A refresh tick every second: the ticks used to push every idle deadline back.
        e = {"POLL_INTERVAL": "1", "AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "info"}
        e.update(env or {})
        agent = Agent(local_dir=self.dir, env=e).start()
        self.addCleanup(self.stop, agent)
        return agent

    def stop(self, agent):
        code = agent.stop()
        self.assertEqual(code, 0, f"exit code {code}")

    def assert_normal_read(self, agent):
        status, body = request(agent.port, BASE + "/Settings")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"a": 1})

    def test_silent_connections_do_not_lock_clients_out(self):
        # Before: 256 silent connections (no token needed) got every later client a 503 for as
        # long as they stayed open, since each refresh tick restarted their idle deadlines.
        agent = self.start({"MAX_CLIENT_CONNECTIONS": "256"})
        silent = []
        try:
            for _ in range(300):
                silent.append(socket.create_connection(("127.0.0.1", agent.port), timeout=5))
            time.sleep(1.5)  # a refresh tick or two
            for _ in range(5):
                self.assert_normal_read(agent)
        finally:
            for s in silent:
                s.close()
        self.assert_normal_read(agent)

    def test_thousand_concurrent_keepalive_clients(self):
        raise_fd_limit(4096)
        agent = self.start()  # the agent default: 1,024 client connections
        clients = 1000
        pid = agent.proc.pid
        rss_before = rss_kib(pid)
        socks = [socket.create_connection(("127.0.0.1", agent.port), timeout=10) for _ in range(clients)]
        try:
            time.sleep(0.5)
            rss_idle = rss_kib(pid)
            for rnd in range(2):  # the second round proves the connections were kept alive
                sel = selectors.DefaultSelector()
                for i, s in enumerate(socks):
                    s.sendall(f"GET {BASE}/Settings HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    s.setblocking(False)
                    sel.register(s, selectors.EVENT_READ, i)
                got = [b""] * clients
                done = 0
                deadline = time.time() + 60
                while done < clients and time.time() < deadline:
                    for key, _ in sel.select(timeout=1):
                        i = key.data
                        chunk = key.fileobj.recv(65536)
                        self.assertTrue(chunk, f"client {i} closed by the server in round {rnd}")
                        got[i] += chunk
                        if got[i].endswith(b'{"a":1}') or got[i].endswith(b'{"a": 1}'):
                            sel.unregister(key.fileobj)
                            done += 1
                sel.close()
                for s in socks:
                    s.setblocking(True)
                self.assertEqual(done, clients, f"round {rnd}: only {done} of {clients} answered")
                self.assertTrue(all(g.startswith(b"HTTP/1.1 200") for g in got))
            rss_used = rss_kib(pid)
            print(f"\n[ measured ] {os.path.basename(os.path.dirname(agent.binary))} binary, {clients} keep-alive "
                  f"clients: RSS {rss_before} kB before, {rss_idle} kB with them connected and silent, "
                  f"{rss_used} kB after two requests each; per 1,000: +{(rss_idle - rss_before) * 1000 // clients} kB "
                  f"idle, +{(rss_used - rss_before) * 1000 // clients} kB used")
        finally:
            for s in socks:
                s.close()
        # Slots quiet for 5 s give their buffer pages back.
        time.sleep(6.5)
        rss_after = rss_kib(pid)
        print(f"[ measured ] RSS {rss_after} kB 6.5 s after they closed")
        self.assertLess(rss_after - rss_before, (rss_used - rss_before) // 2,
                        "closed connections' buffers stayed resident")
        self.assert_normal_read(agent)

    def test_byte_at_a_time_head(self):
        agent = self.start()
        s = socket.create_connection(("127.0.0.1", agent.port), timeout=10)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = b"GET " + BASE.encode() + b"/Settings HTTP/1.1\r\nHost: x\r\n"
            head += b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 200) for i in range(40)) + b"\r\n"
            for i in range(len(head)):
                s.send(head[i:i + 1])
            data = b""
            while not data.endswith(b'{"a":1}') and not data.endswith(b'{"a": 1}'):
                b = s.recv(65536)
                if not b:
                    break
                data += b
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        finally:
            s.close()
        self.assert_normal_read(agent)

    def test_context_answer_larger_than_scratch(self):
        # Before: 500 "answer too large for the response buffer" past 64 KiB.
        agent = self.start()
        s = socket.create_connection(("127.0.0.1", agent.port), timeout=20)
        try:
            s.sendall(f"GET {BASE}/Big HTTP/1.1\r\nHost: x\r\nContext: tier=gold\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                data += b
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), data[:300])
        doc = json.loads(body)
        self.assertEqual(len(doc), NUM_FLAGS)
        self.assertEqual(doc["f1999"]["_variant"], "Gold")
        self.assertGreater(len(body), NUM_FLAGS * (VARIANT_BYTES - 20))
        # Without Context: the defaults, small.
        status, body = request(agent.port, BASE + "/Big")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["f0000"]["_variant"], "Default")
        self.assert_normal_read(agent)

    def test_poll_failure_ends_the_agent(self):
        # poll(2) fails with EINVAL once it watches more fds than RLIMIT_NOFILE allows. Before: the
        # loop returned and was called again at once, a silent 100 % CPU spin that never ended.
        agent = Agent(local_dir=self.dir, env={"POLL_INTERVAL": "1"}).start()
        socks = [socket.create_connection(("127.0.0.1", agent.port), timeout=5) for _ in range(12)]
        try:
            self.assert_normal_read(agent)  # all accepted by now
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.prlimit(agent.proc.pid, resource.RLIMIT_NOFILE, (8, hard))
            socks[0].sendall(b"G")  # wake the loop
            try:
                code = agent.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.proc.kill()  # a spinning loop never reads SIGTERM
                agent.proc.wait()
                code = None
        finally:
            for s in socks:
                s.close()
        err = agent.stderr()
        agent.stop()
        self.assertEqual(code, 1, err)
        self.assertEqual(err.count("poll() failed"), 1, err)
        self.assertIn("Invalid argument", err)

    def test_max_client_connections_is_validated(self):
        for value in ["0", "16385", "12x", "-1"]:
            agent = Agent(local_dir=self.dir, env={"MAX_CLIENT_CONNECTIONS": value})
            agent.start(wait=False)
            code = agent.proc.wait(timeout=20)
            err = agent.stderr()
            agent.stop()
            self.assertEqual(code, 2, err)
            self.assertIn("MAX_CLIENT_CONNECTIONS", err)
            self.assertIn("from 1 to 16384", err)

    def test_max_client_connections_caps_the_table(self):
        agent = self.start({"MAX_CLIENT_CONNECTIONS": "2"})
        # Two connections each with a request in progress would leave no room; two silent ones do.
        a = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
        b = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
        try:
            time.sleep(0.2)
            self.assert_normal_read(agent)  # the oldest silent one made room
            a.settimeout(2)
            self.assertEqual(a.recv(10), b"", "the oldest silent connection was closed")
        finally:
            a.close()
            b.close()
        self.assert_normal_read(agent)


if __name__ == "__main__":
    unittest.main()
