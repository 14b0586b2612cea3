#!/usr/bin/env python3
"""A minimal, well-behaved Lambda extension (standard library only), used to self-test
lambda_api.py. By default it registers for INVOKE and SHUTDOWN under the basename of
this file, loops on /event/next with no client timeout, and exits 0 on SHUTDOWN.

Every event it receives is printed to stdout as one JSON line {"got": event}; other
milestones as {"milestone": ...}. Options make it misbehave so the emulator's checks
can be tested:
  --name NAME           register under NAME (wrong name -> 403)
  --register-twice      register a second time after success (-> 403), then carry on
  --events LIST         comma-separated events (default INVOKE,SHUTDOWN; managed-instances
                        mode registers SHUTDOWN only unless --events is given)
  --account-id          send Lambda-Extension-Accept-Feature: accountId
  --init-error TYPE     post /init/error with TYPE, then exit 1
  --exit-error TYPE     on SHUTDOWN post /exit/error with TYPE before exiting
  --exit-early N        exit 0 after N invokes without waiting for SHUTDOWN (N=0: right
                        after register)
  --never-next          register, then sleep forever (never call /event/next)
  --ignore-shutdown     on SHUTDOWN, sleep forever
  --post-invoke-ms MS   work MS after each INVOKE before the next /event/next
  --shutdown-ms MS      work MS after SHUTDOWN before exiting
  --no-identifier       call /event/next without the identifier header (once, then normally)
  --port PORT           serve GET / on 127.0.0.1:PORT -> {"invokes": n, "last": requestId}
A dropped /event/next connection (EOF or reset before any response byte) is retried on a
new connection; any non-200 /event/next answer makes it exit 1 promptly.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = "/2020-01-01/extension"
STATE = {"invokes": 0, "last": None}


def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


class Client:
    def __init__(self):
        host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
        self.host, self.port = host, int(port)
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """One request on a kept-alive connection; retried once on a new connection when the
        old one fails before any response byte (e.g. closed while we were frozen)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port)  # no timeout
            try:
                self.conn.request(method, BASE + path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                say(milestone="reconnect", error=type(e).__name__)


def serve(port):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps(STATE).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", default=os.path.basename(sys.argv[0]))
    p.add_argument("--register-twice", action="store_true")
    p.add_argument("--events")
    p.add_argument("--account-id", action="store_true")
    p.add_argument("--init-error")
    p.add_argument("--exit-error")
    p.add_argument("--exit-early", type=int)
    p.add_argument("--never-next", action="store_true")
    p.add_argument("--ignore-shutdown", action="store_true")
    p.add_argument("--post-invoke-ms", type=float, default=0)
    p.add_argument("--shutdown-ms", type=float, default=0)
    p.add_argument("--no-identifier", action="store_true")
    p.add_argument("--port", type=int)
    a = p.parse_args()

    if a.port:
        serve(a.port)  # bind the local port before registering (spec section 3)
    managed = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "lambda-managed-instances"
    events = a.events.split(",") if a.events else (["SHUTDOWN"] if managed else ["INVOKE", "SHUTDOWN"])
    c = Client()
    headers = {"Lambda-Extension-Name": a.name, "Content-Type": "application/json"}
    if a.account_id:
        headers["Lambda-Extension-Accept-Feature"] = "accountId"
    body = json.dumps({"events": events})
    status, h, data = c.request("POST", "/register", body, headers)
    say(milestone="register", status=status, body=json.loads(data or b"null"))
    if status != 200:
        return 2
    ident = h["lambda-extension-identifier"]
    if a.register_twice:
        status2, _, data2 = c.request("POST", "/register", body, headers)
        say(milestone="register-again", status=status2, body=json.loads(data2 or b"null"))
    idh = {"Lambda-Extension-Identifier": ident}
    if a.init_error:
        err = {"errorMessage": "bad config", "errorType": a.init_error, "stackTrace": []}
        st, _, _ = c.request("POST", "/init/error", json.dumps(err),
                             dict(idh, **{"Lambda-Extension-Function-Error-Type": a.init_error}))
        say(milestone="init-error", status=st)
        return 1
    if a.exit_early == 0:
        return 0
    if a.never_next:
        while True:
            time.sleep(3600)
    skip_id = a.no_identifier
    while True:
        st, _, data = c.request("GET", "/event/next", headers={} if skip_id else idh)
        if skip_id:
            say(milestone="next-without-identifier", status=st)
            skip_id = False
            continue
        if st != 200:
            say(milestone="next-failed", status=st, body=data.decode("utf-8", "replace"))
            return 1
        ev = json.loads(data)
        say(got=ev)
        if ev["eventType"].upper() == "SHUTDOWN":
            if a.ignore_shutdown:
                while True:
                    time.sleep(3600)
            if a.shutdown_ms:
                time.sleep(a.shutdown_ms / 1000.0)
            if a.exit_error:
                err = {"errorMessage": "failing on exit", "errorType": a.exit_error, "stackTrace": []}
                st, _, _ = c.request("POST", "/exit/error", json.dumps(err),
                                     dict(idh, **{"Lambda-Extension-Function-Error-Type": a.exit_error}))
                say(milestone="exit-error", status=st)
                return 1
            return 0
        STATE["invokes"] += 1
        STATE["last"] = ev.get("requestId")
        if a.post_invoke_ms:
            time.sleep(a.post_invoke_ms / 1000.0)
        if a.exit_early is not None and STATE["invokes"] >= a.exit_early:
            return 0


if __name__ == "__main__":
    sys.exit(main())
