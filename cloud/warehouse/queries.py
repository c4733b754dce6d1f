"""The read side for the dashboard and the report: plain SELECTs returning DataFrames, safe on a read-only DB."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Any

import pandas as pd
import sqlalchemy as sa

from cloud.warehouse import schema

UNTRACKED = "untracked"
Connectable = sa.Engine | sa.Connection


def _frame(db: Connectable, query: sa.Select[Any]) -> pd.DataFrame:
    """Run a SELECT into a DataFrame."""
    if isinstance(db, sa.Engine):
        with db.connect() as conn:
            return pd.read_sql(query, conn)
    return pd.read_sql(query, db)


def latest(db: Connectable, home: str) -> pd.DataFrame:
    """The latest reading of every (device, kind) of a home, with the device's room and appliance."""
    r, d = schema.readings, schema.devices
    newest = (sa.select(r.c.device, r.c.kind, sa.func.max(r.c.t).label("t"))
              .where(r.c.home == home).group_by(r.c.device, r.c.kind).subquery())
    query = (sa.select(r.c.device, r.c.kind, r.c.t, r.c.value, r.c.unit, r.c.err,
                       sa.func.coalesce(d.c.room, r.c.room).label("room"),
                       sa.func.coalesce(d.c.appliance, r.c.appliance).label("appliance"))
             .join(newest, sa.and_(r.c.device == newest.c.device, r.c.kind == newest.c.kind, r.c.t == newest.c.t))
             .outerjoin(d, sa.and_(d.c.home == r.c.home, d.c.device == r.c.device))
             .where(r.c.home == home).order_by(r.c.device, r.c.kind))
    return _frame(db, query).drop_duplicates(["device", "kind"], keep="last").reset_index(drop=True)


def room_climate_now(db: Connectable, home: str) -> pd.DataFrame:
    """Per room: the latest temperature, humidity and light, and when they were measured."""
    now = latest(db, home)
    climate = now.loc[now["kind"].isin(["temperature", "humidity", "light"]) & now["room"].notna()]
    table = climate.pivot_table(index="room", columns="kind", values="value", aggfunc="mean")
    table["t"] = climate.groupby("room")["t"].max()
    return table.reset_index()


def power_by_appliance(db: Connectable, home: str, t_from: float, t_to: float, bucket_s: int = 60) -> pd.DataFrame:
    """Mean power per appliance (or device) per time bucket over [t_from, t_to), from the raw readings."""
    r = schema.readings
    query = sa.select(r.c.device, r.c.appliance, r.c.t, r.c.value).where(
        r.c.home == home, r.c.kind == "power", r.c.t >= t_from, r.c.t < t_to, r.c.value.is_not(None))
    rows = _frame(db, query)
    rows["appliance"] = rows["appliance"].fillna(rows["device"])
    rows["bucket"] = (rows["t"] // bucket_s) * bucket_s
    return rows.groupby(["appliance", "bucket"], as_index=False)["value"].mean().rename(columns={"value": "watts"})


def energy_by_day(db: Connectable, home: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Energy per appliance per day (kWh, cost, coverage %, hog flag) for days in [first, last]."""
    e = schema.energy_daily
    query = sa.select(e).where(e.c.home == home, e.c.day >= first, e.c.day <= last).order_by(e.c.day, e.c.device)
    return _frame(db, query)


def hogs(db: Connectable, home: str, last: dt.date, days: int = 7) -> pd.DataFrame:
    """The energy hogs of the `days` ending on `last`, compared with the `days` before (see `hogs_table`)."""
    frame = energy_by_day(db, home, last - dt.timedelta(days=2 * days - 1), last)
    return hogs_table(frame, last, days)


def hogs_table(daily: pd.DataFrame, last: dt.date, days: int = 7) -> pd.DataFrame:
    """Per appliance over the window: kWh, cost, share of the home's total, standby waste, duty cycle, on-hours,
    change against the previous window, hog days, and the worst coverage behind the figures; largest first.

    The home's total is the meter when there is one (so the untracked remainder is a row of its own), else the
    sum of the appliances.
    """
    daily = daily.assign(day=pd.to_datetime(daily["day"]).dt.date)
    first = last - dt.timedelta(days=days - 1)
    current = daily.loc[(daily["day"] >= first) & (daily["day"] <= last)]
    previous = daily.loc[daily["day"] < first].groupby("appliance")["kwh"].sum()
    meters = current.loc[current["is_meter"]]
    parts = current.loc[~current["is_meter"]]
    out = parts.groupby("appliance").agg(kwh=("kwh", "sum"), cost=("cost", "sum"), standby_kwh=("standby_kwh", "sum"),
                                         on_hours=("on_hours", "sum"), covered_hours=("covered_hours", "sum"),
                                         hog_days=("hog", "sum"), coverage_pct=("coverage_pct", "min"))
    total = meters["kwh"].sum() if len(meters) else out["kwh"].sum()
    out["share"] = out["kwh"] / total if total > 0 else 0.0
    out["duty_cycle"] = (out["on_hours"] / out["covered_hours"]).where(out["covered_hours"] > 0)
    prior = previous.reindex(out.index)
    out["week_over_week"] = ((out["kwh"] - prior) / prior).where(prior > 0)
    return out.sort_values("kwh", ascending=False).reset_index()


def security_log(db: Connectable, home: str, since: float, limit: int = 500) -> pd.DataFrame:
    """Door, window, motion and smoke events since `since`, newest first, with the alarm mode at the time."""
    s = schema.security_events
    query = sa.select(s).where(s.c.home == home, s.c.t >= since).order_by(s.c.t.desc()).limit(limit)
    return _frame(db, query)


def alerts(db: Connectable, home: str, since: float) -> pd.DataFrame:
    """Alert states (edge and cloud) since `since`, newest first."""
    a = schema.alerts
    return _frame(db, sa.select(a).where(a.c.home == home, a.c.ts >= since).order_by(a.c.ts.desc()))


def pipeline_health(db: Connectable, home: str, now: float) -> dict[str, Any]:
    """Figures for a health panel: freshness, volume of the last hour, rejections, devices online, last ETL run."""
    r, j, d, runs = schema.readings, schema.rejected, schema.devices, schema.etl_runs
    with db.connect() if isinstance(db, sa.Engine) else nullcontext(db) as conn:
        last = conn.execute(sa.select(sa.func.max(r.c.ingested_at)).where(r.c.home == home)).scalar()
        hour = conn.execute(sa.select(sa.func.count()).where(r.c.home == home, r.c.ingested_at >= now - 3600)).scalar()
        rejected: dict[str, int] = dict(conn.execute(sa.select(j.c.reason, sa.func.count()).where(
            j.c.home == home, j.c.received_at >= now - 86400).group_by(j.c.reason)).all())
        presence = sa.select(d.c.online, sa.func.count()).where(d.c.home == home).group_by(d.c.online)
        online: dict[bool | None, int] = dict(conn.execute(presence).all())
        etl = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(1)).mappings().first()
    return {"last_ingested_at": last, "lag_s": None if last is None else now - last, "readings_last_hour": hour,
            "rejected_24h": rejected, "devices_online": online.get(True, 0), "devices_offline": online.get(False, 0),
            "last_etl": dict(etl) if etl else None}
