#!/usr/bin/python3
"""Cross-checks the golden cron tables (tests/data/cron/*.tsv) against an
independent reference: a brute-force cron matcher written here from
crontab(5) and DESIGN section 4, on top of Python's zoneinfo. It shares no
code or algorithm with src/cron (which carries field by field and walks
spans); it tries every local minute (fixed-time expressions) or every real
minute (wild ones) instead.

    /usr/bin/python3 tests/data/cron/crosscheck.py [FILE.tsv ...]

Prints each row whose expected instants differ from the reference and exits
1 if any do. The expected values in the tables were written by reasoning and
then checked with this script; it is not run by `make`.
"""
import calendar
import glob
import os
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
          "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
UTC = timezone.utc


def value(text, names, base):
    if text.isdigit():
        return int(text)
    return names.index(text.upper()) + base


class Field:
    """Plain values plus the Quartz extras of the two day fields."""

    def __init__(self, text, lo, hi, names=(), base=0, dow=False, dom=False):
        self.text = text
        self.values = set()
        self.last = set()       # DOM: L-k offsets; DOW: weekdays (5L)
        self.lastwd = False     # DOM: LW
        self.near = set()       # DOM: 15W
        self.nth = set()        # DOW: (weekday, k)
        for item in text.split(","):
            u = item.upper()
            if dom and u == "LW":
                self.lastwd = True
                continue
            if dom and u.startswith("L"):
                self.last.add(int(u[2:]) if u.startswith("L-") else 0)
                continue
            if dom and u.endswith("W"):
                self.near.add(int(u[:-1]))
                continue
            if dow and u.endswith("L"):
                self.last.add(value(u[:-1], names, base) % 7)
                continue
            if dow and "#" in u:
                a, k = u.split("#")
                self.nth.add((value(a, names, base) % 7, int(k)))
                continue
            step, stepped = 1, "/" in item
            if stepped:
                item, s = item.split("/")
                step = int(s)
            if item in ("*", "?"):
                a, b = lo, (6 if dow else hi)
            elif "-" in item:
                a, b = (value(x, names, base) for x in item.split("-"))
            else:  # 5/10 runs from 5 to the end of the field (7 for weekdays)
                a = value(item, names, base)
                b = hi if stepped else a
            for v in range(a, b + 1, step):
                self.values.add(v % 7 if dow else v)

    @property
    def star(self):
        return self.text[0] in "*?"


def nearest_weekday(y, m, n):
    ndays = calendar.monthrange(y, m)[1]
    wd = calendar.weekday(y, m, n)  # Monday = 0
    if wd == 5:  # Saturday: the Friday before, or Monday 3rd if n is the 1st
        return n + 2 if n == 1 else n - 1
    if wd == 6:  # Sunday: the Monday after, or Friday before at the month end
        return n - 2 if n == ndays else n + 1
    return n


class Cron:
    def __init__(self, expr):
        expr = MACROS.get(expr.strip().lower(), expr)
        f = expr.split()
        if len(f) == 5:
            f = ["0"] + f
        self.sec = Field(f[0], 0, 59)
        self.min = Field(f[1], 0, 59)
        self.hour = Field(f[2], 0, 23)
        self.dom = Field(f[3], 1, 31, dom=True)
        self.mon = Field(f[4], 1, 12, MONTHS, 1)
        self.dow = Field(f[5], 0, 7, DAYS, 0, dow=True)
        self.wild = f[0][0] == "*" or f[1][0] == "*" or f[2][0] == "*"

    def day_matches(self, y, m, d):
        ndays = calendar.monthrange(y, m)[1]
        wd = (calendar.weekday(y, m, d) + 1) % 7  # Sunday = 0
        D = self.dom
        dm = (d in D.values or any(d == ndays - k for k in D.last)
              or (D.lastwd and d == max(x for x in range(ndays - 2, ndays + 1)
                                        if calendar.weekday(y, m, x) < 5))
              or any(n <= ndays and d == nearest_weekday(y, m, n) for n in D.near))
        W = self.dow
        wm = (wd in W.values or (wd in W.last and d + 7 > ndays)
              or (wd, (d - 1) // 7 + 1) in W.nth)
        if not D.star and not W.star:
            return dm or wm          # Vixie: either day field may match
        return dm and wm

    def date_matches(self, lt):
        return lt.month in self.mon.values and self.day_matches(lt.year, lt.month, lt.day)

    def minute_matches(self, lt):
        """lt: naive local datetime at a whole minute."""
        return (lt.minute in self.min.values and lt.hour in self.hour.values
                and self.date_matches(lt))


def local(u, z):
    return datetime.fromtimestamp(u, z).replace(tzinfo=None)


def instants_of(lt, z):
    """The real instants whose wall clock in z reads lt (0, 1 or 2)."""
    out = set()
    for fold in (0, 1):
        u = int(lt.replace(tzinfo=z, fold=fold).timestamp())
        if local(u, z) == lt:
            out.add(u)
    return sorted(out)


def gap_end(lt, z):
    """The first real instant whose wall clock is past lt (lt in a gap)."""
    lo = int(lt.replace(tzinfo=z).timestamp()) - 2 * 86400  # shows an earlier time
    hi = lo + 4 * 86400                                       # shows a later one
    while hi - lo > 1:  # bisect to the first second whose wall clock is past lt
        mid = (lo + hi) // 2
        if local(mid, z) > lt:
            hi = mid
        else:
            lo = mid
    return hi


def reference(c, z, after, count):
    out = []
    if c.wild:
        # Every real instant whose local time matches.
        u = after - after % 60
        while len(out) < count:
            lt = local(u, z)
            left = (24 * 60 - lt.hour * 60 - lt.minute) - 180
            if not c.date_matches(lt) and left > 0:
                u += left * 60  # skip most of a day that cannot match
                continue
            if c.minute_matches(lt):
                for s in sorted(c.sec.values):
                    if u + s > after and len(out) < count:
                        out.append(u + s)
            u += 60
        return out
    # Fixed time: each matching local time maps to its first instant, or to
    # the end of the gap it falls in; equal instants make one fire.
    lt = local(after, z).replace(second=0) - timedelta(hours=3)
    fires = set()
    while True:
        if not c.date_matches(lt):
            lt = (lt + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if c.minute_matches(lt):
            for s in sorted(c.sec.values):
                t = lt + timedelta(seconds=s)
                ins = instants_of(t, z)
                u = ins[0] if ins else gap_end(t, z)
                if u > after:
                    fires.add(u)
        lt += timedelta(minutes=1)
        done = sorted(fires)
        if len(done) >= count and local(done[count - 1], z) + timedelta(hours=3) <= lt:
            return done[:count]


def iso(u, z):
    return datetime.fromtimestamp(u, z).isoformat()


def main(paths):
    bad = rows = 0
    for path in paths:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                expr, tz, after, *expected = line.split("\t")
                z = ZoneInfo(tz)
                a = int(datetime.fromisoformat(after).timestamp())
                got = [iso(u, z) for u in reference(Cron(expr), z, a, len(expected))]
                rows += 1
                if got != expected:
                    bad += 1
                    print(f"{path}:{lineno}: {expr!r} {tz} after {after}")
                    print(f"  table:     {expected}")
                    print(f"  reference: {got}")
    print(f"{rows} rows, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(main(sys.argv[1:] or sorted(glob.glob(os.path.join(here, "*.tsv")))))
