#!/usr/bin/env python3
"""Scripted DNS server (UDP + TCP on the same port) for testing the dns module.

Python standard library only, independent of the C++ code. Each server answers
from a table of rules keyed by name; names it has no rule for get NXDOMAIN.
It follows CNAME chains itself (as a recursive resolver would), so a reply
carries the whole chain followed by the records of the final name.

Rule (a dict; every key optional):
  a:        ["192.0.2.1", ...]         A records of this name
  aaaa:     ["2001:db8::1", ...]       AAAA records
  cname:    "other.name"               a CNAME (followed for A/AAAA questions)
  ttl:      60                         TTL of every record of this name
  rcode:    "NOERROR" | "NXDOMAIN" | "SERVFAIL" | "REFUSED" | number
  rcode_a / rcode_aaaa:                the rcode for one question type only
  mode:     "normal"   answer
            "silent"   never answer (UDP and TCP)
            "truncate" UDP: TC=1 with no records; TCP: the full answer
            "wrong_id" UDP: a reply with id+1 (and the real one if then_answer)
            "wrong_question"  UDP: the reply names another question first
            "wrong_port"      UDP: a reply with a different address (6.6.6.6 /
                              ::6) sent from another port first
            "tcp_close" TCP: close without answering (UDP still truncates)
            "tcp_dribble" UDP truncates; TCP writes the reply one byte at a
                        time (length prefix included), 2 ms apart
  then_answer: true                    after a wrong_* reply, send the real one
  delay_ms: 0                          wait before the (real) answer
  delay_a_ms / delay_aaaa_ms:          the delay for one question type only
  compress: true                       owner names equal to the question use a
                                       pointer to offset 12 (RFC 1035 §4.1.4)
UDP replies longer than 512 bytes are truncated (TC=1, no records), since the
client sends no EDNS OPT record (RFC 1035 §4.2.1).

Every query is recorded: {"server", "proto", "name", "type", "id", "port"}.

In-process:   s = DnsServer(); s.start(); s.set_rule("a.test", a=["1.2.3.4"]); s.queries(); s.stop()
As a script:  dns_server.py [--host 127.0.0.1] [--count N]
  prints one JSON line {"port": P0, "ports": [P0, ...]} and then reads JSON
  commands from stdin, one per line, answering each with one JSON line:
    {"cmd": "set", "name": N, "rule": {...}, "servers": [0, 1]}   (default: all)
    {"cmd": "clear"}          drop every rule and the query log
    {"cmd": "queries"}        -> {"queries": [...]}
    {"cmd": "forget"}         drop the query log only
    {"cmd": "ping"}           -> {"ok": true}
  It exits when stdin reaches EOF (so a test that dies takes the server along).
"""

import argparse
import ipaddress
import json
import socket
import struct
import sys
import threading
import time

TYPES = {1: "A", 5: "CNAME", 28: "AAAA"}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
UDP_LIMIT = 512


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def parse_question(pkt):
    """-> (id, flags, qname_text, qtype, qclass, question_bytes) or None."""
    if len(pkt) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", pkt[:6])
    if qd != 1:
        return None
    i = 12
    labels = []
    while True:
        if i >= len(pkt):
            return None
        n = pkt[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(pkt):
            return None
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 4 > len(pkt):
        return None
    qtype, qclass = struct.unpack("!HH", pkt[i:i + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pkt[12:i + 4]


class DnsServer:
    def __init__(self, host="127.0.0.1", port=0, index=0, log=None, lock=None):
        self.host = host
        self.index = index
        self.rules = {}
        self.log = log if log is not None else []
        self.lock = lock or threading.Lock()
        self.stopping = False
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        # The same port number for UDP and TCP: retry until both binds succeed.
        for _ in range(50):
            self.udp = socket.socket(fam, socket.SOCK_DGRAM)
            self.udp.bind((host, port))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(fam, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
                if port:
                    raise
        self.tcp.listen(16)
        self.spoof = socket.socket(fam, socket.SOCK_DGRAM)  # the "other port" for wrong_port
        self.spoof.bind((host, 0))
        self.threads = []

    # ------------------------------------------------------------ control
    def start(self):
        for target in (self._udp_loop, self._tcp_loop):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stopping = True
        for s in (self.udp, self.tcp, self.spoof):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set_rule(self, name, **rule):
        with self.lock:
            self.rules[name.lower().rstrip(".")] = rule

    def clear(self):
        with self.lock:
            self.rules.clear()
            self.log.clear()

    def queries(self):
        with self.lock:
            return [q for q in self.log if q["server"] == self.index]

    # ------------------------------------------------------------ answers
    def _rule(self, name):
        with self.lock:
            return dict(self.rules.get(name.lower().rstrip("."), {}))

    def build_reply(self, q, proto, override_id=None, override_question=None, spoof=False):
        qid, flags, qname, qtype, _qclass, question = q
        rule = self._rule(qname)
        known = bool(rule) or qname.lower() in self.rules
        rcode = rule.get("rcode", "NOERROR" if known else "NXDOMAIN")
        per_type = rule.get("rcode_a" if qtype == 1 else "rcode_aaaa" if qtype == 28 else "")
        if per_type is not None:
            rcode = per_type
        rcode = RCODES[rcode] if isinstance(rcode, str) else int(rcode)
        records = []
        if rcode == 0:
            cur, seen = qname, set()
            while True:
                r = self._rule(cur)
                if "cname" in r and qtype != 5 and cur.lower() not in seen and len(seen) < 20:
                    seen.add(cur.lower())
                    records.append((cur, 5, r.get("ttl", 60), encode_name(r["cname"])))
                    cur = r["cname"]
                    continue
                key = "a" if qtype == 1 else "aaaa" if qtype == 28 else None
                for addr in r.get(key, []) if key else []:
                    if spoof:
                        addr = "6.6.6.6" if qtype == 1 else "::6"
                    records.append((cur, qtype, r.get("ttl", 60), ipaddress.ip_address(addr).packed))
                break
        compress = rule.get("compress", True)
        rid = qid if override_id is None else override_id
        rflags = 0x8000 | (flags & 0x0100) | 0x0080 | 0x0400 | rcode  # QR, RD copied, RA, AA
        body = b""
        for owner, rtype, ttl, rdata in records:
            owner_bytes = b"\xc0\x0c" if compress and owner.lower() == qname.lower() else encode_name(owner)
            body += owner_bytes + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
        qbytes = question if override_question is None else override_question
        pkt = struct.pack("!HHHHHH", rid, rflags, 1, len(records), 0, 0) + qbytes + body
        if proto == "udp" and (len(pkt) > UDP_LIMIT or rule.get("mode") in ("truncate", "tcp_close", "tcp_dribble")):
            pkt = struct.pack("!HHHHHH", rid, rflags | 0x0200, 1, 0, 0, 0) + qbytes
        return pkt

    def _record(self, q, proto, peer):
        with self.lock:
            self.log.append({"server": self.index, "proto": proto, "name": q[2], "type": TYPES.get(q[3], q[3]),
                             "id": q[0], "port": peer[1], "t": time.time()})

    def _udp_loop(self):
        while not self.stopping:
            try:
                pkt, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            q = parse_question(pkt)
            if q is None:
                continue
            self._record(q, "udp", peer)
            rule = self._rule(q[2])
            mode = rule.get("mode", "normal")
            if mode == "silent":
                continue
            delay = rule.get({1: "delay_a_ms", 28: "delay_aaaa_ms"}.get(q[3], ""), rule.get("delay_ms", 0)) / 1000.0
            first = None
            if mode == "wrong_id":
                first = (self.udp, self.build_reply(q, "udp", override_id=(q[0] + 1) & 0xFFFF))
            elif mode == "wrong_question":
                first = (self.udp, self.build_reply(q, "udp", override_question=encode_name("evil.example") +
                                                     struct.pack("!HH", q[3], 1)))
            elif mode == "wrong_port":
                first = (self.spoof, self.build_reply(q, "udp", spoof=True))
            real = None if first is not None and not rule.get("then_answer") else self.build_reply(q, "udp")
            threading.Thread(target=self._send_later, args=(peer, first, real, delay), daemon=True).start()

    def _send_later(self, peer, first, real, delay):
        try:
            if first is not None:
                first[0].sendto(first[1], peer)
                time.sleep(0.02)
            if delay:
                time.sleep(delay)
            if real is not None:
                self.udp.sendto(real, peer)
        except OSError:
            pass

    def _tcp_loop(self):
        while not self.stopping:
            try:
                conn, peer = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn, peer), daemon=True).start()

    def _tcp_conn(self, conn, peer):
        conn.settimeout(10)
        try:
            while True:
                hdr = self._read_exact(conn, 2)
                if hdr is None:
                    return
                n = struct.unpack("!H", hdr)[0]
                pkt = self._read_exact(conn, n)
                if pkt is None:
                    return
                q = parse_question(pkt)
                if q is None:
                    return
                self._record(q, "tcp", peer)
                rule = self._rule(q[2])
                if rule.get("mode") in ("silent", "tcp_close"):
                    if rule.get("mode") == "silent":
                        time.sleep(5)
                    return
                if rule.get("delay_ms"):
                    time.sleep(rule["delay_ms"] / 1000.0)
                reply = self.build_reply(q, "tcp")
                framed = struct.pack("!H", len(reply)) + reply
                if rule.get("mode") == "tcp_dribble":
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for i in range(len(framed)):
                        conn.sendall(framed[i:i + 1])
                        time.sleep(0.002)
                else:
                    conn.sendall(framed)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--count", type=int, default=1, help="independent servers, each on its own port")
    args = ap.parse_args()
    log, lock = [], threading.Lock()
    servers = [DnsServer(args.host, 0, i, log, lock).start() for i in range(args.count)]
    print(json.dumps({"port": servers[0].port, "ports": [s.port for s in servers]}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            op = cmd.get("cmd")
            if op == "set":
                targets = cmd.get("servers")
                for i, s in enumerate(servers):
                    if targets is None or i in targets:
                        s.set_rule(cmd["name"], **cmd.get("rule", {}))
                reply = {"ok": True}
            elif op == "clear":
                for s in servers:
                    s.clear()
                reply = {"ok": True}
            elif op == "forget":
                with lock:
                    log.clear()
                reply = {"ok": True}
            elif op == "queries":
                with lock:
                    reply = {"queries": list(log)}
            elif op == "ping":
                reply = {"ok": True}
            else:
                reply = {"error": "unknown command"}
        except (ValueError, KeyError, TypeError) as e:
            reply = {"error": str(e)}
        print(json.dumps(reply), flush=True)
    for s in servers:
        s.stop()


if __name__ == "__main__":
    main()
