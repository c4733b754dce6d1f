"""The dashboard's SELECTs: aggregates for history, raw rows only for the last minutes; DataFrames out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from cloud.warehouse import schema as s
from dash_app.warehouse import Reader

R = s.readings
ACTIVE_STATES = ("triggered", "raised")
LATEST_STATE_RANK = {"pending": 0, "triggered": 1, "raised": 2, "cleared": 3, "acknowledged": 4}


def latest(reader: Reader, home: str, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The newest reading of each (device, kind): one index seek per pair, never a scan."""
    parts = [
        sa.select(R.c.device, R.c.kind, R.c.value, R.c.err, R.c.t)
        .where(R.c.home == home, R.c.device == device, R.c.kind == kind)
        .order_by(R.c.t.desc())
        .limit(1)
        .subquery()
        .select()
        for device, kind in pairs
    ]
    if not parts:
        return pd.DataFrame(columns=["device", "kind", "value", "err", "t"])
    return reader.frame(sa.union_all(*parts))


def last_true(reader: Reader, home: str, devices: Sequence[str], kind: str, since: float) -> pd.DataFrame:
    """When each device last reported `kind` true: raw rows since `since`, else the ETL's security log."""
    if not devices:
        return pd.DataFrame(columns=["device", "t"])
    raw = (
        sa.select(R.c.device, sa.func.max(R.c.t).label("t"))
        .where(R.c.home == home, R.c.device.in_(devices), R.c.kind == kind, R.c.t >= since, R.c.value == 1)
        .group_by(R.c.device)
    )
    e = s.security_events
    logged = (
        sa.select(e.c.device, sa.func.max(e.c.t).label("t"))
        .where(e.c.home == home, e.c.device.in_(devices), e.c.kind == kind, e.c.value.is_(True))
        .group_by(e.c.device)
    )
    both = pd.concat([reader.frame(raw), reader.frame(logged)], ignore_index=True)
    return both.groupby("device", as_index=False)["t"].max() if len(both) else both


def power_window(reader: Reader, home: str, devices: Sequence[str], since: float) -> pd.DataFrame:
    """Raw power readings of `devices` since `since` (the live chart's last minutes)."""
    stmt = (
        sa.select(R.c.device, R.c.t, R.c.value)
        .where(R.c.home == home, R.c.device.in_(devices), R.c.kind == "power", R.c.t >= since)
        .order_by(R.c.t)
    )
    return reader.frame(stmt)


def energy_daily(reader: Reader, home: str, since: dt.date) -> pd.DataFrame:
    """The ETL's daily energy per appliance (and the home meter) from `since` on."""
    e = s.energy_daily
    stmt = sa.select(
        e.c.day, e.c.device, e.c.appliance, e.c.is_meter, e.c.kwh, e.c.cost, e.c.standby_kwh, e.c.on_hours,
        e.c.covered_hours, e.c.coverage_pct, e.c.hog,
    ).where(e.c.home == home, e.c.day >= since)
    return reader.frame(stmt)


def power_minutes(reader: Reader, home: str, device: str, since: float, above: float = 0.0) -> pd.DataFrame:
    """One-minute power means and peaks of one device (the home meter) since `since`, means above `above` only."""
    m = s.readings_1m
    stmt = (
        sa.select(m.c.bucket, m.c.mean, m.c.max)
        .where(m.c.home == home, m.c.device == device, m.c.kind == "power", m.c.bucket >= since, m.c.mean > above)
        .order_by(m.c.bucket)
    )
    return reader.frame(stmt)


def alerts_since(reader: Reader, home: str, since: float) -> pd.DataFrame:
    """Every alert row (one per alert and state) since `since`, newest first."""
    a = s.alerts
    stmt = (
        sa.select(
            a.c.alert_id, a.c.source, a.c.rule, a.c.severity, a.c.state, a.c.ts, a.c.message, a.c.device, a.c.room,
            a.c.value,
        )
        .where(a.c.home == home, a.c.ts >= since)
        .order_by(a.c.ts.desc())
    )
    return reader.frame(stmt)


def current_alerts(rows: pd.DataFrame) -> pd.DataFrame:
    """Each alert in its latest state (by time, then lifecycle order): pure, from `alerts_since` rows."""
    if rows.empty:
        return rows
    ranked = rows.assign(rank=rows["state"].map(LATEST_STATE_RANK).fillna(0))
    ranked = ranked.sort_values(["ts", "rank"]).drop_duplicates("alert_id", keep="last")
    return ranked.drop(columns="rank").sort_values("ts", ascending=False).reset_index(drop=True)


def active_critical(reader: Reader, home: str, since: float) -> pd.DataFrame:
    """Critical alerts whose latest state is still triggered or raised."""
    now = current_alerts(alerts_since(reader, home, since))
    if now.empty:
        return now
    return now[(now["severity"] == "critical") & now["state"].isin(ACTIVE_STATES)].reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which security events to show: rooms and kinds (empty: all) in [start, end) epoch seconds."""

    rooms: tuple[str, ...]
    kinds: tuple[str, ...]
    start: float
    end: float

    def where(self, home: str) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses of this filter."""
        e = s.security_events
        where = [e.c.home == home, e.c.t >= self.start, e.c.t < self.end]
        if self.rooms:
            where.append(e.c.room.in_(self.rooms))
        if self.kinds:
            where.append(e.c.kind.in_(self.kinds))
        return where


def security_log(
    reader: Reader, home: str, flt: EventFilter, *, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """Security events matching the filter, newest first, one page of them when `limit` is given."""
    e = s.security_events
    stmt = (
        sa.select(e.c.t, e.c.room, e.c.device, e.c.kind, e.c.value, e.c.mode, e.c.gateway_online)
        .where(*flt.where(home))
        .order_by(e.c.t.desc())
        .limit(limit)
        .offset(offset)
    )
    return reader.frame(stmt)


def security_count(reader: Reader, home: str, flt: EventFilter) -> int:
    """How many security events match the filter."""
    stmt = sa.select(sa.func.count()).select_from(s.security_events).where(*flt.where(home))
    return int(reader.frame(stmt).iloc[0, 0])


def latest_mode_event(reader: Reader, home: str) -> pd.DataFrame:
    """The newest mode-change event the gateway forwarded (the warehouse's view of the alarm mode)."""
    g = s.gateway_events
    stmt = (
        sa.select(g.c.ts, g.c.payload)
        .where(g.c.home == home, g.c.type.like("mode%"))
        .order_by(g.c.ts.desc())
        .limit(1)
    )
    return reader.frame(stmt)


def ingest_select(home: str, since: float) -> sa.Select[Any]:
    """Rows ingested since `since`: message identity, device time and ingest time (for rate and latency)."""
    return (
        sa.select(R.c.device, R.c.boot, R.c.seq, R.c.ts, R.c.received_at, R.c.ingested_at)
        # `home || ''`, not `home`: without statistics SQLite would pick the (home, device, kind, t) index for
        # `home =` and walk every row of the home; the expression leaves it the ingested_at index, a short range.
        .where(R.c.ingested_at >= since, (R.c.home + "") == home)
    )


def ingest_window(reader: Reader, home: str, since: float) -> pd.DataFrame:
    """The rows of `ingest_select`, as a DataFrame."""
    return reader.frame(ingest_select(home, since))


def devices(reader: Reader, home: str) -> pd.DataFrame:
    """The warehouse's device registry for the home: presence and last-seen times."""
    d = s.devices
    stmt = sa.select(d.c.device, d.c.room, d.c.online, d.c.last_seen, d.c.status_at).where(d.c.home == home)
    return reader.frame(stmt)


def rejected_by_reason(reader: Reader, home: str, since: float) -> pd.DataFrame:
    """Rejected messages per reason since `since` (rows without a readable home count too)."""
    r = s.rejected
    stmt = (
        sa.select(r.c.reason, sa.func.count().label("count"))
        .where(r.c.received_at >= since, sa.or_(r.c.home == home, r.c.home.is_(None)))
        .group_by(r.c.reason)
        .order_by(sa.func.count().desc())
    )
    return reader.frame(stmt)


def last_etl_run(reader: Reader) -> pd.DataFrame:
    """The newest ETL run."""
    e = s.etl_runs
    stmt = sa.select(
        e.c.started_at, e.c.finished_at, e.c.status, e.c.rows_in, e.c.rows_loaded, e.c.error
    ).order_by(e.c.id.desc()).limit(1)
    return reader.frame(stmt)
