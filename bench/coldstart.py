#!/usr/bin/env python3
"""Init overhead: exec -> first /event/next, ours vs a minimal C extension (the floor),
measured by the Lambda emulator in the same run; plus peak RSS after init."""
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
from lambda_api import LambdaEmulator  # noqa: E402


def measure(binary, runs, env):
    inits, rss = [], []
    for _ in range(runs):
        with LambdaEmulator(binary, env=env) as emu:
            r = emu.start()
            if not r.ok:
                raise SystemExit(f"{binary}: init failed: {r.reason}\n{emu.stderr()[-2000:]}")
            inits.append(r.init_overhead_ms)
            with open(f"/proc/{emu.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        rss.append(int(line.split()[1]))
            s = emu.shutdown()
            if s.exit_code != 0:
                raise SystemExit(f"{binary}: exit code {s.exit_code}")
    return inits, rss


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ours, floor, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = {"AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "warn", "AWS_APPCONFIG_EXTENSION_HTTP_PORT": "2772"}
    # Interleave in blocks so machine noise hits both alike.
    o_i, o_r, f_i, f_r = [], [], [], []
    block = 20
    for _ in range(runs // block):
        a, b = measure(ours, block, env)
        o_i += a; o_r += b
        a, b = measure(floor, block, {})
        f_i += a; f_r += b
    print(f"{'':10s} {'median_ms':>10s} {'p90_ms':>8s} {'peak_rss_kB':>12s}   ({len(o_i)} starts each)")
    for name, i, r in (("ours", o_i, o_r), ("floor", f_i, f_r)):
        print(f"{name:10s} {statistics.median(i):10.3f} {pct(i, 0.9):8.3f} {max(r):12d}")
    print(f"ratio      median init {statistics.median(o_i) / statistics.median(f_i):.2f}x the floor, "
          f"peak RSS after init {max(o_r)} kB")


if __name__ == "__main__":
    main()
