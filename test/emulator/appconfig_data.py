#!/usr/bin/env python3
"""AppConfig Data + STS + container-credentials emulator (Python standard library only).

A test peer for appconfig-extension, independent of the C++ code. It implements
the AppConfig Data API (spec section 4): StartConfigurationSession and
GetLatestConfiguration, verifies every request's SigV4 signature with the
signer in this file (hmac/hashlib), and adds an STS AssumeRole endpoint and a
container-credentials endpoint whose credentials the AppConfig side accepts.

Tests drive it either in-process (class Emulator) or from another process via
JSON control endpoints under /_control/ (on a separate plain-HTTP control port,
and also on the main port). Run as a script it prints one JSON line
{"port": P, "control_port": C, "scheme": "http"|"https"} on stdout and serves
until SIGTERM/SIGINT.

Routes on the main port:
  POST /configurationsessions             AppConfig StartConfigurationSession (SigV4 "appconfig")
  GET  /configuration?configuration_token  AppConfig GetLatestConfiguration   (SigV4 "appconfig")
  POST /  (form Action=AssumeRole)          STS AssumeRole                     (SigV4 "sts")
  POST /  (form Action=AssumeRoleWithWebIdentity)  STS AssumeRoleWithWebIdentity (unsigned: a signed
                                            request is refused, so callers are checked to send none;
                                            the WebIdentityToken must equal the role's current token)
  GET  /container-credentials[/...]         container credentials (Authorization: <token>)
  /_control/...                             control API (unsigned; see Emulator._control)

Choices where the public record is silent (also in docs/sigv4.md):
  * Errors: status, header "x-amzn-ErrorType: <Name>:http://internal.amazon.com/coral/com.amazonaws.appconfigdata/"
    and JSON body {"Message": "..."} (plus "Reason" / "ResourceType" where noted).
  * Polling sooner than the interval: 400 BadRequestException, body
    {"Message": ..., "Reason": "PollIntervalNotSatisfied"}; the token is NOT consumed,
    so the client may retry it once the interval has passed.
  * Reusing a token: 400 BadRequestException "Reason": "InvalidParameters" (token already used).
  * Expired token (default lifetime 24 h): 400 BadRequestException "Reason": "InvalidParameters".
  * Unknown access key: 403 UnrecognizedClientException; wrong/missing session token
    for a key that has one: 403 UnrecognizedClientException; expired temporary
    credentials: 403 ExpiredTokenException; bad signature: 403 InvalidSignatureException;
    no Authorization: 403 MissingAuthenticationTokenException; request time more than
    max_skew_s (300 s, real clock) away: 403 InvalidSignatureException "Signature expired".
  * The emulated clock (time.time() + an offset the control API can advance) drives
    token lifetimes, poll intervals and credential expiry; the signature skew check
    uses the real clock so advancing the emulated clock never breaks signing.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------- SigV4

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
ALGORITHM = "AWS4-HMAC-SHA256"
SKIPPED_HEADERS = frozenset(
    ["user-agent", "x-amzn-trace-id", "connection", "expect", "transfer-encoding", "upgrade"])


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def uri_encode(data, keep_slash):
    """RFC 3986 unreserved characters stay; everything else is %XX (uppercase)."""
    out = []
    for c in _b(data):
        if c in UNRESERVED or (keep_slash and c == 0x2F):
            out.append(chr(c))
        else:
            out.append("%%%02X" % c)
    return "".join(out)


def uri_decode(s):
    """Decode %XX; '+' stays '+'. Raises ValueError on a bad escape."""
    raw = _b(s)
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:
            h = raw[i + 1:i + 3]
            if len(h) != 2 or not all(x in b"0123456789abcdefABCDEF" for x in h):
                raise ValueError("bad percent escape")
            out.append(int(h, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def normalize_path(path):
    """Remove dot segments (RFC 3986 5.2.4), collapse '//' and keep a trailing slash."""
    out = []
    segs = path.split("/")
    trailing = False
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg in ("", "."):
            trailing = trailing or last
        elif seg == "..":
            if out:
                out.pop()
            trailing = trailing or last
        else:
            out.append(seg)
            trailing = False
    res = "/" + "/".join(out)
    if out and trailing:
        res += "/"
    return res


def canonical_query(query):
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        k, _, v = piece.partition("=")
        pairs.append((uri_encode(uri_decode(k), False), uri_encode(uri_decode(v), False)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def _trim(v):
    return " ".join(v.replace("\t", " ").replace("\r", " ").replace("\n", " ").split())


def canonical_request(method, path, query, headers, signed_names, payload_hash, normalize=True):
    """headers: list of (name, value) in arrival order; only signed_names are used."""
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(_trim(value))
    lines = []
    for n in signed_names:
        lines.append("%s:%s\n" % (n, ",".join(values.get(n, []))))
    cpath = uri_encode(normalize_path(path) if normalize else (path or "/"), True)
    return "\n".join([method, cpath, canonical_query(query), "".join(lines), ";".join(signed_names),
                      payload_hash])


def signing_key(secret, date8, region, service):
    k = hmac.new(_b("AWS4" + secret), _b(date8), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, _b(part), hashlib.sha256).digest()
    return k


def amz_date(unix_time):
    return datetime.datetime.fromtimestamp(int(unix_time), datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def string_to_sign(date, scope, creq):
    return "\n".join([ALGORITHM, date, scope, hashlib.sha256(_b(creq)).hexdigest()])


def sign_headers(method, path, query, headers, body, access_key, secret, region, service, unix_time,
                 session_token=None, sign_body_header=False):
    """Returns the headers to add (X-Amz-Date, [X-Amz-Security-Token], [x-amz-content-sha256],
    Authorization). `headers` must hold Host; `path` is the path as sent."""
    date = amz_date(unix_time)
    payload = hashlib.sha256(_b(body or b"")).hexdigest()
    added = {"X-Amz-Date": date}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
    if sign_body_header:
        added["x-amz-content-sha256"] = payload
    all_headers = [(k, v) for k, v in headers.items() if k.lower() not in SKIPPED_HEADERS]
    all_headers += list(added.items())
    names = sorted({k.lower() for k, _ in all_headers})
    creq = canonical_request(method, path, query, all_headers, names, payload)
    scope = "%s/%s/%s/aws4_request" % (date[:8], region, service)
    sig = hmac.new(signing_key(secret, date[:8], region, service), _b(string_to_sign(date, scope, creq)),
                   hashlib.sha256).hexdigest()
    added["Authorization"] = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, scope, ";".join(names), sig)
    return added


class AuthError(Exception):
    def __init__(self, status, name, message):
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def parse_authorization(value):
    if not value:
        raise AuthError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    alg, _, rest = value.strip().partition(" ")
    if alg != ALGORITHM:
        raise AuthError(400, "IncompleteSignatureException", "Unsupported algorithm %r" % alg)
    fields = {}
    for part in rest.split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    for k in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(k):
            raise AuthError(400, "IncompleteSignatureException",
                            "Authorization header requires '%s' parameter." % k)
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError(400, "IncompleteSignatureException", "Bad Credential scope %r" % fields["Credential"])
    return cred, fields["SignedHeaders"].split(";"), fields["Signature"]


# --------------------------------------------------------------------------- state

API_START = "StartConfigurationSession"
API_GET = "GetLatestConfiguration"
API_STS = "AssumeRole"
API_CONTAINER = "ContainerCredentials"
FAULT_ACTIONS = ("500", "429", "403", "hang", "slow", "close")
APPCONFIG_ERROR_NS = "http://internal.amazon.com/coral/com.amazonaws.appconfigdata/"


def _iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Emulator:
    """The emulator's state plus its servers. All public methods are thread-safe."""

    def __init__(self, region="us-east-1", host="127.0.0.1", port=0, control_port=0,
                 tls_cert=None, tls_key=None, verbose=False):
        self.region = region
        self.host = host
        self.verbose = verbose
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.clock_offset_s = 0.0
        self.token_lifetime_s = 24 * 3600
        self.default_poll_interval_s = 60
        self.enforce_interval = True
        self.max_skew_s = 300
        self.credentials = {}    # access key -> {secret, token, account, expires_at}
        self.configs = {}        # (account, app, env, profile) -> {content, content_type, version_label, revision}
        self.sessions = {}       # session id -> {...}
        self.tokens = {}         # token -> {session, created, not_before, used}
        self.roles = {}          # role arn -> {account, external_id}
        self.container_token = None
        self.container_account = "default"
        self.container_lifetime_s = 3600
        self.faults = []         # [{action, remaining (None = all), delay_ms, api}]
        self.calls = {}
        self.calls_by_key = {}
        self.requests = []       # recent requests, newest last (bounded)
        self.assume_role_calls = []
        self.web_identity_roles = {}   # role arn -> {account, token, lifetime_s}
        self.web_identity_calls = []   # [{RoleArn, RoleSessionName, WebIdentityToken}]
        self._revision = 0
        self._servers = []
        self._threads = []
        self._tls = None
        if tls_cert:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(tls_cert, tls_key)
        self._main = self._make_server(port, main=True)
        self._control = self._make_server(control_port, main=False) if control_port is not None else None

    # ---- lifecycle
    def _make_server(self, port, main):
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        Handler.is_main = main
        srv = ThreadingHTTPServer((self.host, port), Handler)
        srv.daemon_threads = True
        if main and self._tls is not None:
            # The handshake runs in the handler thread, so a stalled client never blocks accept().
            srv.socket = self._tls.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        self._servers.append(srv)
        return srv

    @property
    def port(self):
        return self._main.server_address[1]

    @property
    def control_port(self):
        return self._control.server_address[1] if self._control else None

    @property
    def scheme(self):
        return "https" if self._tls else "http"

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    def start(self):
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()  # releases "hang" faults
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- clock
    def now(self):
        return time.time() + self.clock_offset_s

    def advance_clock(self, seconds):
        with self.lock:
            self.clock_offset_s += seconds

    # ---- state API
    def add_credentials(self, access_key_id, secret_access_key, account="default", session_token=None,
                        expires_at=None):
        with self.lock:
            self.credentials[access_key_id] = {"secret": secret_access_key, "token": session_token or None,
                                               "account": account, "expires_at": expires_at}

    def remove_credentials(self, access_key_id):
        with self.lock:
            self.credentials.pop(access_key_id, None)

    def set_config(self, application, environment, profile, content, content_type="application/json",
                   version_label=None, account="default"):
        with self.lock:
            self._revision += 1
            self.configs[(account, application, environment, profile)] = {
                "content": _b(content), "content_type": content_type, "version_label": version_label,
                "revision": self._revision}

    def delete_config(self, application, environment, profile, account="default"):
        with self.lock:
            self.configs.pop((account, application, environment, profile), None)

    def add_role(self, role_arn, account, external_id=None):
        with self.lock:
            self.roles[role_arn] = {"account": account, "external_id": external_id}

    def add_web_identity_role(self, role_arn, account, token, lifetime_s=3600):
        """AssumeRoleWithWebIdentity for role_arn succeeds only with WebIdentityToken == token (set it
        again to rotate)."""
        with self.lock:
            self.web_identity_roles[role_arn] = {"account": account, "token": token, "lifetime_s": lifetime_s}

    def set_container_credentials(self, token, account="default", lifetime_s=3600):
        with self.lock:
            self.container_token, self.container_account, self.container_lifetime_s = token, account, lifetime_s

    def add_fault(self, action, count=1, delay_ms=0, api=None):
        """action in FAULT_ACTIONS; count None = every request until cleared; api None = any."""
        if action not in FAULT_ACTIONS:
            raise ValueError("unknown fault action %r" % action)
        with self.lock:
            self.faults.append({"action": action, "remaining": count, "delay_ms": int(delay_ms), "api": api})

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def settings(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k not in ("token_lifetime_s", "default_poll_interval_s", "enforce_interval", "max_skew_s",
                             "region"):
                    raise ValueError("unknown setting %r" % k)
                setattr(self, k, v)

    def counters(self):
        with self.lock:
            return {"calls": dict(self.calls), "calls_by_key": {k: dict(v) for k, v in self.calls_by_key.items()},
                    "assume_role_calls": list(self.assume_role_calls),
                    "web_identity_calls": list(self.web_identity_calls)}

    def reset_counters(self):
        with self.lock:
            self.calls.clear()
            self.calls_by_key.clear()
            self.requests.clear()
            self.assume_role_calls.clear()
            self.web_identity_calls.clear()

    def recent_requests(self):
        with self.lock:
            return list(self.requests)

    # ---- internals used by the handler
    def _count(self, api, key):
        with self.lock:
            self.calls[api] = self.calls.get(api, 0) + 1
            if key:
                per = self.calls_by_key.setdefault(key, {})
                per[api] = per.get(api, 0) + 1

    def _take_fault(self, api):
        with self.lock:
            for f in self.faults:
                if f["api"] is None or f["api"] == api:
                    if f["remaining"] is not None:
                        f["remaining"] -= 1
                        if f["remaining"] <= 0:
                            self.faults.remove(f)
                    return dict(f)
        return None

    def _issue_temp_credentials(self, account, lifetime_s):
        key = "ASIA" + secrets.token_hex(8).upper()
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = base64.b64encode(b"EMU" + secrets.token_bytes(180)).decode()
        expires = self.now() + lifetime_s
        self.add_credentials(key, secret, account=account, session_token=token, expires_at=expires)
        return key, secret, token, expires

    def _verify(self, handler, service, body):
        """Checks SigV4; returns the access key id or raises AuthError."""
        cred, names, sig = parse_authorization(handler.headers.get("Authorization"))
        key_id, date8, region, svc = cred[0], cred[1], cred[2], cred[3]
        with self.lock:
            entry = self.credentials.get(key_id)
            max_skew_s = self.max_skew_s
            expected_region = self.region
        if entry is None:
            raise AuthError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if svc != service or region != expected_region:
            raise AuthError(403, "InvalidSignatureException",
                            "Credential should be scoped to correct service/region: '%s'/'%s'." % (service,
                                                                                               expected_region))
        date = handler.headers.get("X-Amz-Date", "")
        try:
            t = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise AuthError(403, "IncompleteSignatureException", "Missing or malformed X-Amz-Date")
        if date[:8] != date8:
            raise AuthError(403, "InvalidSignatureException", "Date in Credential scope does not match X-Amz-Date")
        if max_skew_s is not None and abs(time.time() - t) > max_skew_s:
            raise AuthError(403, "InvalidSignatureException", "Signature expired: %s is now earlier/later than "
                            "the allowed skew" % date)
        if "host" not in names or "x-amz-date" not in names or names != sorted(names):
            raise AuthError(403, "InvalidSignatureException", "SignedHeaders must be sorted and include host and x-amz-date")
        token = handler.headers.get("X-Amz-Security-Token")
        if entry["token"] is not None and token != entry["token"]:
            raise AuthError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if entry["expires_at"] is not None and self.now() >= entry["expires_at"]:
            raise AuthError(403, "ExpiredTokenException", "The security token included in the request is expired")
        path, _, query = handler.path.partition("?")
        headers = [(k, v) for k, v in handler.headers.items()]
        try:
            creq = canonical_request(handler.command, path, query, headers, names, hashlib.sha256(body).hexdigest())
        except ValueError:
            raise AuthError(403, "InvalidSignatureException", "Bad percent-encoding in the request")
        scope = "/".join(cred[1:])
        want = hmac.new(signing_key(entry["secret"], date8, region, svc), _b(string_to_sign(date, scope, creq)),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise AuthError(403, "InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method.")
        return key_id, entry["account"]

    # ---- AppConfig
    def _start_session(self, account, body):
        try:
            req = json.loads(body or b"null")
        except ValueError:
            return 400, "BadRequestException", {"Message": "Request body is not valid JSON", "Reason": "InvalidParameters"}
        if not isinstance(req, dict):
            return 400, "BadRequestException", {"Message": "Request body must be a JSON object", "Reason": "InvalidParameters"}
        ids = []
        for field in ("ApplicationIdentifier", "EnvironmentIdentifier", "ConfigurationProfileIdentifier"):
            v = req.get(field)
            if not isinstance(v, str) or not 1 <= len(v) <= 2048:
                return 400, "BadRequestException", {"Message": "%s is required (1-2048 characters)" % field,
                                                    "Reason": "InvalidParameters"}
            ids.append(v)
        interval = req.get("RequiredMinimumPollIntervalInSeconds")
        if interval is not None and (not isinstance(interval, int) or isinstance(interval, bool)
                                     or not 15 <= interval <= 86400):
            return 400, "BadRequestException", {
                "Message": "RequiredMinimumPollIntervalInSeconds must be an integer between 15 and 86400",
                "Reason": "InvalidParameters"}
        app, env, prof = ids
        with self.lock:
            keys = [k for k in self.configs if k[0] == account]
            if not any(k[1] == app for k in keys):
                return 404, "ResourceNotFoundException", {"Message": "Application %s not found" % app,
                                                          "ResourceType": "Application"}
            if not any(k[1] == app and k[2] == env for k in keys):
                return 404, "ResourceNotFoundException", {"Message": "Environment %s not found" % env,
                                                          "ResourceType": "Environment"}
            if (account, app, env, prof) not in self.configs:
                return 404, "ResourceNotFoundException", {"Message": "Profile %s not found" % prof,
                                                          "ResourceType": "ConfigurationProfile"}
            sid = uuid.uuid4().hex
            self.sessions[sid] = {"account": account, "key": (account, app, env, prof),
                                  "interval_s": interval if interval is not None else self.default_poll_interval_s,
                                  "last_revision": None}
            token = self._new_token(sid, not_before=self.now())
        return 201, None, {"InitialConfigurationToken": token}

    def _new_token(self, sid, not_before):
        # Opaque, long and full of characters that need percent-encoding, like the real ones.
        token = "AYADe" + base64.b64encode(secrets.token_bytes(96)).decode() + "/+="
        self.tokens[token] = {"session": sid, "created": self.now(), "not_before": not_before, "used": False}
        return token

    def _get_configuration(self, account, query):
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        vals = params.get("configuration_token")
        if not vals or not vals[0]:
            return 400, "BadRequestException", {"Message": "configuration_token is required",
                                                "Reason": "InvalidParameters"}, None
        token = vals[0]
        with self.lock:
            t = self.tokens.get(token)
            now = self.now()
            if t is None or self.sessions[t["session"]]["account"] != account:
                return 400, "BadRequestException", {"Message": "Invalid configuration token",
                                                    "Reason": "InvalidParameters"}, None
            if now - t["created"] > self.token_lifetime_s:
                return 400, "BadRequestException", {"Message": "Token has expired; start a new session",
                                                    "Reason": "InvalidParameters"}, None
            if t["used"]:
                return 400, "BadRequestException", {"Message": "Token has already been used",
                                                    "Reason": "InvalidParameters"}, None
            if self.enforce_interval and now < t["not_before"]:
                return 400, "BadRequestException", {
                    "Message": "Request too early: poll interval of the session not satisfied",
                    "Reason": "PollIntervalNotSatisfied"}, None
            sess = self.sessions[t["session"]]
            cfg = self.configs.get(sess["key"])
            if cfg is None:
                return 404, "ResourceNotFoundException", {"Message": "Configuration no longer exists",
                                                          "ResourceType": "Configuration"}, None
            t["used"] = True
            body = b"" if sess["last_revision"] == cfg["revision"] else cfg["content"]
            sess["last_revision"] = cfg["revision"]
            nxt = self._new_token(t["session"], not_before=now + sess["interval_s"])
            headers = {"Next-Poll-Configuration-Token": nxt,
                       "Next-Poll-Interval-In-Seconds": str(sess["interval_s"]),
                       "Content-Type": cfg["content_type"]}
            if cfg["version_label"]:
                headers["Version-Label"] = cfg["version_label"]
        return 200, None, body, headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    emulator = None
    is_main = True

    def log_message(self, fmt, *args):
        if self.emulator.verbose:
            sys.stderr.write("emulator: " + (fmt % args) + "\n")

    # ---- helpers
    def _send(self, status, body=b"", headers=None, content_type=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj).encode(), content_type="application/json")

    def _aws_error(self, status, name, obj):
        if isinstance(obj, str):
            obj = {"Message": obj}
        self._send(status, json.dumps(obj).encode(), content_type="application/json",
                   headers={"x-amzn-ErrorType": name + ":" + APPCONFIG_ERROR_NS})

    def _sts_error(self, status, code, message):
        body = ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
                "<Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>"
                % (_xml(code), _xml(message), uuid.uuid4()))
        self._send(status, body.encode(), content_type="text/xml")

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _api_of(self, path):
        if self.command == "POST" and path == "/configurationsessions":
            return API_START
        if self.command == "GET" and path == "/configuration":
            return API_GET
        if self.command == "POST" and path == "/":
            return API_STS
        if self.command == "GET" and path.startswith("/container-credentials"):
            return API_CONTAINER
        return None

    def _access_key_hint(self):
        auth = self.headers.get("Authorization") or ""
        i = auth.find("Credential=")
        return auth[i + 11:].split("/")[0] if i >= 0 else None

    # ---- dispatch
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _dispatch(self):
        em = self.emulator
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/_control/"):
            return self._control(path, query, body)
        if not self.is_main:
            return self._json(404, {"Message": "control port serves /_control/ only"})
        api = self._api_of(path)
        key_hint = self._access_key_hint()
        with em.lock:
            em.requests.append({"api": api, "method": self.command, "path": self.path,
                                "headers": [[k, v] for k, v in self.headers.items()],
                                "body": body.decode("utf-8", "replace")})
            del em.requests[:-1000]
        if api is None:
            return self._aws_error(404, "UnknownOperationException", "No route for %s %s" % (self.command, path))
        em._count(api, key_hint)
        fault = em._take_fault(api)
        if fault is not None:
            action = fault["action"]
            if action == "slow":
                time.sleep(fault["delay_ms"] / 1000.0)
            elif action == "hang":
                em.stop_event.wait()
                self.close_connection = True
                return
            elif action == "close":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            elif action == "500":
                return self._fault_error(api, 500, "InternalServerException", "Injected internal error")
            elif action == "429":
                return self._fault_error(api, 429, "ThrottlingException", "Rate exceeded")
            elif action == "403":
                return self._fault_error(api, 403, "AccessDeniedException", "Injected access denied")
        if api == API_CONTAINER:
            return self._container(path)
        if api == API_STS and b"Action=AssumeRoleWithWebIdentity" in body:
            return self._assume_role_with_web_identity(body)
        service = "sts" if api == API_STS else "appconfig"
        try:
            key_id, account = em._verify(self, service, body)
        except AuthError as e:
            if api == API_STS:
                return self._sts_error(e.status, e.name, e.message)
            return self._aws_error(e.status, e.name, e.message)
        if api == API_START:
            status, name, obj = em._start_session(account, body)
            return self._aws_error(status, name, obj) if name else self._json(status, obj)
        if api == API_GET:
            status, name, obj, headers = em._get_configuration(account, query)
            if name:
                return self._aws_error(status, name, obj)
            return self._send(200, obj, headers=headers)
        return self._assume_role(body)

    def _fault_error(self, api, status, name, message):
        if api == API_STS:
            return self._sts_error(status, name.replace("Exception", "") if status != 403 else "AccessDenied", message)
        if api == API_CONTAINER:
            return self._json(status, {"Message": message})
        return self._aws_error(status, name, message)

    # ---- STS
    def _assume_role(self, body):
        em = self.emulator
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        get = lambda k: form.get(k, [None])[0]
        if get("Action") != "AssumeRole" or get("Version") != "2011-06-15":
            return self._sts_error(400, "InvalidAction", "Only Action=AssumeRole&Version=2011-06-15 is supported")
        arn, session_name, external_id = get("RoleArn"), get("RoleSessionName"), get("ExternalId")
        if not arn or not session_name:
            return self._sts_error(400, "ValidationError", "RoleArn and RoleSessionName are required")
        try:
            duration = int(get("DurationSeconds") or 3600)
        except ValueError:
            return self._sts_error(400, "ValidationError", "DurationSeconds must be an integer")
        if not 900 <= duration <= 43200:
            return self._sts_error(400, "ValidationError", "DurationSeconds must be between 900 and 43200")
        with em.lock:
            role = em.roles.get(arn)
            em.assume_role_calls.append({"RoleArn": arn, "RoleSessionName": session_name, "ExternalId": external_id,
                                         "DurationSeconds": duration})
        if role is None or (role["external_id"] is not None and role["external_id"] != external_id):
            return self._sts_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRole on %s" % arn)
        key, secret, token, expires = em._issue_temp_credentials(role["account"], duration)
        xml = ("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
               "<AssumedRoleUser><AssumedRoleId>AROAEMULATOR:%s</AssumedRoleId><Arn>%s/%s</Arn></AssumedRoleUser>"
               "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
               "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
               "</AssumeRoleResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
               "</AssumeRoleResponse>" % (_xml(session_name), _xml(arn), _xml(session_name), key, _xml(secret),
                                          _xml(token), _iso(expires), uuid.uuid4()))
        self._send(200, xml.encode(), content_type="text/xml")

    def _assume_role_with_web_identity(self, body):
        em = self.emulator
        if self.headers.get("Authorization") is not None or self.headers.get("X-Amz-Security-Token") is not None:
            return self._sts_error(400, "InvalidParameterValue",
                                   "AssumeRoleWithWebIdentity is called unsigned: the request carries credentials")
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        get = lambda k: form.get(k, [None])[0]
        if get("Version") != "2011-06-15":
            return self._sts_error(400, "InvalidAction", "Version must be 2011-06-15")
        arn, session_name, token = get("RoleArn"), get("RoleSessionName"), get("WebIdentityToken")
        if not arn or not session_name or not token:
            return self._sts_error(400, "ValidationError", "RoleArn, RoleSessionName and WebIdentityToken are required")
        if not 4 <= len(token) <= 20000:
            return self._sts_error(400, "ValidationError", "WebIdentityToken must be 4 to 20000 characters")
        with em.lock:
            role = em.web_identity_roles.get(arn)
            em.web_identity_calls.append({"RoleArn": arn, "RoleSessionName": session_name, "WebIdentityToken": token})
        if role is None:
            return self._sts_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        if not hmac.compare_digest(_b(token), _b(role["token"])):
            return self._sts_error(400, "InvalidIdentityToken", "The web identity token is not valid (expired or rotated)")
        key, secret, stoken, expires = em._issue_temp_credentials(role["account"], role["lifetime_s"])
        xml = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
               "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:ns:sa"
               "</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAEMULATOR:%s"
               "</AssumedRoleId></AssumedRoleUser><Credentials><SessionToken>%s</SessionToken><SecretAccessKey>%s"
               "</SecretAccessKey><Expiration>%s</Expiration><AccessKeyId>%s</AccessKeyId></Credentials>"
               "<Provider>oidc.eks.us-east-1.amazonaws.com</Provider></AssumeRoleWithWebIdentityResult>"
               "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"
               % (_xml(arn), _xml(session_name), _xml(session_name), _xml(stoken), _xml(secret), _iso(expires), key,
                  uuid.uuid4()))
        self._send(200, xml.encode(), content_type="text/xml")

    # ---- container credentials
    def _container(self, path):
        em = self.emulator
        with em.lock:
            want, account, lifetime = em.container_token, em.container_account, em.container_lifetime_s
        if want is None:
            return self._json(404, {"Message": "container credentials are not configured"})
        got = self.headers.get("Authorization")
        if got is None:
            return self._json(401, {"Message": "Authorization header is required"})
        if not hmac.compare_digest(_b(got), _b(want)):
            return self._json(403, {"Message": "Authorization token is invalid"})
        key, secret, token, expires = em._issue_temp_credentials(account, lifetime)
        self._json(200, {"AccessKeyId": key, "SecretAccessKey": secret, "Token": token,
                         "Expiration": _iso(expires), "RoleArn": "arn:aws:iam::000000000000:role/emulator"})

    # ---- control API
    def _control(self, path, query, body):
        em = self.emulator
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            return self._json(400, {"error": "body is not JSON"})
        op = path[len("/_control/"):]
        try:
            if op == "config":
                if "content_b64" in req:
                    content = base64.b64decode(req["content_b64"])
                else:
                    content = req.get("content", "")
                em.set_config(req["application"], req["environment"], req["profile"], content,
                              req.get("content_type", "application/json"), req.get("version_label"),
                              req.get("account", "default"))
            elif op == "config/delete":
                em.delete_config(req["application"], req["environment"], req["profile"], req.get("account", "default"))
            elif op == "credentials":
                em.add_credentials(req["access_key_id"], req["secret_access_key"], req.get("account", "default"),
                                   req.get("session_token"), req.get("expires_at"))
            elif op == "credentials/delete":
                em.remove_credentials(req["access_key_id"])
            elif op == "role":
                em.add_role(req["role_arn"], req.get("account", "default"), req.get("external_id"))
            elif op == "container":
                em.set_container_credentials(req["token"], req.get("account", "default"), req.get("lifetime_s", 3600))
            elif op == "fault":
                em.add_fault(req["action"], req.get("count", 1), req.get("delay_ms", 0), req.get("api"))
            elif op == "faults/clear":
                em.clear_faults()
            elif op == "settings":
                em.settings(**req)
            elif op == "clock":
                em.advance_clock(float(req.get("advance_s", 0)))
            elif op == "counters":
                return self._json(200, em.counters())
            elif op == "counters/reset":
                em.reset_counters()
            elif op == "requests":
                return self._json(200, em.recent_requests())
            else:
                return self._json(404, {"error": "unknown control operation %r" % op})
        except (KeyError, TypeError, ValueError) as e:
            return self._json(400, {"error": "%s: %s" % (type(e).__name__, e)})
        self._json(200, {"ok": True})


def _xml(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


# --------------------------------------------------------------------------- client (for tests)

class Client:
    """A minimal signed client for AppConfig Data / STS, used by the self-test and
    by integration tests that want to compare behaviour with the C++ agent."""

    def __init__(self, host, port, access_key, secret, session_token=None, region="us-east-1",
                 tls=False, ssl_context=None, host_header=None):
        self.host, self.port = host, port
        self.access_key, self.secret, self.session_token = access_key, secret, session_token
        self.region = region
        self.tls = tls
        self.ssl_context = ssl_context
        self.host_header = host_header or "%s:%d" % (host, port)

    def _conn(self, timeout):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, query="", body=b"", service="appconfig", headers=None, timeout=10,
                unix_time=None, sign=True):
        hdrs = {"Host": self.host_header}
        hdrs.update(headers or {})
        if sign:
            hdrs.update(sign_headers(method, path, query, hdrs, body, self.access_key, self.secret, self.region,
                                     service, unix_time if unix_time is not None else time.time(),
                                     self.session_token))
        conn = self._conn(timeout)
        try:
            conn.request(method, path + ("?" + query if query else ""), body=body or None, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def start_session(self, app, env, profile, interval_s=None):
        req = {"ApplicationIdentifier": app, "EnvironmentIdentifier": env, "ConfigurationProfileIdentifier": profile}
        if interval_s is not None:
            req["RequiredMinimumPollIntervalInSeconds"] = interval_s
        return self.request("POST", "/configurationsessions", body=json.dumps(req).encode(),
                            headers={"Content-Type": "application/json"})

    def get_configuration(self, token):
        return self.request("GET", "/configuration", "configuration_token=" + urllib.parse.quote(token, safe=""))

    def assume_role(self, role_arn, session_name, external_id=None, duration_s=None):
        form = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn, "RoleSessionName": session_name}
        if external_id is not None:
            form["ExternalId"] = external_id
        if duration_s is not None:
            form["DurationSeconds"] = str(duration_s)
        return self.request("POST", "/", body=urllib.parse.urlencode(form).encode(), service="sts",
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


# --------------------------------------------------------------------------- script

def _load_state(em, path):
    with open(path) as f:
        st = json.load(f)
    for c in st.get("credentials", []):
        em.add_credentials(c["access_key_id"], c["secret_access_key"], c.get("account", "default"),
                           c.get("session_token"), c.get("expires_at"))
    for c in st.get("configs", []):
        content = base64.b64decode(c["content_b64"]) if "content_b64" in c else c.get("content", "")
        em.set_config(c["application"], c["environment"], c["profile"], content,
                      c.get("content_type", "application/json"), c.get("version_label"), c.get("account", "default"))
    for r in st.get("roles", []):
        em.add_role(r["role_arn"], r.get("account", "default"), r.get("external_id"))
    if "container" in st:
        em.set_container_credentials(st["container"]["token"], st["container"].get("account", "default"),
                                     st["container"].get("lifetime_s", 3600))
    if "settings" in st:
        em.settings(**st["settings"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="main port (0 = pick a free one)")
    ap.add_argument("--control-port", type=int, default=0, help="plain-HTTP control port (0 = pick)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS on the main port")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--state", help="JSON file with initial credentials/configs/roles/container/settings")
    ap.add_argument("--credentials", action="append", default=[],
                    help="ACCESS_KEY:SECRET[:SESSION_TOKEN][@ACCOUNT] (repeatable)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    em = Emulator(region=args.region, host=args.host, port=args.port, control_port=args.control_port,
                  tls_cert=args.tls_cert, tls_key=args.tls_key, verbose=args.verbose)
    for spec in args.credentials:
        spec, _, account = spec.partition("@")
        parts = spec.split(":", 2)
        if len(parts) < 2:
            ap.error("bad --credentials %r" % spec)
        em.add_credentials(parts[0], parts[1], account or "default", parts[2] if len(parts) > 2 else None)
    if args.state:
        _load_state(em, args.state)
    em.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    print(json.dumps({"port": em.port, "control_port": em.control_port, "scheme": em.scheme}), flush=True)
    done.wait()
    em.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
