"""Self-tests of the Lambda Extensions API emulator (lambda_api.py) against fake_extension.py.

Run from the repo root: python3 -m unittest test/emulator/test_lambda_api.py
"""
import http.client
import json
import os
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lambda_api import BASE, LambdaEmulator  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_extension.py")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_json(port, path="/"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def wait_invokes(port, n, timeout_s=2.0):
    """Reads the fake's local port until it has seen n invokes: the runtime and the extension
    get the INVOKE concurrently, so the function may run before the extension processed it."""
    deadline = time.monotonic() + timeout_s
    while True:
        st, body = get_json(port)
        if body["invokes"] >= n or time.monotonic() > deadline:
            return st, body
        time.sleep(0.005)


def emulator(*args, **kw):
    return LambdaEmulator(FAKE, kw.pop("env", None), interpreter=[sys.executable], args=list(args), **kw)


def lines(emu):
    return [json.loads(line) for line in emu.stdout().splitlines() if line.strip()]


def process_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class Lifecycle(unittest.TestCase):
    def test_full_lifecycle_with_freezes(self):
        port = free_port()
        for chunked in (False, True):
            with self.subTest(chunked=chunked), \
                    emulator("--port", str(port), "--post-invoke-ms", "30", "--account-id",
                             chunked=chunked) as emu:
                seen_in_init = []
                init = emu.start(runtime_init=lambda: seen_in_init.append(get_json(port)))
                self.assertTrue(init.ok, (init, emu.stderr()))
                self.assertEqual(seen_in_init, [(200, {"invokes": 0, "last": None})])
                self.assertGreater(init.init_overhead_ms, 0)
                self.assertLessEqual(init.register_ms, init.init_overhead_ms)
                self.assertTrue(emu.frozen)
                self.assertEqual(process_state(emu.pid), "T")  # really stopped
                ids = []
                for i, freeze_s in enumerate((0.0, 0.2, 0.05)):
                    r = emu.invoke(lambda: wait_invokes(port, i + 1), deadline_ms=3000, freeze_s=freeze_s)
                    self.assertTrue(r.delivered)
                    self.assertFalse(r.timed_out)
                    # The function ran while the extension was thawed and had the event.
                    self.assertEqual(r.value, (200, {"invokes": i + 1, "last": r.request_id}))
                    # The fake works 30 ms after the INVOKE before calling /next again.
                    self.assertGreaterEqual(r.duration_ms, 30)
                    self.assertIsNotNone(r.post_invoke_ms)
                    self.assertTrue(emu.frozen)
                    self.assertEqual(process_state(emu.pid), "T")
                    ids.append(r.request_id)
                s = emu.shutdown()
                self.assertGreaterEqual(emu.total_frozen_s, 0.25)  # the last freeze ends at SHUTDOWN
                self.assertEqual(s.exit_code, 0)
                self.assertFalse(s.killed)
                self.assertTrue(s.delivered)
                self.assertLess(s.duration_ms, 2000)
                self.assertEqual(emu.violations, [])
                out = lines(emu)
                reg = out[0]
                self.assertEqual(reg["status"], 200)
                self.assertEqual(reg["body"]["accountId"], "123456789012")
                self.assertEqual(set(reg["body"]), {"functionName", "functionVersion", "handler",
                                                    "accountId"})
                got = [o["got"] for o in out if "got" in o]
                self.assertEqual([g["eventType"] for g in got], ["INVOKE"] * 3 + ["SHUTDOWN"])
                self.assertEqual([g["requestId"] for g in got[:3]], ids)
                for g in got[:3]:
                    self.assertGreater(g["deadlineMs"], time.time() * 1000 - 60000)
                    self.assertTrue(g["invokedFunctionArn"].startswith("arn:aws:lambda:us-east-1:"))
                    self.assertEqual(g["tracing"]["type"], "X-Amzn-Trace-Id")
                self.assertEqual(got[3]["shutdownReason"], "spindown")
                self.assertEqual(emu.summary()["post_invoke_ms"]["count"], 3)
                json.dumps(emu.summary())

    def test_post_invoke_duration_measured(self):
        with emulator("--post-invoke-ms", "300") as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(lambda: None)
            self.assertGreaterEqual(r.post_invoke_ms, 280)
            self.assertLess(r.post_invoke_ms, 1500)
            emu.shutdown()
            self.assertEqual(emu.violations, [])

    def test_invoke_timeout_when_post_invoke_exceeds_deadline(self):
        with emulator("--post-invoke-ms", "800") as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(None, deadline_ms=300)
            self.assertTrue(r.timed_out)
            self.assertIn("invoke-timeout", emu.violation_kinds())
            emu.shutdown()

    def test_exit_timing_and_exit_error(self):
        with emulator("--shutdown-ms", "250", "--exit-error", "Extension.Failing") as emu:
            self.assertTrue(emu.start().ok)
            s = emu.shutdown("timeout")
            self.assertGreaterEqual(s.duration_ms, 240)
            self.assertLess(s.duration_ms, 2000)
            self.assertEqual(s.exit_code, 1)
            self.assertFalse(s.killed)
            self.assertEqual(emu.exit_errors[0]["type"], "Extension.Failing")
            self.assertEqual(emu.exit_errors[0]["body"]["errorMessage"], "failing on exit")
            got = [o["got"] for o in lines(emu) if "got" in o]
            self.assertEqual(got[-1]["shutdownReason"], "timeout")
            self.assertEqual([o["status"] for o in lines(emu) if o.get("milestone") == "exit-error"], [202])
            self.assertEqual(emu.violations, [])

    def test_sigkill_after_2s_when_shutdown_ignored(self):
        with emulator("--ignore-shutdown") as emu:
            self.assertTrue(emu.start().ok)
            emu.invoke(None)
            s = emu.shutdown()
            self.assertTrue(s.killed)
            self.assertTrue(s.delivered)
            self.assertEqual(s.exit_code, -9)
            self.assertGreaterEqual(s.duration_ms, 1990)
            self.assertLess(s.duration_ms, 3000)
            self.assertIn("killed-at-shutdown", emu.violation_kinds())
            self.assertNotIn("Extension.Crash", emu.violation_kinds())


class Registration(unittest.TestCase):
    def test_wrong_name_403(self):
        with emulator("--name", "not-the-file", init_timeout_s=3) as emu:
            init = emu.start()
            self.assertFalse(init.ok)
            self.assertEqual(init.reason, "exited")
            reg = lines(emu)[0]
            self.assertEqual(reg["status"], 403)
            self.assertEqual(reg["body"]["errorType"], "Extension.InvalidExtensionName")
            self.assertIn("register-rejected", emu.violation_kinds())
            self.assertIn("Extension.Crash", emu.violation_kinds())

    def test_repeated_register_403(self):
        with emulator("--register-twice") as emu:
            self.assertTrue(emu.start().ok)
            again = [o for o in lines(emu) if o.get("milestone") == "register-again"][0]
            self.assertEqual(again["status"], 403)
            self.assertEqual(again["body"]["errorType"], "Extension.InvalidExtensionState")
            self.assertEqual(emu.violation_kinds(), ["register-rejected"])
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_bad_register_requests(self):
        with emulator("--never-next", init_timeout_s=5) as emu:
            base = "127.0.0.1", emu.port

            def post(headers, body):
                c = http.client.HTTPConnection(*base, timeout=5)
                c.request("POST", BASE + "/register", body=body, headers=headers)
                r = c.getresponse()
                out = r.status, json.loads(r.read())
                c.close()
                return out

            ok_name = {"Lambda-Extension-Name": "fake_extension.py"}
            self.assertEqual(post({}, '{"events":[]}')[1]["errorType"], "Extension.InvalidExtensionName")
            self.assertEqual(post(ok_name, "{nope"), (403, post(ok_name, "{nope")[1]))
            self.assertEqual(post(ok_name, "{nope")[1]["errorType"], "InvalidRequestFormat")
            st, b = post(ok_name, '{"events":["INVOKE","LOGS"]}')
            self.assertEqual((st, b["errorType"]), (403, "Extension.InvalidEventType"))
            self.assertEqual(emu.identifier, None)

    def test_chunked_framing_on_keepalive_connection(self):
        # Not started: requests come from this raw client, named like the (unstarted) binary.
        with LambdaEmulator("/nonexistent/ext-name", chunked=True, chunk_seed=7) as emu:
            s = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
            f = s.makefile("rb")
            body = b'{"events":["INVOKE","SHUTDOWN"]}'
            # Chunked request body, then a second request on the same connection.
            s.sendall(b"POST %s/register HTTP/1.1\r\nHost: x\r\nLambda-Extension-Name: ext-name\r\n"
                      b"Lambda-Extension-Accept-Feature: foo, accountId\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                      % (BASE.encode(), body[:5], len(body) - 5, body[5:]))
            self.assertEqual(f.readline(), b"HTTP/1.1 200 OK\r\n")
            headers = {}
            while True:
                line = f.readline()
                if line == b"\r\n":
                    break
                k, _, v = line.decode().partition(":")
                headers[k.lower()] = v.strip()
            self.assertEqual(headers["transfer-encoding"], "chunked")
            self.assertNotIn("content-length", headers)
            chunks = []
            while True:
                n = int(f.readline(), 16)
                data = f.read(n)
                self.assertEqual(f.readline(), b"\r\n")
                if n == 0:
                    break
                chunks.append(data)
            self.assertGreater(len(chunks), 2)
            got = json.loads(b"".join(chunks))
            self.assertEqual(got["accountId"], "123456789012")
            self.assertEqual(headers["lambda-extension-identifier"], emu.identifier)
            s.sendall(b"GET %s/event/next HTTP/1.1\r\nHost: x\r\n\r\n" % BASE.encode())
            self.assertEqual(f.readline(), b"HTTP/1.1 403 Forbidden\r\n")
            f.close()
            s.close()
            self.assertEqual(emu.violation_kinds(), ["missing-identifier"])

    def test_identifier_checks(self):
        with emulator("--no-identifier") as emu:
            self.assertTrue(emu.start().ok)
            ms = [o for o in lines(emu) if o.get("milestone") == "next-without-identifier"]
            self.assertEqual(ms[0]["status"], 403)
            emu.thaw()
            for ident, etype in ((None, "Extension.MissingExtensionIdentifier"),
                                 ("xyz", "Extension.InvalidExtensionIdentifier"),
                                 (str(uuid.uuid4()), "Extension.UnknownExtensionIdentifier")):
                c = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
                h = {"Lambda-Extension-Function-Error-Type": "Extension.X"}
                if ident:
                    h["Lambda-Extension-Identifier"] = ident
                c.request("POST", BASE + "/init/error", body="{}", headers=h)
                r = c.getresponse()
                self.assertEqual((r.status, json.loads(r.read())["errorType"]), (403, etype))
                c.close()
            # Missing error-type header with a valid identifier.
            c = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
            c.request("POST", BASE + "/exit/error", body="{}",
                      headers={"Lambda-Extension-Identifier": emu.identifier})
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())["errorType"]), (403, "Extension.MissingHeader"))
            c.close()
            self.assertIn("missing-identifier", emu.violation_kinds())
            self.assertIn("unknown-identifier", emu.violation_kinds())
            self.assertEqual(emu.exit_errors, [])
            self.assertEqual(emu.shutdown().exit_code, 0)

    def test_init_error_recorded(self):
        with emulator("--init-error", "Extension.ConfigInvalid") as emu:
            init = emu.start()
            self.assertFalse(init.ok)
            self.assertEqual(init.reason, "init-error")
            emu.proc.wait(5)
            self.assertEqual(emu.init_errors[0]["type"], "Extension.ConfigInvalid")
            self.assertEqual(emu.init_errors[0]["body"],
                             {"errorMessage": "bad config", "errorType": "Extension.ConfigInvalid",
                              "stackTrace": []})
            self.assertEqual([o["status"] for o in lines(emu) if o.get("milestone") == "init-error"], [202])
            emu.proc.wait(5)
            time.sleep(0.1)
            # Exiting after reporting an init error is not a crash.
            self.assertNotIn("Extension.Crash", emu.violation_kinds())
            self.assertTrue(emu.shutdown("failure").already_exited)

    def test_init_timeout(self):
        with emulator("--never-next", init_timeout_s=0.8) as emu:
            t0 = time.monotonic()
            init = emu.start()
            self.assertFalse(init.ok)
            self.assertEqual(init.reason, "timeout")
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertIn("init-timeout", emu.violation_kinds())
            s = emu.shutdown("failure")
            self.assertTrue(s.killed)  # never polls, so it never sees SHUTDOWN

    def test_exit_before_shutdown_is_crash(self):
        with emulator("--exit-early", "1") as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(None)
            self.assertTrue(r.delivered)
            self.assertFalse(r.timed_out)  # exited instead: no timeout, but a crash
            self.assertEqual(emu.violation_kinds(), ["Extension.Crash"])
            self.assertEqual(emu.exit_code, 0)  # even with code 0
            self.assertTrue(emu.shutdown().already_exited)


class Faults(unittest.TestCase):
    def test_next_500_fault_makes_extension_exit(self):
        with emulator() as emu:
            self.assertTrue(emu.start().ok)
            r = emu.invoke(None, fail_next=500)
            self.assertTrue(r.fault_applied)
            emu.thaw()
            emu.proc.wait(5)
            time.sleep(0.1)
            failed = [o for o in lines(emu) if o.get("milestone") == "next-failed"]
            self.assertEqual(failed[0]["status"], 500)
            self.assertEqual(json.loads(failed[0]["body"])["errorType"], "Extension.InternalError")
            self.assertIn("Extension.Crash", emu.violation_kinds())

    def test_next_500_fault_for_next_arriving_poll(self):
        with emulator("--post-invoke-ms", "200") as emu:
            self.assertTrue(emu.start().ok)
            emu.thaw()
            # The pending poll gets the INVOKE; the error waits for the next poll.
            c_before = len(emu.next_calls)
            r = emu.invoke(lambda: emu.fail_next_event(500))
            self.assertFalse(r.value)  # nothing pending while the fake works
            emu.thaw()
            emu.proc.wait(5)
            self.assertEqual(len(emu.next_calls), c_before + 1)
            self.assertEqual([o["status"] for o in lines(emu) if o.get("milestone") == "next-failed"], [500])

    def test_dropped_connection_during_freeze(self):
        port = free_port()
        with emulator("--port", str(port)) as emu:
            self.assertTrue(emu.start().ok)
            r1 = emu.invoke(lambda: get_json(port), drop_connection=True, freeze_s=0.1)
            self.assertTrue(r1.fault_applied)
            r2 = emu.invoke(lambda: wait_invokes(port, 2))
            self.assertTrue(r2.delivered, emu.stdout())
            self.assertEqual(r2.value[1]["last"], r2.request_id)
            self.assertEqual(emu.shutdown().exit_code, 0)
            self.assertIn("reconnect", [o.get("milestone") for o in lines(emu)])
            self.assertEqual(emu.violations, [])

    def test_concurrent_next_detected(self):
        with emulator() as emu:
            self.assertTrue(emu.start().ok)
            emu.thaw()
            c = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=0.5)
            c.request("GET", BASE + "/event/next", headers={"Lambda-Extension-Identifier": emu.identifier})
            with self.assertRaises(socket.timeout):
                c.getresponse()
            c.close()
            self.assertIn("concurrent-next", emu.violation_kinds())
            # The abandoned poll must not swallow the next event.
            r = emu.invoke(None)
            self.assertTrue(r.delivered)
            self.assertEqual(emu.shutdown().exit_code, 0)


class ManagedInstances(unittest.TestCase):
    def test_no_freeze_and_shutdown_only(self):
        port = free_port()
        with emulator("--port", str(port), managed_instances=True) as emu:
            self.assertTrue(emu.start().ok)
            self.assertFalse(emu.frozen)
            self.assertEqual(emu.registered_events, ["SHUTDOWN"])
            for _ in range(3):
                r = emu.invoke(lambda: get_json(port), freeze_s=0.05)
                self.assertFalse(emu.frozen)
                self.assertNotEqual(process_state(emu.pid), "T")
                self.assertEqual(r.value, (200, {"invokes": 0, "last": None}))
            s = emu.shutdown()
            self.assertEqual(s.exit_code, 0)
            self.assertEqual(emu.violations, [])
            self.assertEqual(emu.total_frozen_s, 0.0)

    def test_invoke_registration_rejected(self):
        with emulator("--events", "INVOKE,SHUTDOWN", managed_instances=True, init_timeout_s=3) as emu:
            init = emu.start()
            self.assertFalse(init.ok)
            reg = lines(emu)[0]
            self.assertEqual(reg["status"], 403)
            self.assertEqual(reg["body"]["errorType"], "Extension.InvalidEventType")


class Cli(unittest.TestCase):
    def test_cli_summary(self):
        import subprocess
        port = free_port()
        out = subprocess.run(
            [sys.executable, os.path.join(os.path.dirname(FAKE), "lambda_api.py"), "--binary", FAKE,
             "--interpreter", sys.executable, "--arg=--port", "--arg=%d" % port, "--invokes", "3", "--freeze-ms", "20", "--chunked",
             "--read", "http://127.0.0.1:%d/" % port],
            capture_output=True, text=True, timeout=20,
            env=dict(os.environ))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        s = json.loads(out.stdout)
        self.assertTrue(s["init"]["ok"])
        self.assertEqual(len(s["invokes"]), 3)
        self.assertEqual(s["shutdown"]["exit_code"], 0)
        self.assertEqual(s["violations"], [])
        self.assertEqual([[x["status"] for x in r] for r in s["reads"]], [[200]] * 3)


if __name__ == "__main__":
    unittest.main()
