#!/usr/bin/python3
"""sked's next-fire computation against croniter's, in the same run.

usage: /usr/bin/python3 bench/cron_vs_croniter.py BUILD/bench_cron [--seconds S]

Both sides read the mix in bench/cron_mix.tsv (expr<TAB>zone) and compute,
for every entry, the next fire after each of the same start instants: sked
with sk_cron_next (bench/bench_cron.c), croniter with get_next(start_time=)
on an object parsed once per entry, so neither side pays for parsing in the
loop. Both measure process CPU time, so other work on the machine does not
count. Then the same for a few worst cases, as the latency of one call.
Prints both rates side by side and sked's lead; `make bench` runs this.
"""
import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

from croniter import croniter

HERE = os.path.dirname(os.path.abspath(__file__))
MIX = os.path.join(HERE, "cron_mix.tsv")
# The start instants: STARTS of them, BASE + k * STRIDE (64 cover a year and
# so both DST changes of each zone). bench_cron gets the same numbers.
STARTS, BASE, STRIDE = 64, 1767225600, 457997  # 2026-01-01T00:00:00Z, 5d 7h 13m 17s
# Rare fires, in a zone with DST: Feb 29 alone (every 4 years), Feb 29 OR
# Mondays in February (Vixie rule), and a wild one on Feb 29 (sked walks the
# DST spans of four years to reach it).
WORST = [("0 0 29 2 MON", "America/New_York"),
         ("0 0 29 2 *", "America/New_York"),
         ("* * 29 2 *", "America/New_York")]
TARGET = 100  # sked should be at least this many times faster


def read_mix(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            expr, sep, zone = line.rpartition("\t")
            if not sep:
                sys.exit("%s:%d: expected expr<TAB>zone" % (path, n))
            out.append((expr, zone))
    return out


def to_croniter(expr):
    """sked's syntax -> croniter's: seconds go last; 5L (last Friday) is L5; ? is *."""
    if expr.startswith("@"):
        return expr.lower()
    f = expr.split()
    if len(f) == 6:
        f = f[1:] + f[:1]
    dow = 4
    f[dow] = ",".join(re.sub(r"^(\w+?)L$", r"L\1", item) for item in f[dow].split(","))
    return " ".join("*" if x == "?" else x for x in f)


def prepare(expr, zone):
    """A parsed croniter and the starts as datetimes in the zone."""
    zi = ZoneInfo(zone)
    starts = [dt.datetime.fromtimestamp(BASE + k * STRIDE, zi) for k in range(STARTS)]
    return croniter(to_croniter(expr), starts[0]), starts


def bench_mix(mix, seconds):
    prepared = [prepare(e, z) for e, z in mix]
    calls, sweeps = 0, 0
    t0 = time.process_time()
    while True:
        for c, starts in prepared:
            for s in starts:
                c.get_next(float, start_time=s)
            calls += len(starts)
        sweeps += 1
        t = time.process_time()
        if t - t0 >= seconds:
            break
    return calls / (t - t0), sweeps


def bench_worst(expr, zone, reps=3, rounds=5):
    """Per start: the median over rounds of `reps` identical calls; mean and slowest start."""
    c, starts = prepare(expr, zone)
    lat = []
    for s in starts:
        r = []
        for _ in range(rounds):
            t0 = time.process_time()
            for _ in range(reps):
                c.get_next(float, start_time=s)
            r.append((time.process_time() - t0) / reps)
        lat.append(statistics.median(r))
    return statistics.mean(lat), max(lat)


def run_sked(binary, seconds):
    args = [binary, "--mix", MIX, "--seconds", str(seconds), "--starts", str(STARTS),
            "--base", str(BASE), "--stride", str(STRIDE)]
    for e, z in WORST:
        args += ["--worst", e, z]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"([\d.]+) computations/s", out).group(1))
    slowest = re.search(r'slowest in mix: "(.*)" (\S+) ([\d.]+) ns/call', out)
    worst = {}
    for m in re.finditer(r'^worst: "(.*)" (\S+) mean ([\d.]+) ns/call, '
                         r'slowest start ([\d.]+) ns/call', out, re.M):
        worst[(m.group(1), m.group(2))] = (float(m.group(3)), float(m.group(4)))
    return rate, slowest, worst, out


def fmt_ns(ns):
    return "%.0f ns" % ns if ns < 10000 else "%.1f us" % (ns / 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_cron")
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()

    mix = read_mix(MIX)
    print("cron next-fire benchmark: %d expressions x %d starts (%s), process CPU time"
          % (len(mix), STARTS, os.path.relpath(MIX)))
    py_rate, sweeps = bench_mix(mix, a.seconds)
    py_worst = {w: bench_worst(*w) for w in WORST}
    sk_rate, slowest, sk_worst, raw = run_sked(a.bench_cron, a.seconds / 2)

    ratio = sk_rate / py_rate
    print()
    print("%-28s %16s %16s" % ("", "sked (C)", "croniter"))
    print("%-28s %16s %16s" % ("computations/s", "{:,.0f}".format(sk_rate),
                                "{:,.0f}".format(py_rate)))
    print("%-28s %16s %16s" % ("mean latency per call", fmt_ns(1e9 / sk_rate),
                                fmt_ns(1e9 / py_rate)))
    print()
    print("sked / croniter: %.0fx (target: at least %dx) -> %s"
          % (ratio, TARGET, "met" if ratio >= TARGET else "NOT MET"))
    if slowest:
        print("slowest entry of the mix for sked: \"%s\" %s, %s per call"
              % (slowest.group(1), slowest.group(2), fmt_ns(float(slowest.group(3)))))
    print()
    print("worst cases, latency of one call (mean over the starts / slowest start):")
    print("%-30s %-18s %22s %22s %7s" % ("expr", "zone", "sked", "croniter", "ratio"))
    for w in WORST:
        s_mean, s_max = sk_worst.get(w, (float("nan"), float("nan")))
        p_mean, p_max = py_worst[w]
        print("%-30s %-18s %22s %22s %6.0fx" % (
            '"%s"' % w[0], w[1], "%s / %s" % (fmt_ns(s_mean), fmt_ns(s_max)),
            "%s / %s" % (fmt_ns(p_mean * 1e9), fmt_ns(p_max * 1e9)), p_mean * 1e9 / s_mean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
