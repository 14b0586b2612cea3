#!/usr/bin/env python3
"""Upstream calls per invoke at steady state, and CPU per refresh on a kept-alive TLS connection.

The release binary runs under the Lambda emulator against the AppConfig emulator over TLS (throwaway CA).
Phase 1: many invokes inside one poll interval -> expect 0 upstream calls.
Phase 2: invokes spaced past the interval -> expect exactly 1 GetLatestConfiguration per key per interval.
CPU per refresh = extra process CPU (utime+stime, /proc/PID/stat) of refreshing invokes over plain ones."""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
import appconfig_data as ad  # noqa: E402
from lambda_api import LambdaEmulator  # noqa: E402
from test_appconfig import make_ca, get, AK, SK, TOKEN  # noqa: E402
from harness import free_port  # noqa: E402

KEYS = 3


def cpu_ns(pid):
    # /proc/PID/schedstat: first field is the time spent on a CPU, in nanoseconds.
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def main():
    binary = sys.argv[1]
    invokes = int(os.environ.get("INVOKES", "40"))
    tmp = tempfile.mkdtemp()
    ca, cert, key = make_ca(tmp)
    em = ad.Emulator(tls_cert=cert, tls_key=key).start()
    em.settings(default_poll_interval_s=1)
    em.add_credentials(AK, SK, session_token=TOKEN)
    for i in range(KEYS):
        em.set_config("App", "Env", f"P{i}", b'{"k":"' + b"x" * 2000 + b'"}', version_label="v1")
    port = free_port()
    env = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
           "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL_APPCONFIGDATA": f"https://localhost:{em.port}",
           "AWS_CA_BUNDLE": ca, "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(port),
           "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": "1", "AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "warn",
           "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": ",".join(f"App:Env:P{i}" for i in range(KEYS))}
    with LambdaEmulator(binary, env=env) as emu:
        assert emu.start().ok, emu.stderr()
        em.reset_counters()
        # Phase 1: within one interval.
        t0 = time.monotonic()
        n1 = 0
        c0 = cpu_ns(emu.pid)
        while time.monotonic() - t0 < 0.8:
            emu.invoke(lambda: [get(port, f"/applications/App/environments/Env/configurations/P{i}") for i in range(KEYS)])
            n1 += 1
        plain_cpu = (cpu_ns(emu.pid) - c0) / 1e9 / n1
        calls1 = sum(em.counters()["calls"].values())
        # Phase 2: each invoke after the interval has passed (freeze 1.1 s).
        em.reset_counters()
        emu.invoke(lambda: None, freeze_s=1.1)
        em.reset_counters()
        c0 = cpu_ns(emu.pid)
        reads = lambda: [get(port, f"/applications/App/environments/Env/configurations/P{i}") for i in range(KEYS)]
        for _ in range(invokes // 4):
            emu.invoke(reads, freeze_s=1.1)  # the same reads as phase 1, plus the refreshes
        n2 = invokes // 4
        refresh_cpu = (cpu_ns(emu.pid) - c0) / 1e9 / n2
        calls = em.counters()["calls"]
        emu.shutdown()
    em.stop()
    gets = calls.get("GetLatestConfiguration", 0)
    print(f"phase 1: {n1} invokes within one interval, {calls1} upstream calls ({calls1 / n1:.2f} per invoke)")
    print(f"phase 2: {n2} invokes each past the interval, {KEYS} keys: {gets} GetLatestConfiguration "
          f"({gets / (n2 * KEYS):.2f} per key per interval), {calls.get('StartConfigurationSession', 0)} new sessions")
    per_refresh_us = max(0.0, refresh_cpu - plain_cpu) / KEYS * 1e6
    print(f"CPU per invoke without refresh (3 cached reads): {plain_cpu * 1e6:.0f} us; with refresh of {KEYS} keys: "
          f"{refresh_cpu * 1e6:.0f} us")
    print(f"CPU per refresh (kept-alive TLS, one key, SigV4 + request + response): ~{per_refresh_us:.0f} us "
          f"(schedstat, averaged over {n2 * KEYS} refreshes)")


if __name__ == "__main__":
    main()
