"""The report's period: whole local days in the home's time zone, and their bounds in UTC epoch seconds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cloud.report.errors import ReportInputError

MAX_DAYS = 400  # a year and a little: the dashboard's month view spans 367 days


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `first`..`last` (both included) of a home in zone `tz`."""

    first: dt.date
    last: dt.date
    tz: str

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ReportInputError(f"period: --to {self.last} is before --from {self.first}")
        if self.days > MAX_DAYS:
            raise ReportInputError(f"period: {self.days} days; at most {MAX_DAYS}")

    @property
    def days(self) -> int:
        """How many days the period spans."""
        return (self.last - self.first).days + 1

    @property
    def start(self) -> float:
        """UTC epoch seconds of the first day's local midnight."""
        return dt.datetime.combine(self.first, dt.time(), ZoneInfo(self.tz)).timestamp()

    @property
    def end(self) -> float:
        """UTC epoch seconds of the local midnight after the last day (exclusive)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), ZoneInfo(self.tz)).timestamp()

    def label(self) -> str:
        """"2 Nov 2026" or "2 Nov 2026 - 8 Nov 2026"."""
        first = f"{self.first.day} {self.first:%b %Y}"
        return first if self.days == 1 else f"{first} - {self.last.day} {self.last:%b %Y}"


def today(tz: str, now: float | None = None) -> dt.date:
    """The local date in `tz` at `now` (default: the current time)."""
    moment = dt.datetime.now(ZoneInfo(tz)) if now is None else dt.datetime.fromtimestamp(now, ZoneInfo(tz))
    return moment.date()


def choose(tz: str, first: dt.date | None = None, last: dt.date | None = None, days: int | None = None,
           now: float | None = None) -> Period:
    """The period from `--from/--to` or `--days N` (the N days ending today); default the last 7 days."""
    if days is not None and first is not None and last is not None:
        raise ReportInputError("period: give --from/--to or --days, not all three")
    if days is not None and days < 1:
        raise ReportInputError(f"period: --days must be at least 1, got {days}")
    span = dt.timedelta(days=(days or 7) - 1)
    if first is None and last is None:
        last = today(tz, now)
    if first is None:
        assert last is not None
        first = last - span
    if last is None:
        last = first + span if days is not None else today(tz, now)
    return Period(first, last, tz)
