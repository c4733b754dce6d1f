"""Gather the report's figures for a period from the warehouse (read side only), as DataFrames and numbers."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from cloud.report.period import Period
from cloud.warehouse import queries, schema
from protocol.config import DeviceType, HomeConfig, Opening

COMFORT_C = (19.0, 24.0)  # a common indoor comfort band (EN 16798-1 category II, heating season: 20-24 °C)
COMFORT_RH = (30.0, 60.0)
DEFAULT_THRESHOLD_W = 3000.0  # the dashboard's default `consumption_threshold_w`
KIND_LABELS = {"contact": "door/window", "motion": "motion", "smoke": "smoke"}  # security kinds as people say them
RESPONSE_STATES = ("acknowledged",)  # a person answered; "cleared" may be the condition ending on its own
OPEN_STATES = ("triggered", "raised")


@dataclass
class Energy:
    """Consumption per day and per appliance, hogs, standby waste, peak hours, threshold breaches."""

    daily: pd.DataFrame  # day, kwh, cost
    appliances: pd.DataFrame  # the shared hogs table (cloud.warehouse.queries.hogs_table)
    hourly: pd.DataFrame  # hour (local 0-23), watts (mean home power)
    breaches: pd.DataFrame  # start, end, peak, minutes
    threshold_w: float
    hog_ready: bool = False  # hog flags need HOG_MIN_DAYS of history before a day
    total_kwh: float = 0.0
    total_cost: float = 0.0
    standby_kwh: float = 0.0
    metered: bool = False
    by_day: pd.DataFrame = field(default_factory=pd.DataFrame)  # day, appliance, kwh (appliances and untracked)


@dataclass
class Security:
    """Security events by type and room, doors opened while away, alerts and how fast they were answered."""

    events: pd.DataFrame  # t, device, room, kind, value, mode
    away_doors: pd.DataFrame  # the door openings while the alarm was `away`
    alerts: pd.DataFrame  # alert_id, rule, severity, raised (ts), response_s (None: never answered)


@dataclass
class Climate:
    """Per room: temperature and humidity ranges, comfort hours, anomalies."""

    rooms: pd.DataFrame  # room, t_min, t_mean, t_max, rh_min, rh_mean, rh_max, comfort_h, measured_h, anomalies
    anomalies: pd.DataFrame  # device, room, kind, rule, t, value


@dataclass
class Availability:
    """Per device coverage, gaps, duplicates and failures; lost and dropped messages the gateway reported."""

    devices: pd.DataFrame
    lost: int = 0
    dropped: int = 0
    rejected: int = 0


@dataclass
class ReportData:
    """Everything the report shows for one home and period."""

    home: HomeConfig
    period: Period
    raw_readings: int
    energy: Energy
    security: Security
    climate: Climate
    availability: Availability
    bench: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the warehouse holds nothing the ETL derived for the period."""
        return bool(self.energy.daily.empty and self.security.events.empty and self.climate.rooms.empty
                    and self.availability.devices.empty)


def frame(conn: sa.Connection, query: sa.Select[Any]) -> pd.DataFrame:
    """Run a SELECT into a DataFrame."""
    return pd.read_sql(query, conn)


def gather(conn: sa.Connection, home: HomeConfig, period: Period, threshold_w: float | None = None) -> ReportData:
    """Read every section's figures for `period` from the warehouse."""
    home_id = home.home.id
    return ReportData(home, period, raw_readings(conn, home_id, period),
                      energy(conn, home, period, threshold_w or DEFAULT_THRESHOLD_W), security(conn, home, period),
                      climate(conn, home, period), availability(conn, home_id, period))


def room_names(home: HomeConfig, rooms: pd.Series) -> pd.Series:
    """Room ids as the names the home config gives them ("living" -> "Living room"); unknown ids stay."""
    names = {r.id: r.name for r in home.rooms}
    return rooms.map(lambda r: names.get(r, r) if isinstance(r, str) else r)


def raw_readings(conn: sa.Connection, home: str, period: Period) -> int:
    """How many raw readings fall in the period."""
    r = schema.readings
    query = sa.select(sa.func.count()).where(r.c.home == home, r.c.t >= period.start, r.c.t < period.end)
    return int(conn.execute(query).scalar() or 0)


def energy(conn: sa.Connection, home: HomeConfig, period: Period, threshold_w: float) -> Energy:
    """The energy section: the hogs table is the one the dashboard shows, so the numbers match."""
    home_id = home.home.id
    window = queries.energy_by_day(conn, home_id, period.first - dt.timedelta(days=period.days), period.last)
    current = window.loc[pd.to_datetime(window["day"]).dt.date >= period.first] if len(window) else window
    appliances = queries.hogs_table(window, period.last, period.days) if len(current) else pd.DataFrame()
    daily = _daily_totals(current)
    meter = _meter(home)
    out = Energy(daily, appliances, _hourly(conn, home_id, meter, period), _breaches(
        conn, home_id, meter, period, threshold_w), threshold_w)
    if len(current):
        parts = current.loc[~current["is_meter"].astype(bool) & (current["device"] != queries.UNTRACKED)]
        out.total_kwh, out.total_cost = float(daily["kwh"].sum()), float(daily["cost"].sum())
        out.standby_kwh, out.metered = float(parts["standby_kwh"].sum()), bool(current["is_meter"].any())
        out.hog_ready = bool(current["p95_28d"].notna().any())
        out.by_day = current.loc[~current["is_meter"].astype(bool)].groupby(["day", "appliance"], as_index=False)[
            "kwh"].sum()
    return out


def _daily_totals(current: pd.DataFrame) -> pd.DataFrame:
    """kWh and cost per day: the meter when the home has one that day, else the sum of the appliances."""
    if current.empty:
        return pd.DataFrame(columns=["day", "kwh", "cost"])
    meter = current.loc[current["is_meter"].astype(bool)].groupby("day")[["kwh", "cost"]].sum()
    parts = current.loc[~current["is_meter"].astype(bool)].groupby("day")[["kwh", "cost"]].sum()
    return meter.combine_first(parts).reset_index().sort_values("day")


def _meter(home: HomeConfig) -> str | None:
    """The home meter's device id, if the home has one."""
    return next((d.id for d in home.devices if d.type is DeviceType.METER), None)


def _power_devices(home: HomeConfig, meter: str | None) -> list[str]:
    """The meter, else every device that reports power (their sum is the home's power)."""
    return [meter] if meter else [d.id for d in home.devices if any(k.value == "power" for k in d.kinds)]


def _hourly(conn: sa.Connection, home: str, meter: str | None, period: Period) -> pd.DataFrame:
    """Mean home power per local hour of the day over the period, from the hourly aggregates."""
    h = schema.readings_1h
    devices = [meter] if meter else None
    where = [h.c.home == home, h.c.kind == "power", h.c.bucket >= period.start, h.c.bucket < period.end]
    if devices:
        where.append(h.c.device.in_(devices))
    rows = frame(conn, sa.select(h.c.bucket, h.c.mean).where(*where))
    if rows.empty:
        return pd.DataFrame(columns=["hour", "watts"])
    per_bucket = rows.groupby("bucket")["mean"].sum()  # without a meter: the devices' sum is the home
    hours = pd.to_datetime(per_bucket.index, unit="s", utc=True).tz_convert(period.tz).hour
    return per_bucket.groupby(hours).mean().rename_axis("hour").rename("watts").reset_index()


def _breaches(conn: sa.Connection, home: str, meter: str | None, period: Period, threshold_w: float) -> pd.DataFrame:
    """Runs of consecutive minutes whose mean home power (the meter) exceeded the threshold."""
    empty = pd.DataFrame(columns=["start", "end", "peak", "minutes"])
    if meter is None:
        return empty
    m = schema.readings_1m
    over = frame(conn, sa.select(m.c.bucket, m.c.max).where(
        m.c.home == home, m.c.device == meter, m.c.kind == "power", m.c.bucket >= period.start,
        m.c.bucket < period.end, m.c.mean > threshold_w).order_by(m.c.bucket))
    if over.empty:
        return empty
    run = (over["bucket"].diff() > 60.0).cumsum()
    return over.groupby(run).agg(start=("bucket", "min"), end=("bucket", "max"), peak=("max", "max"),
                                 minutes=("bucket", "size")).reset_index(drop=True)


def security(conn: sa.Connection, home: HomeConfig, period: Period) -> Security:
    """Events in the period, door openings while away, alerts with their response times."""
    s = schema.security_events
    events = frame(conn, sa.select(s.c.t, s.c.device, s.c.room, s.c.kind, s.c.value, s.c.mode).where(
        s.c.home == home.home.id, s.c.t >= period.start, s.c.t < period.end).order_by(s.c.t))
    events["room"] = room_names(home, events["room"])
    doors = {d.id for d in home.devices if d.opening is Opening.DOOR}
    away = events.loc[(events["kind"] == "contact") & events["value"].astype(bool) & events["device"].isin(doors)
                      & (events["mode"] == "away")]
    alerts = _alerts(conn, home.home.id, period)
    alerts["room"] = room_names(home, alerts["room"])
    return Security(events, away.reset_index(drop=True), alerts)


def _alerts(conn: sa.Connection, home: str, period: Period) -> pd.DataFrame:
    """One row per alert raised in the period: rule, severity, when, and seconds until acknowledged (which may
    come after the period ends)."""
    a = schema.alerts
    rows = frame(conn, sa.select(a.c.alert_id, a.c.rule, a.c.severity, a.c.state, a.c.ts, a.c.room).where(
        a.c.home == home, a.c.ts >= period.start))
    raised = rows.loc[rows["state"].isin(OPEN_STATES) & (rows["ts"] < period.end)].sort_values("ts").drop_duplicates(
        "alert_id")
    answered = rows.loc[rows["state"].isin(RESPONSE_STATES)].groupby("alert_id")["ts"].min()
    out = raised[["alert_id", "rule", "severity", "room", "ts"]].rename(columns={"ts": "raised"})
    out["response_s"] = out["alert_id"].map(answered) - out["raised"]
    return out.reset_index(drop=True)


def climate(conn: sa.Connection, home: HomeConfig, period: Period) -> Climate:
    """Ranges from the daily climate summaries, comfort hours from the minute aggregates, anomalies by room."""
    c = schema.climate_daily
    daily = frame(conn, sa.select(c).where(c.c.home == home.home.id, c.c.day >= period.first,
                                           c.c.day <= period.last))
    anomalies = _anomalies(conn, home, period)
    if daily.empty:
        return Climate(pd.DataFrame(), anomalies)
    daily["room"] = room_names(home, daily["room"])
    rooms = daily.groupby("room").agg(t_min=("temperature_min", "min"), t_mean=("temperature_mean", "mean"),
                                      t_max=("temperature_max", "max"), rh_min=("humidity_min", "min"),
                                      rh_mean=("humidity_mean", "mean"), rh_max=("humidity_max", "max"))
    rooms = rooms.join(_comfort(conn, home, period))
    rooms["anomalies"] = anomalies.groupby("room").size().reindex(rooms.index).fillna(0).astype(int)
    return Climate(rooms.reset_index(), anomalies)


def _comfort(conn: sa.Connection, home: HomeConfig, period: Period) -> pd.DataFrame:
    """Hours per room with temperature and humidity both in the comfort band, and hours with both measured."""
    m = schema.readings_1m
    rooms = {d.id: d.room for d in home.devices if d.type is DeviceType.CLIMATE}
    rows = frame(conn, sa.select(m.c.device, m.c.kind, m.c.bucket, m.c.mean).where(
        m.c.home == home.home.id, m.c.device.in_(rooms), m.c.kind.in_(["temperature", "humidity"]),
        m.c.bucket >= period.start, m.c.bucket < period.end))
    if rows.empty:
        return pd.DataFrame(columns=["comfort_h", "measured_h"])
    wide = rows.pivot_table(index=["device", "bucket"], columns="kind", values="mean").dropna()
    if not {"temperature", "humidity"} <= set(wide.columns):
        return pd.DataFrame(columns=["comfort_h", "measured_h"])
    ok = wide["temperature"].between(*COMFORT_C) & wide["humidity"].between(*COMFORT_RH)
    room = room_names(home, pd.Series(wide.index.get_level_values("device").map(rooms), index=wide.index))
    # Hours measured: hours with a reading (a device reporting every 2 minutes still covers its hour); the
    # comfortable ones are that many hours times the share of comfortable minutes.
    hour = pd.Series(wide.index.get_level_values("bucket") // 3600, index=wide.index)
    measured = hour.groupby(room).nunique().astype(float)
    return pd.DataFrame({"comfort_h": ok.groupby(room).mean() * measured, "measured_h": measured})


def _anomalies(conn: sa.Connection, home: HomeConfig, period: Period) -> pd.DataFrame:
    """Flagged readings (z-score, flat line, ...) in the period, with the device's room."""
    a = schema.anomalies
    rows = frame(conn, sa.select(a.c.device, a.c.kind, a.c.rule, a.c.t, a.c.value).where(
        a.c.home == home.home.id, a.c.t >= period.start, a.c.t < period.end))
    return rows.assign(room=room_names(home, rows["device"].map({d.id: d.room for d in home.devices})))


def availability(conn: sa.Connection, home: str, period: Period) -> Availability:
    """Per device over the period: coverage, gaps, failures, duplicates, late; the gateway's losses and drops."""
    q = schema.data_quality
    rows = frame(conn, sa.select(q).where(q.c.home == home, q.c.day >= period.first, q.c.day <= period.last))
    devices = rows.groupby("device").agg(coverage_pct=("coverage_pct", "mean"), readings=("readings", "sum"),
                                         messages=("messages", "sum"), failed=("failed", "sum"),
                                         gaps=("gaps", "sum"), max_gap_s=("max_gap_s", "max"),
                                         duplicates=("duplicates", "sum"), late=("late", "sum"))
    devices = devices.join(_online_pct(conn, home, period)).reset_index()
    lost, dropped = _gateway_losses(conn, home, period)
    j = schema.rejected
    rejected = conn.execute(sa.select(sa.func.count()).where(
        j.c.home == home, j.c.received_at >= period.start, j.c.received_at < period.end)).scalar()
    return Availability(devices, lost, dropped, int(rejected or 0))


def _online_pct(conn: sa.Connection, home: str, period: Period) -> pd.Series:
    """Per device: the share of hours with at least one reading, in percent, counted from the home's first hour
    in the period (a demo started an hour ago is not 99 % unavailable) to the period's end or now.

    Hours, not minutes: a device whose heartbeat is slower than a minute is still online all the time."""
    h = schema.readings_1h
    end = min(period.end, time.time())
    where = [h.c.home == home, h.c.bucket >= period.start, h.c.bucket < end]
    first = conn.execute(sa.select(sa.func.min(h.c.bucket)).where(*where)).scalar()
    hours = conn.execute(sa.select(h.c.device, sa.func.count(sa.distinct(h.c.bucket))).where(*where).group_by(
        h.c.device)).all()
    span = max(1, math.ceil((end - (first if first is not None else period.start)) / 3600.0))
    return pd.Series({d: min(100.0, 100.0 * n / span) for d, n in hours}, name="online_pct", dtype=float)


def _gateway_losses(conn: sa.Connection, home: str, period: Period) -> tuple[int, int]:
    """Readings the gateway recorded as lost (gaps no resend filled) and rows it dropped from a full outbox."""
    g = schema.gateway_events
    rows = frame(conn, sa.select(g.c.type, g.c.payload).where(
        g.c.home == home, g.c.type.in_(["lost", "dropped"]), g.c.ts >= period.start, g.c.ts < period.end))
    counts = {"lost": 0, "dropped": 0}
    for kind, payload in rows.itertuples(index=False, name=None):
        counts[kind] += int(json.loads(payload).get("count") or 1)
    return counts["lost"], counts["dropped"]
