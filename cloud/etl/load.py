"""Load: replace exactly the partitions an ETL run touched, in one transaction, so a rerun changes nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa

from cloud.etl import energy
from cloud.etl.context import day_bounds
from cloud.etl.extract import insert_rows
from cloud.etl.transform import Derived
from cloud.warehouse import schema
from cloud.warehouse.bulk import python_rows

BY_DAY = ("energy_daily", "data_quality", "anomalies", "security_events")


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    """`day` as datetime.date, the column type of the warehouse."""
    return frame.assign(day=frame["day"].dt.date) if "day" in frame else frame


def load(conn: sa.Connection, derived: Derived, touched: pd.DataFrame, tz: str) -> dict[str, int]:
    """Delete then insert the touched (home, device, day) partitions of every derived table; returns rows written."""
    keys = touched[["home", "device", "day"]].drop_duplicates()
    starts, ends = day_bounds(keys["day"], tz)
    spans = keys.assign(start=starts.to_numpy(), end=ends.to_numpy())
    written = {}
    for name in ("readings_1m", "readings_1h"):
        _delete(conn, getattr(schema, name), spans, "bucket")
        written[name] = _insert(conn, getattr(schema, name), getattr(derived, name), keys, by_time=True, tz=tz)
    for name in BY_DAY:
        _delete(conn, getattr(schema, name), spans, "day")
        written[name] = _insert(conn, getattr(schema, name), getattr(derived, name), keys, by_time=False, tz=tz)
    written["climate_daily"] = _load_climate(conn, derived.climate_daily, keys, tz)
    return written


def _delete(conn: sa.Connection, table: sa.Table, spans: pd.DataFrame, by: str) -> None:
    """Delete the touched partitions: by day, or by a time range of buckets."""
    c = table.c
    if by == "day":
        stmt = sa.delete(table).where(c.home == sa.bindparam("h"), c.device == sa.bindparam("d"),
                                      c.day == sa.bindparam("day"))
        params = [{"h": h, "d": d, "day": day.date()} for h, d, day in spans[["home", "device", "day"]].itertuples(
            index=False, name=None)]
    else:
        stmt = sa.delete(table).where(c.home == sa.bindparam("h"), c.device == sa.bindparam("d"),
                                      c.bucket >= sa.bindparam("a"), c.bucket < sa.bindparam("b"))
        params = [{"h": h, "d": d, "a": a, "b": b} for h, d, a, b in python_rows(spans[["home", "device", "start",
                                                                                           "end"]])]
    if params:
        conn.execute(stmt, params)


def _insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, keys: pd.DataFrame, *, by_time: bool,
            tz: str) -> int:
    """Insert the rows of `frame` that fall in touched partitions."""
    if by_time:
        from cloud.etl.context import local_day
        frame = frame.assign(day=local_day(frame["bucket"], tz))
    inside = _within(frame, keys)
    if by_time:
        inside = inside.drop(columns="day")
    insert_rows(conn, table, _dates(inside))
    return len(inside)


def _within(frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Rows whose (home, device, day) is one of `keys`."""
    probe = frame[["home", "device", "day"]].astype({"home": str, "device": str})
    index = pd.MultiIndex.from_frame(probe)
    wanted = pd.MultiIndex.from_frame(keys.astype({"home": str, "device": str}))
    return frame.loc[index.isin(wanted)]


def _load_climate(conn: sa.Connection, climate: pd.DataFrame, keys: pd.DataFrame, tz: str) -> int:
    """Replace the climate summaries of rooms whose sensors were touched on those days."""
    rooms = climate[["home", "room", "day"]].drop_duplicates()
    table = schema.climate_daily
    stmt = sa.delete(table).where(table.c.home == sa.bindparam("h"), table.c.room == sa.bindparam("r"),
                                  table.c.day == sa.bindparam("day"))
    touched_days = set(zip(keys["home"].astype(str), keys["day"], strict=True))
    rooms = rooms.loc[[(str(h), d) in touched_days for h, d in zip(rooms["home"], rooms["day"], strict=True)]]
    params = [{"h": str(h), "r": r, "day": d.date()} for h, r, d in rooms.itertuples(index=False, name=None)]
    if params:
        conn.execute(stmt, params)
    out = climate.merge(rooms, on=["home", "room", "day"])
    insert_rows(conn, table, _dates(out))
    return len(out)


def finish_energy(conn: sa.Connection, keys: pd.DataFrame, tariff: float) -> int:
    """Recompute the untracked remainder of touched home-days, then the hog flags of every touched device."""
    table = schema.energy_daily
    homes = [str(h) for h in keys["home"].unique()]
    stored = pd.read_sql(sa.select(table).where(table.c.home.in_(homes)), conn)
    if stored.empty:
        return 0
    stored["day"] = pd.to_datetime(stored["day"])
    home_days = keys[["home", "day"]].drop_duplicates().astype({"home": str})
    days = stored.merge(home_days, on=["home", "day"])
    rest = energy.untracked(days, tariff)
    conn.execute(sa.delete(table).where(table.c.device == energy.UNTRACKED, table.c.home == sa.bindparam("h"),
                                        table.c.day == sa.bindparam("day")),
                 [{"h": h, "day": d.date()} for h, d in home_days.itertuples(index=False, name=None)])
    stored = pd.concat([stored.loc[~_is_in(stored, home_days) | (stored["device"] != energy.UNTRACKED)],
                        rest.assign(coverage_pct=_meter_coverage(days, rest))], ignore_index=True)
    flagged = energy.hog_flags(stored)
    devices = {*keys["device"].astype(str), energy.UNTRACKED}
    since = keys["day"].min()
    changed = flagged.loc[flagged["device"].isin(devices) & (flagged["day"] >= since)]
    _replace_energy(conn, changed)
    return len(rest)


def _is_in(frame: pd.DataFrame, home_days: pd.DataFrame) -> pd.Series:
    index = pd.MultiIndex.from_frame(frame[["home", "day"]])
    return pd.Series(index.isin(pd.MultiIndex.from_frame(home_days)), index=frame.index)


def _meter_coverage(days: pd.DataFrame, rest: pd.DataFrame) -> Any:
    """The untracked figure is as complete as the meter behind it."""
    meter = days.loc[days["is_meter"]].groupby(["home", "day"])["coverage_pct"].min()
    return meter.reindex(pd.MultiIndex.from_frame(rest[["home", "day"]])).fillna(0.0).to_numpy()


def _replace_energy(conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Rewrite energy rows (their hog flags changed, or they are new untracked rows)."""
    table = schema.energy_daily
    conn.execute(sa.delete(table).where(table.c.home == sa.bindparam("h"), table.c.device == sa.bindparam("d"),
                                        table.c.day == sa.bindparam("day")),
                 [{"h": h, "d": d, "day": day.date()} for h, d, day in rows[["home", "device", "day"]].itertuples(
                     index=False, name=None)])
    insert_rows(conn, table, _dates(rows))
