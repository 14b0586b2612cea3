#!/usr/bin/env python3
"""A small HTTP proxy (CONNECT tunnels and absolute-form forwarding) for
test/unit/http_client_proxy_test.cpp. Python standard library only.

Usage: connect_proxy.py [--log FILE] [--require-auth USER:PASS] [--refuse CODE]
                        [--close-after-connect] [--close-after-200]
                        [--map NAME=HOST] ... [--tls-cert PEM --tls-key PEM]

Prints one line "PORT <port>" on stdout once it listens on 127.0.0.1, then
serves until its stdin reaches EOF (the test closes the pipe, so the proxy
never outlives it).

Every request head it receives (CONNECT or absolute-form) is appended to
--log as one JSON line {"conn": k, "head": "<request line + headers>"}
(k counts client connections from 0), flushed at once, so a test can check
what arrived -- including Proxy-Authorization and extra headers.

Behaviour:
  CONNECT host:port        connects to host:port (after --map), answers
                           "200 Connection Established", then forwards bytes
                           both ways until either side closes.
  GET http://host:port/p   forwards in origin-form (GET /p) with the
                           Proxy-Authorization header removed, and relays the
                           upstream's bytes back; later requests on the same
                           client connection go to the same upstream.
  --require-auth U:P       anything without "Proxy-Authorization: Basic
                           base64(U:P)" gets 407 with Proxy-Authenticate.
  --refuse CODE            every request gets CODE (e.g. 403, 502).
  --close-after-connect    reads the CONNECT, then closes without answering.
  --close-after-200        answers 200 to CONNECT, then closes once the first
                           tunnelled bytes (the ClientHello) arrive.
  --map NAME=HOST          the target NAME is reached at HOST instead (a name
                           only the proxy can resolve).
  --tls-cert/--tls-key     an https:// proxy: clients speak TLS to the proxy
                           (Python ssl) and everything above runs inside it;
                           a CONNECT tunnel then carries the client's second
                           TLS session to the target. Tunnelled bytes are
                           relayed by one thread per connection (select), as an
                           ssl socket must not be read and written from two
                           threads at once; absolute-form requests are then
                           answered one at a time (the upstream's answer must
                           carry Content-Length).
"""
import argparse
import base64
import json
import select
import socket
import ssl
import sys
import threading

REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


def read_head(conn, pending):
    """Returns (head bytes incl. CRLFCRLF, rest) or (None, b"") on EOF."""
    data = pending
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower():
            return v.strip()
    return None


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst,):
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(a, b):
    """Copies bytes both ways until either side closes; one thread, so an ssl socket is never used
    from two threads. SSL sockets may hold decrypted bytes select() cannot see: pending()."""
    socks = [a, b]
    try:
        while True:
            ready = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending() > 0]
            if not ready:
                ready, _, _ = select.select(socks, [], [], 10)
                if not ready:
                    return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except (OSError, ValueError):
        return


class Proxy:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.maps = dict(m.split("=", 1) for m in args.map)
        self.expected_auth = None
        if args.require_auth:
            self.expected_auth = b"Basic " + base64.b64encode(args.require_auth.encode())

    def log(self, k, head):
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a") as f:
            f.write(json.dumps({"conn": k, "head": head.decode("latin-1")}) + "\n")
            f.flush()

    def refuse(self, conn, code, extra=b""):
        body = b"refused\n"
        conn.sendall(b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n" %
                     (code, REASONS.get(code, "Error").encode(), extra, len(body)) + body)

    def check(self, conn, head):
        """False (and an answer sent) when the request is refused."""
        if self.args.refuse:
            self.refuse(conn, self.args.refuse)
            return False
        if self.expected_auth is not None and header(head, b"proxy-authorization") != self.expected_auth:
            self.refuse(conn, 407, b'Proxy-Authenticate: Basic realm="test"\r\n')
            return False
        return True

    def upstream(self, hostport):
        host, _, port = hostport.rpartition(":")
        host = host.strip("[]")
        host = self.maps.get(host, host)
        return socket.create_connection((host, int(port)), timeout=10)

    def serve(self, conn, k):
        try:
            head, rest = read_head(conn, b"")
            if head is None:
                return
            self.log(k, head)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                if self.args.close_after_connect:
                    return
                if not self.check(conn, head):
                    return
                if self.args.close_after_200:
                    conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    conn.recv(1)
                    return
                try:
                    up = self.upstream(target)
                except OSError:
                    self.refuse(conn, 502)
                    return
                conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    up.sendall(rest)
                if isinstance(conn, ssl.SSLSocket):
                    relay(conn, up)
                    up.close()
                    return
                t = threading.Thread(target=pump, args=(up, conn), daemon=True)
                t.start()
                pump(conn, up)
                t.join(10)
                up.close()
                return
            # Absolute-form: http://host[:port]/path
            if not target.startswith("http://") or not self.check(conn, head):
                if not target.startswith("http://"):
                    self.refuse(conn, 403)
                return
            authority, _, path = target[7:].partition("/")
            if ":" not in authority.rpartition("]")[2]:
                authority += ":80"
            up = self.upstream(authority)
            sequential = isinstance(conn, ssl.SSLSocket)
            if not sequential:
                threading.Thread(target=pump, args=(up, conn), daemon=True).start()
            while head is not None:
                lines = head.split(b"\r\n")
                method, target, version = lines[0].split(b" ", 2)
                path = b"/" + target[7:].partition(b"/")[2]
                kept = [l for l in lines[1:] if not l.lower().startswith(b"proxy-authorization:")]
                length = int(header(head, b"content-length") or b"0")
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                up.sendall(b"%s %s %s\r\n" % (method, path, version) + b"\r\n".join(kept) + rest[:length])
                rest = rest[length:]
                if sequential:
                    # One answer, framed by its Content-Length, from this thread only.
                    answer, more = read_head(up, b"")
                    if answer is None:
                        return
                    need = int(header(answer, b"content-length") or b"0")
                    while len(more) < need:
                        chunk = up.recv(65536)
                        if not chunk:
                            return
                        more += chunk
                    conn.sendall(answer + more[:need])
                head, rest = read_head(conn, rest)
                if head is not None:
                    self.log(k, head)
                    if not self.check(conn, head):
                        return
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log")
    ap.add_argument("--require-auth")
    ap.add_argument("--refuse", type=int)
    ap.add_argument("--close-after-connect", action="store_true")
    ap.add_argument("--close-after-200", action="store_true")
    ap.add_argument("--map", action="append", default=[])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    proxy = Proxy(args)

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(0.05)
    print("PORT %d" % ls.getsockname()[1], flush=True)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    k = 0
    while not stop.is_set():
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10)
        if tls is not None:
            def handshake_then_serve(raw, k):
                try:
                    conn = tls.wrap_socket(raw, server_side=True)  # handshake in this thread
                except (OSError, ssl.SSLError):
                    raw.close()
                    return
                proxy.serve(conn, k)
            threading.Thread(target=handshake_then_serve, args=(conn, k), daemon=True).start()
        else:
            threading.Thread(target=proxy.serve, args=(conn, k), daemon=True).start()
        k += 1


if __name__ == "__main__":
    main()
