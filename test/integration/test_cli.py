"""The command line: --version, --help (against docs/settings.md and against what settings.cpp
reads), check (same errors as start-up, nothing bound or fetched), healthcheck (0/1, tokens, a
peer that never answers), usage errors. No arguments keeps serving (every other test)."""
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ROOT, Agent, debug_binary, free_port

BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "ASAN_OPTIONS": "exitcode=86:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87",
}
REMOTE_ENV = dict(BASE_ENV, AWS_REGION="eu-west-1", AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
                  AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def run(args, env, timeout=10):
    p = subprocess.run([debug_binary()] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "runtime error:" not in err and "AddressSanitizer" not in err, err
    return p.returncode, out, err


def fatal_lines(stderr):
    """The FATAL lines without their timestamps."""
    return [l[l.index("FATAL"):] for l in stderr.splitlines() if "FATAL" in l]


def help_rows():
    """(name, agent_name, default) per setting line of --help."""
    code, out, _ = run(["--help"], BASE_ENV)
    assert code == 0
    rows = []
    for line in out.splitlines():
        m = re.match(r"^  (\S+)(?: \((agent only|agent: (\S+))\))?  default: (.+?)  (.+)$", line)
        if not m:
            continue
        name, paren, agent, default, _meaning = m.groups()
        if paren == "agent only":
            rows.append((None, name, default))
        else:
            rows.append((name, agent, default))
    return rows


def doc_tables():
    """Every markdown table row of docs/settings.md as (cells, default column index)."""
    rows = []
    header_default = None
    with open(os.path.join(ROOT, "docs", "settings.md"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("|"):
                header_default = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header_default is None:
                header_default = cells.index("Default") if "Default" in cells else -1
                continue
            if set(line) <= set("|-: "):
                continue
            rows.append((cells, header_default))
    return rows


class VersionAndHelp(unittest.TestCase):
    def test_version_names_everything_the_issue_asks_for(self):
        code, out, _ = run(["--version"], BASE_ENV)
        self.assertEqual(code, 0)
        with open(os.path.join(ROOT, "Makefile")) as f:
            version = re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)
        # The version fetch.sh selected for this tree (the pin unless the archive moved on).
        selected = os.path.join(ROOT, ".deps", "mbedtls.selected")
        if os.path.exists(selected):
            with open(selected) as f:
                mbedtls = re.search(r"^version=(\S+)", f.read(), re.M).group(1)
        else:
            with open(os.path.join(ROOT, "src", "mbedtls", "fetch.sh")) as f:
                mbedtls = re.search(r"PIN_VERSION:-([0-9.]+)", f.read()).group(1)
        arch = {"x86_64": "x86_64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        lines = out.splitlines()
        self.assertEqual(lines[0], f"appconfig-extension {version}")
        self.assertRegex(lines[1], r"^commit: ([0-9a-f]{7,40}(-dirty)?|unknown)$")
        self.assertEqual(lines[2], f"mbedTLS: {mbedtls}")
        self.assertEqual(lines[3], f"architecture: {arch}")

    def test_help_lists_every_variable_settings_reads(self):
        # The names settings::load() reads, taken from its source: a variable added there without a
        # row in the table (and so in --help) fails here.
        with open(os.path.join(ROOT, "src", "core", "settings.cpp")) as f:
            src = f.read()
        body = src[src.index("bool load(const char* const* envp"):]
        read = set()
        for sfx, agent in re.findall(r'(?:lookup|read_bool|read_string)\(env, mode, (nullptr|"\w+"), (nullptr|"\w+")',
                                     body):
            if sfx != "nullptr":
                read.add("AWS_APPCONFIG_EXTENSION_" + sfx.strip('"'))
            if agent != "nullptr":
                read.add(agent.strip('"'))
        read.update(re.findall(r'(?:lookup_plain|read_\w+_plain)\(env, "(\w+)"', body))
        self.assertGreater(len(read), 40)
        shown = set()
        for name, agent, _ in help_rows():
            shown.update(n for n in (name, agent) if n)
        self.assertEqual(sorted(read - shown), [], "read by settings.cpp but missing from --help")
        self.assertEqual(sorted(shown - read), [], "in --help but never read by settings.cpp")

    def test_help_defaults_match_docs_settings_md(self):
        rows = help_rows()
        tables = doc_tables()
        self.assertGreater(len(rows), 40)
        for name, agent, default in rows:
            key = name or agent
            found = None
            for cells, dcol in tables:
                names = re.findall(r"`([A-Z0-9_]+)`", " ".join(cells[:2] if dcol == 2 else cells[:1]))
                if key in names and dcol >= 0:
                    found = (cells, dcol)
                    break
            self.assertIsNotNone(found, f"{key} has no row in docs/settings.md")
            cells, dcol = found
            if name and agent:
                self.assertIn(f"`{agent}`", cells[1], f"{key}: agent name differs from docs")
            doc_default = cells[dcol].replace("`", "").strip()
            self.assertTrue(doc_default == default or doc_default.startswith(default + " "),
                            f"{key}: --help says default {default!r}, docs/settings.md says {doc_default!r}")

    def test_help_and_version_do_not_start_a_server(self):
        port = free_port()
        env = dict(BASE_ENV, AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(port))
        for args in (["--help"], ["-h"], ["--version"]):
            code, _, _ = run(args, env, timeout=5)
            self.assertEqual(code, 0)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # still free: nothing listened

    def test_usage_errors(self):
        for args, needle in ((["--frobnicate"], 'unknown command "--frobnicate"'),
                             (["--version", "x"], "takes no arguments"),
                             (["healthcheck", "--port"], "incomplete option"),
                             (["healthcheck", "--bogus", "1"], 'unknown or incomplete option "--bogus"')):
            code, out, err = run(args, BASE_ENV)
            self.assertEqual(code, 2, args)
            self.assertIn(needle, err)
            self.assertIn("--help", err)
            self.assertEqual(out, "")


class Check(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-cli-")

    def start_error(self, env):
        """The FATAL line start-up prints for env (it must fail at init)."""
        p = subprocess.run([debug_binary()], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        return fatal_lines(p.stderr.decode())

    def test_plan_of_a_remote_agent(self):
        port = free_port()
        env = dict(REMOTE_ENV, HTTP_PORT=str(port), PREFETCH_LIST="App:Env:One,/applications/A%2Fb/environments/E/configurations/P",
                   POLL_INTERVAL="1m30s", LOG_FORMAT="json", METRICS="prometheus")
        code, out, err = run(["check"], env)
        self.assertEqual(code, 0, err)
        self.assertIn("mode: agent\n", out)
        self.assertIn("source: AWS AppConfig at https://appconfigdata.eu-west-1.amazonaws.com:443\n", out)
        self.assertIn("region: eu-west-1\n", out)
        self.assertIn("credentials: environment (AWS_ACCESS_KEY_ID)\n", out)
        self.assertIn(f"listen: 127.0.0.1:{port} and [::1]:{port}\n", out)
        self.assertIn("poll interval: 90000 ms", out)
        self.assertIn("format json; metrics: prometheus", out)
        self.assertIn("  App:Env:One (prefetch list)\n", out)
        self.assertIn("  A/b:E:P (prefetch list)\n", out)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # check bound nothing

    def test_defaults_in_help_are_what_check_uses(self):
        code, out, _ = run(["check"], REMOTE_ENV)
        self.assertEqual(code, 0)
        d = {(n or a): default for n, a, default in help_rows()}
        self.assertIn(f"listen: 127.0.0.1:{d['AWS_APPCONFIG_EXTENSION_HTTP_PORT']} ", out)
        self.assertEqual(d["AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS"], "45 s")
        self.assertEqual(d["AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS"], "3000 ms")
        self.assertIn("poll interval: 45000 ms, poll timeout: 3000 ms, max connections: "
                      f"{d['AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS']}\n", out)
        self.assertIn(f"log: level {d['AWS_APPCONFIG_EXTENSION_LOG_LEVEL']}, format "
                      f"{d['AWS_APPCONFIG_EXTENSION_LOG_FORMAT']}; metrics: {d['AWS_APPCONFIG_EXTENSION_METRICS']}\n",
                      out)

    def test_manifest_file_keys_and_errors_are_start_ups(self):
        good = os.path.join(self.tmp, "manifest.json")
        with open(good, "w") as f:
            json.dump({"App:Env:Flags": {}, "App:Env:Other": {"writeTo": {"path": os.path.join(self.tmp, "o.json")}}}, f)
        code, out, err = run(["check"], dict(REMOTE_ENV, MANIFEST="file:" + good))
        self.assertEqual(code, 0, err)
        self.assertIn("  App:Env:Flags (manifest)\n", out)
        self.assertIn("  App:Env:Other (manifest)\n", out)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"App:Env:Flags": {"writeTo": 5}}')
        env = dict(REMOTE_ENV, MANIFEST="file:" + bad)
        code, out, err = run(["check"], env)
        self.assertEqual(code, 2)
        self.assertEqual(fatal_lines(err), self.start_error(env))
        self.assertNotIn("ok:", out)

    def test_invalid_settings_give_start_ups_error(self):
        for extra in ({"HTTP_PORT": "70000"}, {"AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS": "abc"},
                      {"LOG_FORMAT": "xml"}, {"METRICS": "statsd"}, {"AWS_REGION": None},
                      {"LOCAL_DEVELOPMENT_DIRECTORY": "/no/such/dir"}):
            env = dict(REMOTE_ENV)
            for k, v in extra.items():
                if v is None:
                    env.pop(k)
                else:
                    env[k] = v
            code, out, err = run(["check"], env)
            self.assertEqual(code, 2, extra)
            fatal = fatal_lines(err)
            self.assertEqual(len(fatal), 1, err)
            self.assertEqual(fatal, self.start_error(env), extra)

    def test_lambda_mode_never_calls_the_runtime_api(self):
        # A Runtime API address nobody listens on: start-up would report there; check must not try.
        dead = free_port()
        env = dict(REMOTE_ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{dead}", AWS_APPCONFIG_EXTENSION_METRICS="emf",
                   AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN")
        t0 = time.monotonic()
        code, out, err = run(["check"], env)
        self.assertEqual(code, 0, err)
        self.assertIn("mode: Lambda extension\n", out)
        self.assertIn("log: level warn (from AWS_LAMBDA_LOG_LEVEL), format json; metrics: emf\n", out)
        env["AWS_APPCONFIG_EXTENSION_METRICS"] = "prometheus"
        code, out, err = run(["check"], env)
        self.assertEqual(code, 2)
        line = json.loads(err.strip().splitlines()[-1])  # JSON, as Lambda asked
        self.assertEqual(line["level"], "FATAL")
        self.assertIn("AWS_APPCONFIG_EXTENSION_METRICS", line["message"])
        self.assertLess(time.monotonic() - t0, 8)

    def test_local_development_plan(self):
        code, out, err = run(["check"], dict(BASE_ENV, LOCAL_DEVELOPMENT_DIRECTORY=os.path.join(ROOT, "examples", "local")))
        self.assertEqual(code, 0, err)
        self.assertIn("source: local files in", out)
        self.assertNotIn("credentials:", out)


class Healthcheck(unittest.TestCase):
    def test_healthy_agent_from_its_environment(self):
        token = "s3cret-token"
        a = Agent(local_dir=os.path.join(ROOT, "examples", "local"), env={"ACCESS_TOKEN": token}).start()
        try:
            env = dict(BASE_ENV, HTTP_PORT=str(a.port), ACCESS_TOKEN=token)
            code, out, err = run(["healthcheck"], env)
            self.assertEqual(code, 0, err)
            self.assertIn(f"healthy: GET /ping on 127.0.0.1:{a.port} answered 200", out)
            code, out, _ = run(["healthcheck", "--port", str(a.port), "--host", "::1"], BASE_ENV)
            self.assertEqual(code, 0)
            self.assertIn(f"[::1]:{a.port}", out)
            code, _, _ = run(["healthcheck", f"--port={a.port}", "--host=0.0.0.0"], BASE_ENV)
            self.assertEqual(code, 0)
        finally:
            self.assertEqual(a.stop(), 0)

    def test_nothing_listening_is_unhealthy(self):
        code, out, err = run(["healthcheck", "--port", str(free_port())], BASE_ENV)
        self.assertEqual(code, 1)
        self.assertIn("unhealthy: cannot connect", err)

    def test_bad_options_are_unhealthy_not_a_crash(self):
        for args in (["--port", "0"], ["--port", "x"], ["--host", "example.com"]):
            code, _, err = run(["healthcheck"] + args, BASE_ENV)
            self.assertEqual(code, 1, args)
            self.assertIn("unhealthy:", err)

    def test_a_peer_that_never_answers_is_unhealthy_within_the_budget(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        held = []
        stop = threading.Event()

        def accept():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(srv.accept()[0])  # accept, read nothing, answer nothing
                except OSError:
                    pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            t0 = time.monotonic()
            code, _, err = run(["healthcheck", "--port", str(srv.getsockname()[1])], BASE_ENV)
            elapsed = time.monotonic() - t0
            self.assertEqual(code, 1)
            self.assertIn("no HTTP answer", err)
            self.assertLess(elapsed, 3)  # 800 ms budget; generous for the sanitizer build
        finally:
            stop.set()
            t.join()
            for c in held:
                c.close()
            srv.close()

    def test_a_non_200_answer_is_unhealthy(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def answer():
            c, _ = srv.accept()
            c.recv(4096)
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            c.close()

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        code, _, err = run(["healthcheck", "--port", str(srv.getsockname()[1])], BASE_ENV)
        t.join(5)
        srv.close()
        self.assertEqual(code, 1)
        self.assertIn("answered 503", err)


if __name__ == "__main__":
    unittest.main()
