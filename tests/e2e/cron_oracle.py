"""An independent oracle for `sked cron next`, used by test_cron_croniter.py.

Three parts:

- a generator of random cron expressions kept as structured fields, so that
  one expression can be written both in sked's syntax and in croniter's
  (they differ: croniter puts seconds last, spells "last Friday" L5, ...);
- the calendar: croniter run on naive datetimes, i.e. on the zone's wall
  clock with no zone at all, configured so that its day-of-month /
  day-of-week rule is sked's (DESIGN section 4);
- a model of sked's daylight-saving rules (DESIGN section 4) written with
  zoneinfo alone: each wall-clock match is mapped to the real instants that
  show it, and the wild / fixed-time rules decide which of them fire.

Nothing here reads sked's source; the model only encodes DESIGN's text.
"""
import bisect
import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter, CroniterBadDateError

EPOCH = dt.datetime(1970, 1, 1)

# croniter gives up after this many years without a match; sked searches a
# whole 400-year Gregorian cycle, but nothing generated here fires more
# rarely than about every 40 years (Feb 29 on a given weekday).
MAX_YEARS = 120


def naive_from_ts(ts):
    return EPOCH + dt.timedelta(seconds=ts)


def ts_from_naive(d):
    return (d - EPOCH) // dt.timedelta(seconds=1)


# --------------------------------------------------------------------------
# Zones: transitions found by scanning zoneinfo, then bisecting to the second.

class Zone:
    """A zoneinfo zone with its offset transitions listed between y0 and y1."""

    def __init__(self, name, y0=1970, y1=2260):
        self.name = name
        self.zi = ZoneInfo(name)
        self.trans = []  # (instant, offset before, offset after), sorted
        t = ts_from_naive(dt.datetime(y0, 1, 1))
        end = ts_from_naive(dt.datetime(y1, 1, 1))
        step = 2 * 86400  # no two transitions of these zones are this close
        prev = self.offset(t)
        while t < end:
            nxt = min(t + step, end)
            off = self.offset(nxt)
            if off != prev:
                lo, hi = t, nxt  # offset(lo) == prev, offset(hi) != prev
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset(mid) == prev:
                        lo = mid
                    else:
                        hi = mid
                self.trans.append((hi, prev, off))
                prev = off
            t = nxt
        self.trans_at = [tr[0] for tr in self.trans]
        self.trans_set = set(self.trans_at)

    def offset(self, ts):
        """UTC offset in seconds at instant ts."""
        return int(dt.datetime.fromtimestamp(ts, self.zi).utcoffset().total_seconds())

    def local(self, ts):
        """The wall clock at instant ts, as a naive datetime."""
        return naive_from_ts(ts + self.offset(ts))

    def instants(self, wall):
        """The real instants whose wall clock reads `wall`: 0 (a gap), 1 or 2 (a fold)."""
        out = set()
        for fold in (0, 1):
            ts = int(wall.replace(tzinfo=self.zi, fold=fold).timestamp())
            if self.local(ts) == wall:
                out.add(ts)
        return sorted(out)

    def gap(self, wall):
        """For a wall time in a gap: (instant the gap ends, wall time it ends)."""
        # PEP 495: in a gap, fold=0 reads the time with the offset before the
        # transition (an instant after it), fold=1 with the offset after it.
        lo = int(wall.replace(tzinfo=self.zi, fold=1).timestamp())
        hi = int(wall.replace(tzinfo=self.zi, fold=0).timestamp())
        i = bisect.bisect_right(self.trans_at, lo)
        t, _, after = self.trans[i]
        assert lo < t <= hi, (self.name, wall)
        return t, naive_from_ts(t + after)

    def transitions_between(self, a, b):
        """Transitions with a < instant <= b."""
        i = bisect.bisect_right(self.trans_at, a)
        j = bisect.bisect_right(self.trans_at, b)
        return self.trans[i:j]

    def max_local(self, a, b):
        """The latest wall time shown by any instant of [a, b].

        Wall time runs forward except at backward transitions, where it has
        just shown (transition + offset before) when it jumps back.
        """
        return naive_from_ts(max([b + self.offset(b)] +
                                 [t + before for t, before, _ in self.transitions_between(a, b)]))

    def fold_margin(self, ts):
        """How far (seconds) wall clocks of instants after ts can run behind ts's own.

        Only non-zero when a backward transition is coming within its size:
        then the repeated wall times of the second pass come after ts.
        """
        for t, before, after in self.transitions_between(ts, ts + 4 * 3600):
            if after < before and t - (before - after) <= ts:
                return before - after
        return 0


# --------------------------------------------------------------------------
# Expressions.

MON_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
             "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DOW_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# field: (lowest, highest accepted, highest that * covers)
RANGES = {"sec": (0, 59, 59), "min": (0, 59, 59), "hour": (0, 23, 23),
          "dom": (1, 31, 31), "mon": (1, 12, 12), "dow": (0, 7, 6)}


class Field:
    """One field as a list of items, each a tuple:

    ("star",) ("qmark",) ("starstep", k) ("val", v) ("range", lo, hi, step|None)
    ("from", v, k) [v/k: from v to the field's end] ("L",) [day-of-month: last
    day] ("lastdow", w) [e.g. 5L] ("nth", w, n) [e.g. MON#2].
    `names` picks month and weekday names instead of numbers; `case` their case.
    """

    def __init__(self, kind, items, names=False, case=str.upper):
        self.kind, self.items, self.names, self.case = kind, items, names, case

    def _v(self, v):
        if self.names and self.kind == "mon":
            return self.case(MON_NAMES[v - 1])
        if self.names and self.kind == "dow" and v <= 6:
            return self.case(DOW_NAMES[v])
        return str(v)

    def sked(self):
        out = []
        for it in self.items:
            k = it[0]
            if k == "star":
                out.append("*")
            elif k == "qmark":
                out.append("?")
            elif k == "starstep":
                out.append("*/%d" % it[1])
            elif k == "val":
                out.append(self._v(it[1]))
            elif k == "range":
                s = "%s-%s" % (self._v(it[1]), self._v(it[2]))
                out.append(s + ("/%d" % it[3] if it[3] else ""))
            elif k == "from":
                out.append("%s/%d" % (self._v(it[1]), it[2]))
            elif k == "L":
                out.append("L")
            elif k == "lastdow":
                out.append(self._v(it[1]) + "L")
            elif k == "nth":
                out.append("%s#%d" % (self._v(it[1]), it[2]))
        return ",".join(out)

    def croniter(self, six):
        out = []
        for it in self.items:
            k = it[0]
            if k == "qmark":
                # croniter has no '?'; sked reads it as '*' (both start the
                # text the same way for the day rule).
                out.append("*")
            elif self.kind == "dow" and six and k in ("val", "range", "from"):
                # Difference (a croniter bug): with six fields croniter does
                # not map day-of-week 7 to Sunday, so 7 never matches. Spell
                # the values out with 7 as 0.
                vals = values_of(self.kind, it)
                out.append(",".join(str(v % 7) for v in sorted(vals)))
            elif k == "lastdow":
                out.append("L%d" % (it[1] % 7))
            elif k == "nth":
                out.append("%d#%d" % (it[1] % 7, it[2]))
            else:
                out.append(Field(self.kind, [it], self.names, self.case).sked())
        return ",".join(out)

    def restricted(self):
        """DESIGN: a day field is restricted when its text does not start with * (or ?)."""
        return self.sked()[0] not in "*?"


def values_of(kind, it):
    lo, hi, star_hi = RANGES[kind]
    k = it[0]
    if k == "val":
        return {it[1]}
    if k == "range":
        return set(range(it[1], it[2] + 1, it[3] or 1))
    if k == "from":
        # "N/k" runs from N to the field's end; for day-of-week that is 7
        # (Sunday again), as in Vixie cron and croniter.
        return set(range(it[1], hi + 1, it[2]))
    raise ValueError(it)


class Expr:
    def __init__(self, fields, macro=None):
        self.f = fields  # dict kind -> Field; "sec" only for six fields
        self.macro = macro  # "@daily" ..., written instead of the fields

    @property
    def six(self):
        return "sec" in self.f

    def sked(self):
        if self.macro:
            return self.macro
        kinds = (["sec"] if self.six else []) + ["min", "hour", "dom", "mon", "dow"]
        return " ".join(self.f[k].sked() for k in kinds)

    def croniter_fields(self):
        """croniter's text, field by field: seconds go last in croniter."""
        return [self.f[k].croniter(self.six) for k in ["min", "hour", "dom", "mon", "dow"]] + \
            ([self.f["sec"].croniter(True)] if self.six else [])

    def wild(self):
        """DESIGN: wild if the seconds, minute or hour text starts with '*'."""
        return any(self.f[k].sked().startswith("*") for k in ("sec", "min", "hour") if k in self.f)

    def day_or(self):
        """DESIGN / Vixie: both day fields restricted -> a day matches if EITHER does."""
        return self.f["dom"].restricted() and self.f["dow"].restricted()


def rand_field(rng, kind, dst_hours=False):
    # Steps never exceed the span '*' covers: sked refuses "0-7/8" with
    # "step 8 is larger than the range 0-6" where croniter accepts it.
    lo, hi, star_hi = RANGES[kind]
    if kind == "hour" and dst_hours:
        # Hours around the transitions of the zones under test (NY 2:00,
        # London 1:00, Lord Howe 2:00, Kathmandu 0:00).
        r = rng.random()
        if r < 0.45:
            items = [("val", rng.choice([0, 1, 1, 2, 2, 3]))]
        elif r < 0.7:
            a = rng.choice([0, 1, 2])
            items = [("range", a, rng.randint(a + 1, 4), None)]
        else:
            items = [("val", v) for v in sorted(rng.sample(range(0, 5), rng.randint(2, 3)))]
        return Field(kind, items)
    names = kind in ("mon", "dow") and rng.random() < 0.3
    case = rng.choice([str.upper, str.lower, str.title])
    top = hi if not names else star_hi  # names stop at SAT / DEC
    r = rng.random()
    if r < 0.30:
        items = [("star",)]
        if kind in ("dom", "dow") and rng.random() < 0.15:
            items = [("qmark",)]
    elif r < 0.40:
        span = star_hi - lo + 1
        items = [("starstep", rng.randint(1, 15 if kind in ("sec", "min") else span))]
    elif r < 0.62:
        items = [("val", rng.randint(lo, top))]
    elif r < 0.70:
        a = rng.randint(lo, top)
        items = [("range", a, rng.randint(a, top), None)]
    elif r < 0.76:
        a = rng.randint(lo, top)
        b = rng.randint(a, top)
        items = [("range", a, b, rng.randint(1, min(b - a + 1, star_hi - lo + 1)))]
    elif r < 0.79:
        a = rng.randint(lo, top)
        items = [("from", a, rng.randint(1, star_hi - lo + 1))]
    else:
        items = []
        for _ in range(rng.randint(2, 4)):
            if rng.random() < 0.7:
                items.append(("val", rng.randint(lo, top)))
            else:
                a = rng.randint(lo, top)
                b = rng.randint(a, min(top, a + 10))
                items.append(("range", a, b, rng.choice([None, None, 2, 3])))
    # Day fields: the Quartz extensions croniter also has.
    if kind == "dom" and rng.random() < 0.06:
        items = [("L",)] if rng.random() < 0.6 else [("val", rng.randint(1, 28)), ("L",)]
    if kind == "dow" and rng.random() < 0.06:
        # croniter refuses plain days mixed with # or L; use them alone.
        w = rng.sample(range(0, 8), rng.randint(1, 2))
        items = [("lastdow", x) if rng.random() < 0.4 else ("nth", x, rng.randint(1, 5))
                 for x in w]
        names = names and all(x <= 6 for x in w)
    if kind == "dow" and rng.random() < 0.08 and items[0][0] in ("val", "range"):
        # 7 is Sunday too.
        items = [("val", 7)] if rng.random() < 0.5 else [("range", rng.randint(3, 7), 7, None)]
        names = False
    return Field(kind, items, names, case)


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


def expr_from_text(text, macro=None):
    """An Expr from plain five-field numeric text (for the macros)."""
    kinds = ["min", "hour", "dom", "mon", "dow"]
    f = {}
    for k, part in zip(kinds, text.split()):
        f[k] = Field(k, [("star",)] if part == "*" else [("val", int(part))])
    return Expr(f, macro)


def rand_expr(rng):
    if rng.random() < 0.02:
        # croniter expands the same macros (without a hash_id).
        m = rng.choice(sorted(MACROS))
        return expr_from_text(MACROS[m], rng.choice([m, m.upper()]))
    six = rng.random() < 0.3
    dst_hours = rng.random() < 0.45
    f = {}
    if six:
        f["sec"] = rand_field(rng, "sec")
    f["min"] = rand_field(rng, "min")
    f["hour"] = rand_field(rng, "hour", dst_hours)
    f["dom"] = rand_field(rng, "dom")
    f["mon"] = rand_field(rng, "mon")
    f["dow"] = rand_field(rng, "dow")
    if dst_hours and rng.random() < 0.5:
        # Daily at the transition hours: the starts near transitions then
        # meet gaps and folds within five fires.
        for k in ("dom", "mon", "dow"):
            f[k] = Field(k, [("star",)])
    elif rng.random() < 0.2:
        # Both day fields restricted, the Vixie OR rule.
        while not f["dom"].restricted():
            f["dom"] = rand_field(rng, "dom")
        while not f["dow"].restricted():
            f["dow"] = rand_field(rng, "dow")
    return Expr(f)


# --------------------------------------------------------------------------
# The calendar (croniter on naive wall-clock datetimes), with sked's day rule.

class Calendar:
    """Wall-clock matches of an expression, in order, from croniter.

    croniter is asked so that its answer follows DESIGN's day rule:
    - sked ANDs the day fields (one of them starts with '*' or '?'): one
      croniter(day_or=False), which always ANDs.
    - sked ORs them (both restricted): the union of two croniters, one for
      each day field with the other made '*'. That is the Vixie rule itself
      and what croniter(day_or=True) computes too, when it applies it; it
      does not apply it, or gets it wrong, in these cases (differences, each
      one documented in test_cron_croniter.DOCUMENTED_DIFFERENCES):
      * a day field lists every value ("1-31", "0-7", "SUN-SAT"): croniter
        decides on the expanded set and takes it for '*', so "0 0 1-31 * MON"
        is Mondays only for croniter, every day for sked (DESIGN: the text
        decides, Vixie's own rule);
      * the day of week uses # or L: croniter keeps only the nth/last
        weekday days (it ANDs them with day-of-month), so "0 0 1 * MON#1"
        is first Mondays only for croniter, the 1st or the first Monday for
        sked;
      * one side never matches ("0 1 31 9 MON": there is no September 31):
        croniter raises CroniterBadDateError instead of giving the other
        side's days (Mondays in September).
    And sked ANDs where croniter would OR (documented as well): "*/2" in a
    day field starts with '*', so it is not restricted in DESIGN's sense
    (the Vixie rule), while croniter sees a restricted set of days.
    A croniter bug with days past 28 is bridged in _Stream (also in the
    table), and its six-field day-of-week 7 in Field.croniter.
    """

    def __init__(self, expr):
        fs = expr.croniter_fields()
        if not expr.day_or():
            self.texts = [" ".join(fs)]
        else:
            a = list(fs)
            a[4] = "*"
            b = list(fs)
            b[2] = "*"
            self.texts = [" ".join(a), " ".join(b)]

    def iter_from(self, start):
        """Wall times strictly after naive datetime `start`, ascending, no repeats."""
        streams = [_Stream(text, start) for text in self.texts]
        heads = [st.next() for st in streams]
        last = None
        while True:
            i = min((k for k in range(len(heads)) if heads[k] is not None),
                    key=lambda k: heads[k], default=None)
            if i is None:
                return
            v = heads[i]
            heads[i] = streams[i].next()
            if v != last:
                last = v
                yield v

    def next_in_zone(self, zone, after_ts, n):
        """croniter's own answer with a zoneinfo-aware start (its DST handling).

        Cut short before the first day croniter's month-end bug skips: the
        bridge of _Stream would restart croniter from another offset than
        the start's, which sets off croniter's DST adjustment.
        """
        start = dt.datetime.fromtimestamp(after_ts, zone.zi)
        outs, limit = [], None
        for text in self.texts:
            st = _Stream(text, start, bridge=False)
            for _ in range(n):
                v = st.next()
                if v is None:
                    break
                outs.append(int(v.timestamp()))
            if st.skipped is not None:
                t = int(st.skipped.timestamp())
                limit = t if limit is None else min(limit, t)
        return sorted(set(u for u in outs if limit is None or u < limit))[:n]


class _Croniter(croniter):
    """croniter with its parse memoised: parsing is most of the cost of a
    croniter object, and the oracle makes many for each expression."""

    _parsed = {}

    @classmethod
    def expand(cls, expr_format, hash_id=None):
        key = (expr_format, hash_id)
        if key not in cls._parsed:
            cls._parsed[key] = croniter.expand(expr_format, hash_id=hash_id)
        expanded, nth = cls._parsed[key]
        # Copies: croniter may update the nth sets in place.
        return [list(x) for x in expanded], {k: set(v) for k, v in nth.items()}


def _get_next(c):
    try:
        return c.get_next(dt.datetime)
    except CroniterBadDateError:
        return None
    except ValueError:  # past year 9999
        return None


class _Stream:
    """croniter's successive matches from `start` (naive or aware), with one
    croniter bug bridged.

    The bug: asked for a day of month that the current month lacks (31 in
    February), croniter adds the difference in days anyway and lands in the
    next month past its first days, so "0 0 1,31 * *" from February 10 skips
    March 1. When the listed days go past 28, every month start between two
    results is asked again from its eve, and the earliest answer is kept
    (with bridge=False the stream records the skipped day and ends instead).
    """

    def __init__(self, text, start, bridge=True):
        self.text, self.bridge, self.skipped = text, bridge, None
        expanded, _ = _Croniter.expand(text)
        self.top_day = max([d for d in expanded[2] if isinstance(d, int)], default=0)
        self.c = self._croniter(start)
        self.cur = start

    def _croniter(self, start):
        return _Croniter(self.text, start, day_or=False, max_years_between_matches=MAX_YEARS)

    def next(self):
        if self.skipped is not None:
            return None
        r = _get_next(self.c)
        if r is not None and self.top_day > 28:
            fixed = self._bridge(self.cur, r)
            if fixed != r:
                if not self.bridge:
                    self.skipped = fixed  # and stop here
                    return None
                r = fixed
                self.c = self._croniter(r)
        self.cur = r
        return r

    def _bridge(self, cur, r):
        y, m = cur.year, cur.month
        while True:
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
            first = dt.datetime(y, m, 1, tzinfo=cur.tzinfo)
            if first > r:
                return r
            eve = first - dt.timedelta(seconds=1)
            if eve.day < self.top_day:
                r2 = _get_next(self._croniter(eve))
                if r2 is not None and r2 < r:
                    return r2


# --------------------------------------------------------------------------
# DESIGN section 4's daylight-saving rules on top of the calendar.

def model_next(expr, cal, zone, after, n, max_steps=20000):
    """The first n fire instants strictly after `after` under DESIGN.

    wild: every real instant whose wall clock matches (a gap's wall times
    never come; a fold's come in both passes). fixed-time: a matching wall
    time fires at its first instant; one inside a gap fires at the gap's end,
    several in one gap firing once.
    """
    wild = expr.wild()
    fires = []
    start = zone.local(after) - dt.timedelta(seconds=zone.fold_margin(after) if wild else 0)
    steps = 0
    while True:
        restart = None
        for wall in cal.iter_from(start):
            steps += 1
            assert steps < max_steps, "model: too many steps for %r" % expr.sked()
            insts = zone.instants(wall)
            if not insts:
                t, end_wall = zone.gap(wall)
                if not wild and t > after and t not in fires:
                    fires.append(t)
                # Nothing else in the gap can do more: go on from its end.
                restart = end_wall - dt.timedelta(seconds=1)
            else:
                for u in (insts if wild else insts[:1]):
                    if u > after and u not in fires:
                        fires.append(u)
            fires.sort()
            if len(fires) >= n:
                kth = fires[n - 1]
                # Later wall times are shown only by instants after kth
                # once no instant up to kth shows a wall time this late.
                if wall >= zone.max_local(after, kth):
                    return fires[:n]
            if restart is not None:
                break
        if restart is None:
            return fires[:n]  # the calendar ran out
        start = restart
