"""The household's day: when it wakes, leaves, comes home, cooks, watches TV and sleeps, drawn per local day."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass, field

import numpy as np

from simulator.signals import Floats, rng_for

HOUR = 3600.0
MINUTE = 60.0
Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One local day as named lists of (start, end) epoch intervals, e.g. `away`, `room:kitchen`, `kettle`."""

    midnight: float
    date: dt.date
    kind: str
    intervals: dict[str, list[Span]] = field(default_factory=dict)

    def get(self, name: str) -> list[Span]:
        """The intervals called `name` (empty when the day has none)."""
        return self.intervals.get(name, [])


class _Day:
    """A builder that turns local hours into epoch intervals for one day."""

    def __init__(self, midnight: float, rng: np.random.Generator) -> None:
        self.midnight = midnight
        self.rng = rng
        self.spans: dict[str, list[Span]] = {}

    def add(self, name: str, start_h: float, end_h: float, p: float = 1.0) -> bool:
        """Add [start_h, end_h) local hours under `name` with probability `p`; True when added."""
        if end_h <= start_h or self.rng.random() >= p:
            return False
        self.spans.setdefault(name, []).append((self.midnight + start_h * HOUR, self.midnight + end_h * HOUR))
        return True

    def u(self, low: float, high: float) -> float:
        """A uniform draw."""
        return float(self.rng.uniform(low, high))

    def n(self, mean: float, sd: float, low: float, high: float) -> float:
        """A clipped normal draw."""
        return float(np.clip(self.rng.normal(mean, sd), low, high))


def _workday(day: _Day, remote: bool) -> tuple[float, float, float]:
    """Morning and daytime of a work day; returns (wake, time the evening starts at home, sleep)."""
    wake = day.n(7.0 if remote else 6.5, 0.3, 5.5, 8.0)
    sleep = day.n(23.0, 0.4, 22.0, 23.9)
    day.add("room:bathroom", wake, wake + 0.3)
    day.add("shower", wake + 0.05, wake + 0.2)
    day.add("room:kitchen", wake + 0.3, wake + 0.7)
    day.add("kettle", wake + 0.35, wake + 0.35 + day.u(0.04, 0.07), p=0.9)
    if remote:
        day.add("room:office", 8.5, 12.5)
        day.add("pc", 8.5, 12.5)
        day.add("room:kitchen", 12.5, 13.25)
        day.add("room:office", 13.25, 17.5)
        day.add("pc", 13.25, 17.5)
        day.add("kettle", 15.5, 15.5 + day.u(0.04, 0.07), p=0.5)
        errand = day.u(17.5, 18.0)
        evening = errand + day.u(0.5, 1.0)
        if not day.add("away", errand, evening, p=0.5):
            evening = 17.6
        return wake, evening, sleep
    leave = wake + day.u(0.9, 1.3)
    back = day.n(17.5, 0.6, 16.0, 19.5)
    day.add("away", leave, back)
    return wake, back, sleep


def _weekend(day: _Day) -> tuple[float, float, float]:
    """Morning and daytime of a weekend day; returns (wake, time the evening starts at home, sleep)."""
    wake = day.n(8.5, 0.5, 7.0, 10.0)
    sleep = day.n(23.5, 0.4, 22.5, 23.95)
    day.add("room:bathroom", wake, wake + 0.4)
    day.add("shower", wake + 0.1, wake + 0.3)
    day.add("room:kitchen", wake + 0.4, wake + 1.1)
    day.add("kettle", wake + 0.45, wake + 0.45 + day.u(0.04, 0.07), p=0.95)
    day.add("room:living", wake + 1.1, 11.0)
    day.add("tv", wake + 1.2, 10.8, p=0.4)
    day.add("washer", wake + 1.5, wake + 1.5 + day.u(1.6, 2.0), p=0.6)
    out = day.u(11.0, 12.5)
    back = out + day.u(2.0, 4.0)
    if not day.add("away", out, back, p=0.6):
        day.add("room:kitchen", 12.5, 13.3)
        day.add("cook", 12.6, 13.0, p=0.7)
        day.add("room:living", 13.3, 16.0)
        back = 16.0
    day.add("kettle", back + 0.2, back + 0.2 + day.u(0.04, 0.07), p=0.6)
    day.add("room:living", back + 0.1, 18.0)
    return wake, max(back, 18.0), sleep


def _evening(day: _Day, home_from: float, sleep: float, weekday: bool) -> None:
    """Dinner, TV, PC, dishes, laundry and bedtime; the same shape every day."""
    day.add("room:hallway", home_from, home_from + 0.05)
    dinner = max(home_from + 0.3, 18.3) + day.u(0.0, 0.5)
    dinner_end = dinner + day.u(0.6, 1.0)
    day.add("room:kitchen", dinner, dinner_end)
    day.add("cook", dinner, dinner + day.u(0.3, 0.6), p=0.85)
    day.add("kettle", dinner + 0.7, dinner + 0.7 + day.u(0.04, 0.07), p=0.3)
    day.add("dishwasher", dinner_end + 0.2, dinner_end + 0.2 + day.u(1.8, 2.2), p=0.6)
    if weekday:
        day.add("washer", home_from + 0.5, home_from + 0.5 + day.u(1.6, 2.0), p=0.3)
    day.add("room:living", dinner_end, sleep - 0.4)
    day.add("tv", dinner_end + day.u(0.0, 0.3), sleep - 0.45, p=0.85)
    pc_start = max(dinner_end, 20.0) + day.u(0.0, 0.5)
    pc_end = min(pc_start + day.u(1.0, 2.0), sleep - 0.5)
    if day.add("room:office", pc_start, pc_end, p=0.55):
        day.add("pc", pc_start, pc_end)
    day.add("room:bathroom", sleep - 0.35, sleep - 0.15)
    day.add("room:bedroom", sleep - 0.15, sleep)
    day.add("window:bedroom", sleep - 0.3, sleep - 0.15, p=0.3)


def _household(day: _Day, date: dt.date) -> tuple[float, float]:
    """Lay out the whole day; returns (wake, sleep) in local hours."""
    if date.weekday() >= 5:
        wake, home_from, sleep = _weekend(day)
        kind = "weekend"
    else:
        remote = day.rng.random() < 0.2
        wake, home_from, sleep = _workday(day, remote)
        kind = "remote" if remote else "work"
    day.spans.setdefault("kind:" + kind, [])
    day.add("window:living", wake + 0.5, wake + 0.5 + day.u(0.15, 0.25), p=0.4)
    day.add("room:bedroom", wake - 0.05, wake + 0.05)
    _evening(day, home_from, sleep, date.weekday() < 5)
    day.add("asleep", 0.0, wake)
    day.add("asleep", sleep, 24.0)
    return wake, sleep


def _home_awake(day: _Day, wake: float, sleep: float) -> list[Span]:
    """[wake, sleep) minus the away intervals, as epoch spans."""
    spans = [(day.midnight + wake * HOUR, day.midnight + sleep * HOUR)]
    for a, b in sorted(day.spans.get("away", [])):
        last = spans.pop()
        spans.extend(s for s in ((last[0], a), (b, last[1])) if s[1] > s[0])
    return spans


def _extras(day: _Day, awake: list[Span], seed: int, home: str, date: dt.date) -> None:
    """Back-door trips, a night-time bathroom trip, rare smoke tests and the month's one real smoke event."""
    total = sum(b - a for a, b in awake)
    for _ in range(int(day.rng.poisson(0.8))):
        at = _pick(day.rng, awake, total)
        day.spans.setdefault("back", []).append((at, at + day.u(30, 180)))
    day.add("night", 3.0 + day.u(0, 1.5), 3.0 + day.u(1.6, 1.7), p=0.4)
    if day.rng.random() < 1 / 45:
        at = _pick(day.rng, awake, total)
        day.spans.setdefault("smoke_test", []).append((at, at + day.u(8, 15)))
    month = rng_for(seed, home, "smoke", date.year, date.month)
    if int(month.integers(1, 29)) == date.day:
        cook = day.spans.get("cook") or day.spans.get("room:kitchen") or awake
        start = cook[-1][0] + day.u(5, 20) * MINUTE
        day.spans.setdefault("smoke_real", []).append((start, start + day.u(2, 4) * MINUTE))


def _pick(rng: np.random.Generator, spans: list[Span], total: float) -> float:
    """A uniformly random instant inside the union of `spans` (total length `total`)."""
    left = float(rng.uniform(0, total))
    for a, b in spans:
        if left < b - a:
            return a + left
        left -= b - a
    return spans[-1][1] if spans else 0.0


@functools.lru_cache(maxsize=4096)
def plan_day(seed: int, home: str, timezone: str, date: dt.date) -> DayPlan:
    """The plan of one local day of one home; the same seed, home and date always give the same plan."""
    tz = zoneinfo.ZoneInfo(timezone)
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=tz).timestamp()
    day = _Day(midnight, rng_for(seed, home, "day", date.toordinal()))
    wake, sleep = _household(day, date)
    awake = _home_awake(day, wake, sleep)
    day.spans["home_awake"] = awake
    _extras(day, awake, seed, home, date)
    day.spans["front"] = [(s, s + day.u(10, 25)) for span in day.spans.get("away", []) for s in span]
    kind = next(k.split(":", 1)[1] for k in day.spans if k.startswith("kind:"))
    return DayPlan(midnight, date, kind, day.spans)


def local_dates(start: float, end: float, timezone: str) -> list[dt.date]:
    """The local dates touched by [start, end], plus the day before (its plan may run past midnight)."""
    tz = zoneinfo.ZoneInfo(timezone)
    first = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def gather(plans: list[DayPlan], name: str) -> tuple[Floats, Floats]:
    """All intervals called `name` over several days, as (starts, ends) arrays."""
    spans = [s for plan in plans for s in plan.get(name)]
    if not spans:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(spans, dtype=float)
    return arr[:, 0], arr[:, 1]
