#!/usr/bin/env python3
"""TLS echo peer for test/unit/tls_test.cpp.

Listens on 127.0.0.1 (port 0 = any free port), prints "PORT <n>" on stdout once listening, then serves
connections, one thread each: completes the TLS handshake with the given certificate, echoes every byte
back until the client closes, then sends close_notify. Handshake failures (the client refusing our
certificate is the point of several tests) are printed to stderr and do not stop the server.

  --tls 1.2|1.3|any   pin the protocol version (default any)
  --sleep-ms N        wait N ms before echoing the first bytes (tests the client's WANT_READ path)
  --ticket-count N    TLS 1.3 NewSessionTickets to send after the handshake (client must ignore them)
"""
import argparse
import socket
import ssl
import sys
import threading
import time


def serve(conn, ctx, args):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print(f"handshake failed: {e}", file=sys.stderr, flush=True)
        conn.close()
        return
    try:
        first = True
        while True:
            data = tls.recv(65536)
            if not data:
                break
            if first and args.sleep_ms:
                time.sleep(args.sleep_ms / 1000.0)
            first = False
            tls.sendall(data)
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass
    except (ssl.SSLError, OSError) as e:
        print(f"connection error: {e}", file=sys.stderr, flush=True)
    finally:
        tls.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tls", default="any", choices=["1.2", "1.3", "any"])
    p.add_argument("--sleep-ms", type=int, default=0)
    p.add_argument("--ticket-count", type=int, default=2)
    args = p.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif args.tls == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.num_tickets = args.ticket_count
    except (AttributeError, ValueError):
        pass

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(f"PORT {srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, ctx, args), daemon=True).start()


if __name__ == "__main__":
    main()
