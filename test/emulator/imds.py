#!/usr/bin/env python3
"""EC2 instance metadata (IMDS) emulator (Python standard library only).

A test peer for appconfig-extension's IMDS credential source and region discovery, independent of
the C++ code. It follows AWS's documentation of IMDSv2 ("Use the Instance Metadata Service to access
instance metadata", EC2 User Guide):

  PUT /latest/api/token                         header X-aws-ec2-metadata-token-ttl-seconds: 1..21600
                                                -> a token (text), valid for that many seconds;
                                                missing / bad TTL -> 400
  GET /latest/meta-data/iam/security-credentials/        -> the role name
  GET /latest/meta-data/iam/security-credentials/<role>  -> {"Code": "Success", "AccessKeyId", ...}
  GET /latest/meta-data/placement/region                  -> the region
  GET without a valid token (missing, unknown, expired)   -> 401 (IMDSv2 required)

With v1=True (an IMDSv1 instance, or one behind something that refuses PUT) the token call answers
`token_status` (403, 404 or 405) and GETs need no token.

Credentials come from an appconfig_data.Emulator (its _issue_temp_credentials), so the AppConfig side
accepts them and verifies every signature made with them; lifetime_s sets their Expiration.

Faults (fault(kind, count, status)): kind "token" or "get"; status an HTTP status or "close" (drop
the connection without answering).

In-process only: tests import it next to their AppConfig emulator.
"""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_TTL_S = 21600
CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"


class Imds:
    def __init__(self, appconfig=None, host="127.0.0.1", port=0, role="appconfig-agent-role", account="default",
                 region="us-east-1", lifetime_s=3600, v1=False, token_status=405):
        self.appconfig = appconfig
        self.role = role
        self.account = account
        self.region = region
        self.lifetime_s = lifetime_s
        self.v1 = v1
        self.token_status = token_status
        self.lock = threading.Lock()
        self.tokens = {}        # token -> expires_at (time.time())
        self.ttls = []          # TTLs asked for, in order
        self.calls = {"token": 0, "role": 0, "creds": 0, "region": 0, "unauthorized": 0, "other": 0}
        self.issued_keys = []   # access key ids handed out, in order
        self.faults = []        # [{"kind", "remaining", "status"}]
        imds = self

        class Handler(_Handler):
            pass

        Handler.imds = imds
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "http://%s:%d" % (self.server.server_address[0], self.port)

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fault(self, kind, count=1, status=500):
        with self.lock:
            self.faults.append({"kind": kind, "remaining": count, "status": status})

    def expire_tokens(self):
        """Every token issued so far stops working (as after an instance reboot)."""
        with self.lock:
            self.tokens.clear()

    def counters(self):
        with self.lock:
            return dict(self.calls)

    def _take_fault(self, kind):
        with self.lock:
            for f in self.faults:
                if f["kind"] == kind:
                    f["remaining"] -= 1
                    if f["remaining"] <= 0:
                        self.faults.remove(f)
                    return f["status"]
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    imds = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body=b"", content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, kind):
        status = self.imds._take_fault(kind)
        if status is None:
            return False
        if status == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return True
        self._send(int(status), "injected fault")
        return True

    def do_PUT(self):
        imds = self.imds
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path != "/latest/api/token":
            return self._send(404, "Not Found")
        with imds.lock:
            imds.calls["token"] += 1
        if self._fault("token"):
            return
        if imds.v1:
            return self._send(imds.token_status, "token call refused")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        try:
            ttl_s = int(ttl)
        except (TypeError, ValueError):
            return self._send(400, "Missing or invalid X-aws-ec2-metadata-token-ttl-seconds")
        if not 1 <= ttl_s <= MAX_TTL_S:
            return self._send(400, "X-aws-ec2-metadata-token-ttl-seconds must be 1 to 21600")
        token = "AQAEA" + secrets.token_urlsafe(40)
        with imds.lock:
            imds.tokens[token] = time.time() + ttl_s
            imds.ttls.append(ttl_s)
        self.send_response(200)
        self.send_header("X-aws-ec2-metadata-token-ttl-seconds", str(ttl_s))
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token.encode())

    def do_GET(self):
        imds = self.imds
        path = self.path
        kind = ("creds" if path.startswith(CREDS_PREFIX) and len(path) > len(CREDS_PREFIX) else
                "role" if path == CREDS_PREFIX else "region" if path == "/latest/meta-data/placement/region" else "other")
        with imds.lock:
            imds.calls[kind] += 1
        if not imds.v1:
            token = self.headers.get("X-aws-ec2-metadata-token")
            with imds.lock:
                expires = imds.tokens.get(token)
            if token is None or expires is None or time.time() >= expires:
                with imds.lock:
                    imds.calls["unauthorized"] += 1
                return self._send(401, "Unauthorized")
        if self._fault("get"):
            return
        if kind == "role":
            return self._send(200, imds.role)
        if kind == "region":
            return self._send(200, imds.region)
        if kind == "creds":
            if path[len(CREDS_PREFIX):] != imds.role:
                return self._send(404, "Not Found")
            key, secret, token, expires = imds.appconfig._issue_temp_credentials(imds.account, imds.lifetime_s)
            with imds.lock:
                imds.issued_keys.append(key)
            iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            return self._send(200, json.dumps({
                "Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC", "AccessKeyId": key,
                "SecretAccessKey": secret, "Token": token, "Expiration": iso(expires)}), "application/json")
        return self._send(404, "Not Found")
