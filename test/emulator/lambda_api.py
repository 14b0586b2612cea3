#!/usr/bin/env python3
"""Lambda Extensions API emulator (Python standard library only).

A test peer for appconfig-extension, independent of the C++ code. It behaves
like AWS's Runtime Interface Emulator (RIE) and the Lambda service towards ONE
external extension process (spec section 3): it serves the Extensions API on
127.0.0.1:<free port>, starts the extension with AWS_LAMBDA_RUNTIME_API pointing
at itself, drives Init -> Invoke* -> Shutdown, freezes the process (SIGSTOP)
between invokes, and records timings and protocol violations.

Class API (for unittest-based integration tests)
------------------------------------------------
    from lambda_api import LambdaEmulator

    with LambdaEmulator("/path/to/appconfig-extension", env={"K": "V"}) as emu:
        init = emu.start(runtime_init=lambda: read_port_2772())   # InitResult
        assert init.ok, init.reason
        r = emu.invoke(lambda: http_get("localhost:2772/..."), deadline_ms=3000,
                       freeze_s=0.5)                               # InvokeResult
        r.value            # what the function returned
        r.post_invoke_ms   # PostRuntimeExtensionsDuration
        s = emu.shutdown("spindown")                               # ShutdownResult
        assert s.exit_code == 0 and not s.killed
        assert emu.violations == []

  LambdaEmulator(binary, env=None, *, name=None, args=(), interpreter=(),
                 managed_instances=False, chunked=False, chunk_seed=None,
                 inherit_env=False, log_dir=None, init_timeout_s=10.0,
                 shutdown_budget_ms=2000, function_name="appconfig-test-fn",
                 function_version="$LATEST", handler="index.handler",
                 account_id="123456789012", region="us-east-1", memory_mb=128)
      binary       executable to start; its basename is the name it must register
                   with (override with name=, e.g. to model a wrong layer layout).
      interpreter  argv prefix, e.g. [sys.executable] for a Python script.
      env          extra environment for the child (value None removes a key).
                   The child gets a Lambda-like environment (AWS_REGION,
                   AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_INITIALIZATION_TYPE, ...,
                   AWS_LAMBDA_RUNTIME_API) and, unless inherit_env, no other
                   variables from the test process except PATH.
      managed_instances  AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances:
                   INVOKE registration is rejected (403 Extension.InvalidEventType),
                   the process is never frozen and invoke() sends no INVOKE event.
      chunked      answer /register and /event/next with Transfer-Encoding:
                   chunked, split at random points (seed in emu.chunk_seed).

  emu.start(runtime_init=None) -> InitResult
      Starts the process and runs the Init phase: waits for /register, then runs
      runtime_init() (the "runtime's init"; it may talk to the extension), then
      waits for the first /event/next, which ends the extension's init. The whole
      phase has init_timeout_s (10 s like Lambda); a timeout, an /init/error or an
      exit is an init failure (InitResult.ok False, .reason says which). On
      success the sandbox is FROZEN until the first invoke (on-demand mode).
  emu.invoke(fn=None, deadline_ms=3000, freeze_s=0.0, drop_connection=False,
             fail_next=None) -> InvokeResult
      Thaws, queues INVOKE, waits until the extension received it, runs fn(),
      waits until the extension calls /event/next again ("done"), records the
      post-invoke duration, then FREEZES the process and keeps it frozen for
      freeze_s (it stays frozen until the next invoke/shutdown/thaw()).
      drop_connection=True closes the socket of the pending /event/next while
      frozen (the connection "breaks during a freeze"); fail_next=500 makes that
      pending /event/next answer with that status while frozen (r.fault_applied
      is True when the pending poll took the fault).
      If fn raises, the sandbox is still frozen as usual and the exception
      propagates. If the extension does not call /event/next before the
      deadline, r.timed_out is True and a violation "invoke-timeout" is recorded.
  emu.shutdown(reason="spindown") -> ShutdownResult
      Thaws, queues SHUTDOWN {"shutdownReason": reason, "deadlineMs": now+2000},
      waits for the exit, SIGKILLs past shutdown_budget_ms (2,000 ms; .killed).
  Fault switches (any time):
      emu.fail_next_event(status=500)  the next /event/next (the pending one, if
                                       any, else the next to arrive) answers status
      emu.drop_next_event()            the next /event/next (pending or arriving)
                                       gets its socket closed without an answer
  Other: emu.freeze(), emu.thaw(), emu.frozen, emu.pid, emu.port,
      emu.runtime_api ("127.0.0.1:port"), emu.stdout(), emu.stderr(),
      emu.stdout_path, emu.stderr_path, emu.summary() (JSON-able dict),
      emu.close() (kills the child if still alive, stops the server).
  Records:
      emu.violations    list of {"kind", "detail", "t_ms"} (t_ms since exec). Kinds:
          "Extension.Crash"         exit before SHUTDOWN without an error report
          "concurrent-next"         a second /event/next while one is pending
          "missing-identifier"      request without Lambda-Extension-Identifier
          "unknown-identifier"      malformed or unknown identifier
          "register-rejected"       any 403 on /register (wrong name, twice, ...)
          "event-lost"              an event could not be written (re-queued)
          "event-delivered-twice"   one requestId written twice
          "invoke-not-received"     INVOKE not fetched before its deadline
          "invoke-timeout"          no /event/next after the INVOKE before deadline
          "init-timeout"            Init phase longer than init_timeout_s
          "killed-at-shutdown"      still alive 2,000 ms after SHUTDOWN
          "request-after-shutdown"  Extensions API request after SHUTDOWN
      emu.init_errors / emu.exit_errors  list of {"type", "body", "t_ms"}
          (body is the parsed JSON, or the raw text if it is not JSON)
      emu.events_delivered  list of (eventType, requestId or None, t_ms)
      emu.next_calls        monotonic times (s) of every accepted /event/next
      emu.t_exec / t_register / t_first_next / t_exit  monotonic seconds

Choices where the public record is silent (documented in
docs/testing-lambda-emulator.md): error types follow RIE's constants
(Extension.InvalidExtensionName, Extension.InvalidExtensionState for a second
register, Extension.RegistrationClosed, Extension.InvalidEventType,
InvalidRequestFormat, Extension.MissingExtensionIdentifier,
Extension.InvalidExtensionIdentifier, Extension.UnknownExtensionIdentifier,
Extension.MissingHeader), all with status 403; an exit after /init/error or
/exit/error is recorded in exit_info but is not an Extension.Crash violation.

CLI: python3 test/emulator/lambda_api.py --binary PATH [--invokes 20]
     [--freeze-ms 100] [--deadline-ms 3000] [--read http://localhost:2772/...]
     [--env K=V ...] [--arg=ARG ...] [--interpreter PROG] [--managed-instances]
     [--chunked] [--seed N] [--reason spindown] [--log-dir DIR]
prints a JSON summary on stdout; exit status 0 when there were no violations.
"""

import argparse
import collections
import http.client
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = "/2020-01-01/extension"
# Lambda: the whole Init phase (all extensions + runtime init) has 10 s.
INIT_TIMEOUT_S = 10.0
# Lambda: after SHUTDOWN, external extensions get at most 2,000 ms in total.
SHUTDOWN_BUDGET_MS = 2000
# How long freeze() waits for the kernel to stop every thread after SIGSTOP.
FREEZE_SETTLE_S = 1.0
# How often a pending /event/next checks whether its client went away.
PEER_POLL_S = 0.05
# Upper bound on a request body we accept (RIE has no documented limit; 1 MiB is plenty
# for register/error bodies and keeps a broken client from exhausting memory).
MAX_BODY_BYTES = 1 << 20

_DROP = object()  # queue item: close the /event/next socket without an answer


class _Error:
    """Queue item: answer /event/next with an error status."""

    def __init__(self, status, error_type="Extension.InternalError", message="injected fault"):
        self.status = status
        self.body = {"errorMessage": message, "errorType": error_type}


class InitResult:
    def __init__(self, **kw):
        self.ok = False
        self.reason = None           # None | "timeout" | "init-error" | "exited" | "register-timeout"
        self.register_ms = None      # exec -> successful /register
        self.init_overhead_ms = None  # exec -> first /event/next
        self.runtime_init_ms = None
        self.runtime_init_value = None
        self.__dict__.update(kw)

    def as_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "InitResult(%r)" % self.__dict__


class InvokeResult:
    def __init__(self, **kw):
        self.request_id = None
        self.value = None
        self.delivered = False
        self.delivery_ms = None      # queue -> written to the extension
        self.fn_ms = None            # duration of fn()
        self.post_invoke_ms = None   # fn done -> extension's next /event/next (0 if earlier)
        self.duration_ms = None      # queue -> extension's next /event/next
        self.timed_out = False
        self.frozen_s = 0.0
        self.__dict__.update(kw)

    def as_dict(self):
        d = dict(self.__dict__)
        d.pop("value", None)
        return d

    def __repr__(self):
        return "InvokeResult(%r)" % self.as_dict()


class ShutdownResult:
    def __init__(self, **kw):
        self.exit_code = None
        self.duration_ms = None      # SHUTDOWN queued -> process exit
        self.killed = False
        self.delivered = False
        self.already_exited = False
        self.__dict__.update(kw)

    def as_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "ShutdownResult(%r)" % self.__dict__


def _is_uuid(s):
    try:
        return str(uuid.UUID(s)) == s.lower() and len(s) == 36
    except (ValueError, AttributeError):
        return False


def _task_states(pid):
    states = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return states


def _wait_stopped(pid, timeout_s):
    """Waits until every thread of pid is stopped (state T/t); False on timeout or exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = _task_states(pid)
        if not states or any(s in ("Z", "X") for s in states):
            return False
        if all(s in ("T", "t") for s in states):
            return True
        time.sleep(0.001)
    return False


def _peer_closed(sock):
    """True when the client closed (or reset) its side of a connection we are holding."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like RIE's Go server
    server_version = "LambdaEmulator"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def version_string(self):
        return self.server_version

    # -- plumbing -------------------------------------------------------------------
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY_BYTES:
                    raise ConnectionError("body too large")
                out += self.rfile.read(size)
                self.rfile.readline(1024)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY_BYTES:
            raise ConnectionError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _send(self, status, obj=None, headers=None, chunked=False):
        emu = self.server.emu
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if chunked and body:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            pos = 0
            while pos < len(body):
                n = emu._rng_chunk(len(body) - pos)
                piece = body[pos:pos + n]
                pos += n
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()

    def _err(self, status, error_type, message):
        self._send(status, {"errorMessage": message, "errorType": error_type})

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, OSError, ValueError):
            self.close_connection = True

    # -- routing --------------------------------------------------------------------
    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")

    def _route(self, method):
        emu = self.server.emu
        try:
            body = self._read_body()
        except (ConnectionError, ValueError):
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        routes = {
            BASE + "/register": ("POST", emu._h_register),
            BASE + "/event/next": ("GET", emu._h_next),
            BASE + "/init/error": ("POST", emu._h_init_error),
            BASE + "/exit/error": ("POST", emu._h_exit_error),
        }
        if path not in routes:
            self._err(404, "InvalidRequestFormat", "no route for %s %s" % (method, path))
            return
        want, fn = routes[path]
        if method != want:
            self._err(405, "InvalidRequestFormat", "method %s not allowed" % method)
            return
        emu._note_request(path)
        fn(self, body)


class LambdaEmulator:
    def __init__(self, binary, env=None, *, name=None, args=(), interpreter=(),
                 managed_instances=False, chunked=False, chunk_seed=None,
                 inherit_env=False, log_dir=None, init_timeout_s=INIT_TIMEOUT_S,
                 shutdown_budget_ms=SHUTDOWN_BUDGET_MS, function_name="appconfig-test-fn",
                 function_version="$LATEST", handler="index.handler",
                 account_id="123456789012", region="us-east-1", memory_mb=128):
        self.binary = os.path.abspath(binary)
        self.name = name if name is not None else os.path.basename(binary)
        self.args = list(args)
        self.interpreter = list(interpreter)
        self.extra_env = dict(env or {})
        self.managed_instances = managed_instances
        self.chunked = chunked
        self.chunk_seed = chunk_seed if chunk_seed is not None else random.randrange(1 << 30)
        self._rng = random.Random(self.chunk_seed)
        self.inherit_env = inherit_env
        self.init_timeout_s = init_timeout_s
        self.shutdown_budget_ms = shutdown_budget_ms
        self.function_name = function_name
        self.function_version = function_version
        self.handler = handler
        self.account_id = account_id
        self.region = region
        self.memory_mb = memory_mb
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="lambda-emu-")
        self.stdout_path = os.path.join(self.log_dir, "extension.stdout")
        self.stderr_path = os.path.join(self.log_dir, "extension.stderr")

        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._pending = set()         # handlers blocked in /event/next
        self._done_index = {}         # requestId -> index in next_calls of its "done" poll
        self.identifier = None
        self.registered_events = None
        self.register_attempts = 0
        self.violations = []
        self.init_errors = []
        self.exit_errors = []
        self.events_delivered = []
        self._delivered_count = collections.Counter()
        self.next_calls = []
        self.requests = collections.Counter()
        self.t_exec = self.t_register = self.t_first_next = self.t_exit = None
        self.init_done = False
        self.shutdown_queued = False
        self.shutdown_delivered = False
        self.exit_code = None
        self.exit_info = None
        self.proc = None
        self.frozen = False
        self._frozen_since = None
        self.total_frozen_s = 0.0
        self.init_result = None
        self.invokes = []
        self.shutdown_result = None
        self._closing = False

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.emu = self
        self.port = self.server.server_address[1]
        self.runtime_api = "127.0.0.1:%d" % self.port
        self._server_thread = threading.Thread(target=self.server.serve_forever,
                                               kwargs={"poll_interval": 0.05}, daemon=True)
        self._server_thread.start()

    # ---------------------------------------------------------------- helpers
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _ms(self, t):
        return None if t is None or self.t_exec is None else round((t - self.t_exec) * 1000.0, 3)

    def _violation(self, kind, detail=""):
        # Caller may or may not hold the lock; Condition's lock is re-entrant (RLock).
        with self._cond:
            self.violations.append({"kind": kind, "detail": detail,
                                    "t_ms": self._ms(time.monotonic())})
            self._cond.notify_all()

    def violation_kinds(self):
        with self._cond:
            return [v["kind"] for v in self.violations]

    def _rng_chunk(self, remaining):
        with self._cond:
            return max(1, min(remaining, self._rng.choice((1, 2, 3, 7, 16, 64, 1000))))

    def _note_request(self, path):
        with self._cond:
            self.requests[path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]] += 1
            if self.shutdown_delivered and not path.endswith("/exit/error"):
                self.violations.append({"kind": "request-after-shutdown", "detail": path,
                                        "t_ms": self._ms(time.monotonic())})

    def _check_identifier(self, h):
        ident = h.headers.get("Lambda-Extension-Identifier")
        if not ident:
            self._violation("missing-identifier", h.path)
            h._err(403, "Extension.MissingExtensionIdentifier",
                   "Missing Lambda-Extension-Identifier header")
            return False
        if not _is_uuid(ident):
            self._violation("unknown-identifier", "malformed %r" % ident)
            h._err(403, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
            return False
        with self._cond:
            known = ident == self.identifier
        if not known:
            self._violation("unknown-identifier", ident)
            h._err(403, "Extension.UnknownExtensionIdentifier", "Unknown extension " + ident)
            return False
        return True

    # ---------------------------------------------------------------- handlers
    def _h_register(self, h, body):
        name = h.headers.get("Lambda-Extension-Name") or ""
        with self._cond:
            self.register_attempts += 1

        def reject(error_type, message):
            self._violation("register-rejected", "%s: %s" % (error_type, message))
            h._err(403, error_type, message)

        if not name:
            return reject("Extension.InvalidExtensionName", "Empty extension name")
        try:
            req = json.loads(body.decode("utf-8") if body else "")
            if not isinstance(req, dict):
                raise ValueError("register body is not a JSON object")
            if req.get("configurationKeys"):
                raise ValueError("configurationKeys are deprecated; use environment variables instead")
        except (ValueError, UnicodeDecodeError) as e:
            return reject("InvalidRequestFormat", str(e))
        events = req.get("events", [])
        if not isinstance(events, list):
            return reject("InvalidRequestFormat", "events must be a list")
        for e in events:
            if e not in ("INVOKE", "SHUTDOWN"):
                return reject("Extension.InvalidEventType", "%s: invalid event type" % (e,))
            if e == "INVOKE" and self.managed_instances:
                return reject("Extension.InvalidEventType",
                              "INVOKE: event type not supported on Lambda Managed Instances")
        if name != self.name:
            return reject("Extension.InvalidExtensionName",
                          "no extension named %r in /opt/extensions (expected %r)" % (name, self.name))
        with self._cond:
            if self.identifier is not None:
                return reject("Extension.InvalidExtensionState",
                              "State transition from Registered to Registered failed for extension "
                              "%s. Error: already registered" % name)
            if self.init_done or self.t_first_next is not None:
                return reject("Extension.RegistrationClosed", "Extension registration closed already")
            self.identifier = str(uuid.uuid4())
            self.registered_events = list(events)
            self.t_register = time.monotonic()
            ident = self.identifier
            self._cond.notify_all()
        resp = {"functionName": self.function_name, "functionVersion": self.function_version,
                "handler": self.handler}
        features = [f.strip() for f in (h.headers.get("Lambda-Extension-Accept-Feature") or "").split(",")]
        if "accountId" in features:
            resp["accountId"] = self.account_id
        h._send(200, resp, {"Lambda-Extension-Identifier": ident}, chunked=self.chunked)

    def _record_error(self, h, body, store):
        if not self._check_identifier(h):
            return
        etype = h.headers.get("Lambda-Extension-Function-Error-Type")
        if not etype:
            h._err(403, "Extension.MissingHeader", "Missing Lambda-Extension-Function-Error-Type header")
            return
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = body.decode("utf-8", "replace")
        with self._cond:
            store.append({"type": etype, "body": parsed, "t_ms": self._ms(time.monotonic())})
            self._cond.notify_all()
        h._send(202, {"status": "OK"})

    def _h_init_error(self, h, body):
        self._record_error(h, body, self.init_errors)

    def _h_exit_error(self, h, body):
        self._record_error(h, body, self.exit_errors)

    def _h_next(self, h, _body):
        if not self._check_identifier(h):
            return
        sock = h.connection
        with self._cond:
            now = time.monotonic()
            for other in list(self._pending):
                if _peer_closed(other.connection):
                    self._pending.discard(other)
            if self._pending:
                self.violations.append({"kind": "concurrent-next",
                                        "detail": "%d already pending" % len(self._pending),
                                        "t_ms": self._ms(now)})
            self.next_calls.append(now)
            if self.t_first_next is None:
                self.t_first_next = now
            self._pending.add(h)
            self._cond.notify_all()
            item = None
            while True:
                if h not in self._pending or _peer_closed(sock):
                    # The client gave up on this poll; checked before popping so that an
                    # event is not written into a dead connection.
                    self._pending.discard(h)
                    self._cond.notify_all()
                    h.close_connection = True
                    return
                if self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, dict) and item.get("requestId"):
                        # Index of the poll that will say "done with this invoke": the
                        # extension cannot call /next again before it has this event.
                        self._done_index[item["requestId"]] = len(self.next_calls)
                    break
                if self._closing:
                    item = _DROP
                    break
                self._cond.wait(PEER_POLL_S)
            self._pending.discard(h)
            self._cond.notify_all()
        if item is _DROP:
            h.close_connection = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            with self._cond:
                self._dropped = getattr(self, "_dropped", 0) + 1
                self._cond.notify_all()
            return
        if isinstance(item, _Error):
            try:
                h._send(item.status, item.body)
            except OSError:
                h.close_connection = True
            with self._cond:
                self._errors_sent = getattr(self, "_errors_sent", 0) + 1
                self._cond.notify_all()
            return
        try:
            h._send(200, item, chunked=self.chunked)
        except OSError as e:
            with self._cond:
                self._queue.appendleft(item)  # deliver it on the extension's next poll
                self.violations.append({"kind": "event-lost", "detail": "%s %s: %s" % (
                    item["eventType"], item.get("requestId"), e), "t_ms": self._ms(time.monotonic())})
                self._cond.notify_all()
            h.close_connection = True
            return
        with self._cond:
            key = item.get("requestId") or item["eventType"]
            self._delivered_count[key] += 1
            if self._delivered_count[key] > 1:
                self.violations.append({"kind": "event-delivered-twice", "detail": key,
                                        "t_ms": self._ms(time.monotonic())})
            self.events_delivered.append((item["eventType"], item.get("requestId"),
                                          self._ms(time.monotonic())))
            if item["eventType"] == "SHUTDOWN":
                self.shutdown_delivered = True
            self._cond.notify_all()

    # ---------------------------------------------------------------- process control
    def _child_env(self):
        env = dict(os.environ) if self.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update({
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": self.function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/" + self.function_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]" + uuid.uuid4().hex,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances" if self.managed_instances
            else "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
        })
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def _watch(self):
        code = self.proc.wait()
        with self._cond:
            self.t_exit = time.monotonic()
            self.exit_code = code
            reported = bool(self.init_errors or self.exit_errors)
            self.exit_info = {"code": code, "t_ms": self._ms(self.t_exit),
                              "after_shutdown": self.shutdown_queued,
                              "after_error_report": reported}
            if not self.shutdown_queued and not reported:
                self.violations.append({"kind": "Extension.Crash",
                                        "detail": "exited with %s before SHUTDOWN" % code,
                                        "t_ms": self._ms(self.t_exit)})
            self.frozen = False
            self._cond.notify_all()

    def _wait(self, pred, deadline):
        """Waits (holding the lock) until pred() or the monotonic deadline; returns pred()."""
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                return pred()
            self._cond.wait(min(left, 0.05))
        return True

    def alive(self):
        return self.proc is not None and self.exit_code is None

    def start(self, runtime_init=None):
        if self.proc is not None:
            raise RuntimeError("already started")
        self.stdout_file = open(self.stdout_path, "wb")
        self.stderr_file = open(self.stderr_path, "wb")
        argv = self.interpreter + [self.binary] + self.args
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen(argv, env=self._child_env(), stdin=subprocess.DEVNULL,
                                     stdout=self.stdout_file, stderr=self.stderr_file,
                                     cwd="/")
        threading.Thread(target=self._watch, daemon=True).start()
        deadline = self.t_exec + self.init_timeout_s
        res = InitResult()
        with self._cond:
            self._wait(lambda: self.identifier is not None or self.exit_code is not None
                       or self.init_errors, deadline)
            if self.identifier is None:
                res.reason = ("init-error" if self.init_errors else
                              "exited" if self.exit_code is not None else "register-timeout")
                if res.reason == "register-timeout":
                    self.violations.append({"kind": "init-timeout", "detail": "no /register",
                                            "t_ms": self._ms(time.monotonic())})
                self.init_result = res
                return res
            res.register_ms = self._ms(self.t_register)
        if runtime_init is not None:
            t0 = time.monotonic()
            res.runtime_init_value = runtime_init()
            res.runtime_init_ms = round((time.monotonic() - t0) * 1000.0, 3)
        with self._cond:
            self._wait(lambda: self.t_first_next is not None or self.exit_code is not None
                       or self.init_errors, deadline)
            if self.init_errors:
                res.reason = "init-error"
            elif self.t_first_next is None and self.exit_code is not None:
                res.reason = "exited"
            elif self.t_first_next is None:
                res.reason = "timeout"
                self.violations.append({"kind": "init-timeout",
                                        "detail": "no /event/next within %.1f s" % self.init_timeout_s,
                                        "t_ms": self._ms(time.monotonic())})
            else:
                res.ok = True
                res.init_overhead_ms = self._ms(self.t_first_next)
                self.init_done = True
            self.init_result = res
        if res.ok and not self.managed_instances:
            self.freeze()
        return res

    def freeze(self):
        """SIGSTOP the extension (the whole sandbox freezes while everyone waits on /next)."""
        with self._cond:
            if self.frozen or not self.alive() or self.managed_instances:
                return
            try:
                os.kill(self.proc.pid, signal.SIGSTOP)
            except ProcessLookupError:  # reaped by _watch, which has not taken the lock yet
                return
            self.frozen = True
            self._frozen_since = time.monotonic()
            pid = self.proc.pid
        # SIGSTOP is asynchronous; Lambda's freeze is not. Return once every thread is stopped.
        _wait_stopped(pid, FREEZE_SETTLE_S)

    def thaw(self):
        with self._cond:
            if not self.frozen:
                return 0.0
            self.frozen = False
            frozen_s = time.monotonic() - self._frozen_since
            self.total_frozen_s += frozen_s
            if self.alive():
                try:
                    os.kill(self.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            return frozen_s

    # ---------------------------------------------------------------- fault switches
    def fail_next_event(self, status=500, error_type="Extension.InternalError", message="injected fault",
                        wait_s=1.0):
        """The next /event/next (pending now, or the next to arrive) answers `status`.

        Returns True if a pending poll consumed it within wait_s."""
        with self._cond:
            self._queue.appendleft(_Error(status, error_type, message))
            before = getattr(self, "_errors_sent", 0)
            self._cond.notify_all()
            if not self._pending:
                return False
            return self._wait(lambda: getattr(self, "_errors_sent", 0) > before,
                              time.monotonic() + wait_s)

    def drop_next_event(self, wait_s=1.0):
        """Closes the socket of the pending /event/next (or of the next to arrive) unanswered.

        Returns True if a pending poll was dropped within wait_s."""
        with self._cond:
            self._queue.appendleft(_DROP)
            before = getattr(self, "_dropped", 0)
            self._cond.notify_all()
            if not self._pending:
                return False
            return self._wait(lambda: getattr(self, "_dropped", 0) > before,
                              time.monotonic() + wait_s)

    # ---------------------------------------------------------------- phases
    def _trace_header(self):
        return "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), uuid.uuid4().hex[:24],
                                                         uuid.uuid4().hex[:16])

    def invoke(self, fn=None, deadline_ms=3000, freeze_s=0.0, drop_connection=False, fail_next=None):
        if self.init_result is None or not self.init_result.ok:
            raise RuntimeError("invoke() needs a successful start()")
        res = InvokeResult()
        res.thawed_after_s = round(self.thaw(), 6)
        wants_invoke = (not self.managed_instances and self.registered_events is not None
                        and "INVOKE" in self.registered_events)
        t0 = time.monotonic()
        deadline = t0 + deadline_ms / 1000.0
        rid = str(uuid.uuid4())
        res.request_id = rid
        if wants_invoke and self.alive():
            event = {"eventType": "INVOKE",
                     "deadlineMs": int(time.time() * 1000) + int(deadline_ms),
                     "requestId": rid,
                     "invokedFunctionArn": "arn:aws:lambda:%s:%s:function:%s" % (
                         self.region, self.account_id, self.function_name),
                     "tracing": {"type": "X-Amzn-Trace-Id", "value": self._trace_header()}}
            with self._cond:
                self._queue.append(event)
                self._cond.notify_all()
                res.delivered = self._wait(lambda: self._delivered_count[rid] > 0 or not self.alive(),
                                           deadline) and self._delivered_count[rid] > 0
                t_deliv = time.monotonic()
                n_calls = self._done_index.get(rid, len(self.next_calls))
                if not res.delivered:
                    if self.alive():
                        self.violations.append({"kind": "invoke-not-received", "detail": rid,
                                                "t_ms": self._ms(t_deliv)})
                    try:
                        self._queue.remove(event)
                    except ValueError:
                        pass
                res.delivery_ms = round((t_deliv - t0) * 1000.0, 3)
        error = None
        t_fn = time.monotonic()
        if fn is not None:
            try:
                res.value = fn()
            except BaseException as e:  # re-raised after the sandbox is frozen again
                error = e
        t_fn_done = time.monotonic()
        res.fn_ms = round((t_fn_done - t_fn) * 1000.0, 3)
        if wants_invoke and res.delivered:
            with self._cond:
                done = self._wait(lambda: len(self.next_calls) > n_calls or not self.alive(), deadline)
                done = len(self.next_calls) > n_calls
                if done:
                    t_next = self.next_calls[n_calls]
                    res.post_invoke_ms = round(max(0.0, t_next - t_fn_done) * 1000.0, 3)
                    res.duration_ms = round((t_next - t0) * 1000.0, 3)
                elif self.alive():
                    res.timed_out = True
                    self.violations.append({"kind": "invoke-timeout", "detail": rid,
                                            "t_ms": self._ms(time.monotonic())})
        else:
            res.duration_ms = round((time.monotonic() - t0) * 1000.0, 3)
        self.freeze()
        if self.frozen:
            if fail_next is not None:
                res.fault_applied = self.fail_next_event(fail_next)
            if drop_connection:
                res.fault_applied = self.drop_next_event()
            if freeze_s > 0:
                time.sleep(freeze_s)
            res.frozen_s = freeze_s
        self.invokes.append(res)
        if error is not None:
            raise error
        return res

    def shutdown(self, reason="spindown"):
        res = ShutdownResult(reason=reason)
        if self.proc is None:
            raise RuntimeError("shutdown() before start()")
        with self._cond:
            if self.exit_code is not None:
                res.already_exited = True
                res.exit_code = self.exit_code
                self.shutdown_result = res
                return res
        self.thaw()
        t0 = time.monotonic()
        budget_s = self.shutdown_budget_ms / 1000.0
        with self._cond:
            self.shutdown_queued = True
            if self.registered_events is not None and "SHUTDOWN" in self.registered_events:
                self._queue.append({"eventType": "SHUTDOWN", "shutdownReason": reason,
                                    "deadlineMs": int(time.time() * 1000) + self.shutdown_budget_ms})
                self._cond.notify_all()
                self._wait(lambda: self.exit_code is not None, t0 + budget_s)
            res.delivered = self.shutdown_delivered
        if self.exit_code is None:
            res.killed = True
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            with self._cond:
                self._wait(lambda: self.exit_code is not None, time.monotonic() + 5)
                self.violations.append({"kind": "killed-at-shutdown",
                                        "detail": "alive %d ms after SHUTDOWN" % self.shutdown_budget_ms,
                                        "t_ms": self._ms(time.monotonic())})
        res.exit_code = self.exit_code
        res.duration_ms = round(((self.t_exit or time.monotonic()) - t0) * 1000.0, 3)
        self.shutdown_result = res
        return res

    def close(self):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.server.shutdown()
        self.server.server_close()
        for f in ("stdout_file", "stderr_file"):
            if hasattr(self, f):
                getattr(self, f).close()

    # ---------------------------------------------------------------- reports
    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def summary(self):
        with self._cond:
            post = [r.post_invoke_ms for r in self.invokes if r.post_invoke_ms is not None]
            post_sorted = sorted(post)
            return {
                "binary": self.binary, "name": self.name, "runtime_api": self.runtime_api,
                "managed_instances": self.managed_instances, "chunked": self.chunked,
                "chunk_seed": self.chunk_seed,
                "init": self.init_result.as_dict() if self.init_result else None,
                "registered_events": self.registered_events,
                "invokes": [r.as_dict() for r in self.invokes],
                "post_invoke_ms": {
                    "count": len(post),
                    "p50": post_sorted[len(post) // 2] if post else None,
                    "max": post_sorted[-1] if post else None,
                },
                "shutdown": self.shutdown_result.as_dict() if self.shutdown_result else None,
                "exit": self.exit_info,
                "total_frozen_s": round(self.total_frozen_s, 3),
                "requests": dict(self.requests),
                "init_errors": list(self.init_errors),
                "exit_errors": list(self.exit_errors),
                "violations": list(self.violations),
                "stdout_path": self.stdout_path, "stderr_path": self.stderr_path,
            }


# ------------------------------------------------------------------------- CLI
def _http_get(url, timeout_s=5.0):
    from urllib.parse import urlsplit
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", (u.path or "/") + ("?" + u.query if u.query else ""))
        r = conn.getresponse()
        body = r.read()
        return {"status": r.status, "bytes": len(body)}
    except OSError as e:
        return {"error": str(e)}
    finally:
        conn.close()


def main(argv=None):
    p = argparse.ArgumentParser(description="Run an extension binary under a Lambda Extensions API emulator.")
    p.add_argument("--binary", required=True)
    p.add_argument("--name", help="registration name expected (default: basename of --binary)")
    p.add_argument("--interpreter", action="append", default=[], help="argv prefix (repeatable)")
    p.add_argument("--arg", action="append", default=[],
                   help="argument for the binary (repeatable; use --arg=--flag for dashes)")
    p.add_argument("--invokes", type=int, default=3)
    p.add_argument("--freeze-ms", type=float, default=100.0)
    p.add_argument("--deadline-ms", type=int, default=3000)
    p.add_argument("--read", action="append", default=[], help="URL the function GETs on each invoke")
    p.add_argument("--init-read", action="append", default=[], help="URL the runtime init GETs")
    p.add_argument("--env", action="append", default=[], help="K=V for the extension (repeatable)")
    p.add_argument("--managed-instances", action="store_true")
    p.add_argument("--chunked", action="store_true")
    p.add_argument("--seed", type=int)
    p.add_argument("--reason", default="spindown")
    p.add_argument("--log-dir")
    a = p.parse_args(argv)
    env = {}
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v

    def fn():
        return [_http_get(u) for u in a.read]

    def init_fn():
        return [_http_get(u) for u in a.init_read]

    with LambdaEmulator(a.binary, env, name=a.name, interpreter=a.interpreter, args=a.arg,
                        managed_instances=a.managed_instances, chunked=a.chunked,
                        chunk_seed=a.seed, log_dir=a.log_dir) as emu:
        init = emu.start(runtime_init=init_fn if a.init_read else None)
        reads = []
        if init.ok:
            for _ in range(a.invokes):
                r = emu.invoke(fn, deadline_ms=a.deadline_ms, freeze_s=a.freeze_ms / 1000.0)
                reads.append(r.value)
                if not emu.alive():
                    break
        emu.shutdown(a.reason if init.ok else "failure")
        out = emu.summary()
        out["reads"] = reads
        print(json.dumps(out, indent=2))
        return 0 if init.ok and not out["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
