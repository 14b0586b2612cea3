#!/usr/bin/env python3
"""A deliberately simple (and, on request, misbehaving) HTTPS/HTTP peer for
test/unit/http_client_test.cpp.

Usage: http_peer.py [--tls] --script NAME

Prints one line "PORT <port> CERT <path>" on stdout once it listens on
127.0.0.1 (CERT is the PEM of its self-signed certificate for localhost and
127.0.0.1, to be trusted by the client under test), then serves until its
stdin reaches EOF (the test closes the pipe, so the peer never outlives it).

Scripts (one thread per connection; k counts connections from 0):
  keepalive        every request gets 200 with body "conn=<k> req=<j> <target>"
  drop-after-first answers the first request of a connection, reads the next
                   one and drops the TCP connection without close_notify or a
                   response byte (a stale pooled connection after a freeze)
  chunked-slow     a chunked body written a few bytes per send
  close-notify     a close-delimited body ended by close_notify (clean)
  truncated        a close-delimited body ended by a bare TCP FIN (no close_notify)
  big              a 4 MiB Content-Length body
"""
import argparse
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

# Self-signed P-256 certificate, CN=localhost, SAN DNS:localhost + IP:127.0.0.1,
# valid 2026-11-27 .. 2126-11-03. Made with:
#   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
#     -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
#     -addext basicConstraints=critical,CA:TRUE
CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUWhJJTuofXekCWbyATC7dsN4TT+wwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNzAzMzA0MVoYDzIxMjYxMTAz
MDMzMDQxWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQLmzhQrOSz/nMUEfrbest99eT8y2iwYsUpRVfOwXavFqzjgDSiIK8C
AmzycGhVKehdMsXwagwE7HirFPAjK7g7o28wbTAdBgNVHQ4EFgQUi17LEf5o6p+b
ah0MlLv8XQNiF0wwHwYDVR0jBBgwFoAUi17LEf5o6p+bah0MlLv8XQNiF0wwGgYD
VR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDRwAwRAIgMMNH368566BbNYDVaxy1IMnGnb+EUUHLY/ucKElYLzkCIHt3
5a7lxlKCRy30OadAFcJz6P31v9B8O0Jurs6cXJfQ
-----END CERTIFICATE-----
"""
# A throwaway key for the certificate above; it protects nothing.
KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZN7L+HmC2VtzjK3s
FGnk3pPqrH4BYM4sXJuYz3iWJDuhRANCAAQLmzhQrOSz/nMUEfrbest99eT8y2iw
YsUpRVfOwXavFqzjgDSiIK8CAmzycGhVKehdMsXwagwE7HirFPAjK7g7
-----END PRIVATE KEY-----
"""


def read_request(conn, pending):
    """Returns (request bytes, rest) or (None, b"") on EOF."""
    data = pending
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except (ConnectionError, ssl.SSLError, OSError):
            return None, b""
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def target_of(req):
    return req.split(b" ", 2)[1].decode()


def serve(conn, k, script):
    pending = b""
    j = 0
    try:
        while True:
            req, pending = read_request(conn, pending)
            if req is None:
                return
            if script == "keepalive":
                body = ("conn=%d req=%d %s" % (k, j, target_of(req))).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            elif script == "drop-after-first":
                if j == 0:
                    body = ("conn=%d first" % k).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                else:
                    conn.shutdown(socket.SHUT_RDWR)  # SSLSocket.shutdown: no close_notify
                    return
            elif script == "chunked-slow":
                msg = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nTrailer: t\r\n\r\n")
                for i in range(0, len(msg), 3):
                    conn.sendall(msg[i:i + 3])
                    time.sleep(0.002)
            elif script in ("close-notify", "truncated"):
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nbody until close")
                time.sleep(0.02)
                if script == "close-notify":
                    conn.unwrap()
                conn.shutdown(socket.SHUT_RDWR)
                return
            elif script == "big":
                body = bytes((i * 7) & 0xFF for i in range(4 * 1024 * 1024))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            j += 1
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--script", default="keepalive")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="http_peer_")
    cert_path = os.path.join(tmp, "cert.pem")
    key_path = os.path.join(tmp, "key.pem")
    with open(cert_path, "w") as f:
        f.write(CERT_PEM)
    with open(key_path, "w") as f:
        f.write(KEY_PEM)
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(0.05)
    print("PORT %d CERT %s" % (ls.getsockname()[1], cert_path), flush=True)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    k = 0
    while not stop.is_set():
        try:
            raw, _ = ls.accept()
        except socket.timeout:
            continue
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(10)
        conn = raw
        if ctx is not None:
            try:
                conn = ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # e.g. the client rejected our certificate
                k += 1
                continue
        threading.Thread(target=serve, args=(conn, k, args.script), daemon=True).start()
        k += 1
    for name in (cert_path, key_path):
        os.unlink(name)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
