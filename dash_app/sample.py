"""A synthetic warehouse for a home, at the scale the ETL produces: for screenshots, the benchmark and tests.

The running dashboard never calls this (it reads the warehouse read-only). It writes what ingest and the ETL
would have written: a short window of raw readings, one-minute and hourly aggregates, daily energy and climate,
the security log, alerts, rejections, mode events and an ETL run, all from one deterministic model of the home.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cloud.warehouse import schema as s
from protocol.config import Device, DeviceType, HomeConfig

CHUNK = 50_000
STANDBY_W = 15.0
RAW_STEP_S = 5.0


def _local_hours(t: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (float) and day number in the home's zone (fixed offset of the first time: good enough here)."""
    offset = ZoneInfo(tz).utcoffset(dt.datetime.fromtimestamp(float(t[0]))) or dt.timedelta()
    local = t + offset.total_seconds()
    return (local % 86400) / 3600.0, local // 86400


def _on(hours: np.ndarray, start: float, end: float) -> np.ndarray:
    return (hours >= start) & (hours < end)


def power(device: Device, t: np.ndarray, tz: str) -> np.ndarray:
    """Modelled power in W of a plug or light at epoch times `t` (deterministic, daily rhythm)."""
    hours, days = _local_hours(t, tz)
    minute = (t // 60).astype(np.int64)
    rated = device.rated_power_w or 100.0
    evening = 21.0 + (days % 9 == 0) * (1 + days % 1000 / 300)  # a colder evening every 9th day, ever colder
    model = {
        "fridge": 55.0 + 70.0 * ((minute % 37) < 14),
        "kettle": np.where(_on(hours, 7.0, 7.06) | _on(hours, 16.0, 16.05), rated * 0.95, 0.0),
        "washing machine": np.where(_on(hours, 10.0, 11.5) & (days % 3 == 0), 550.0, 1.5),
        "dishwasher": np.where(_on(hours, 20.0, 21.0), 1100.0, 1.0),
        "TV": np.where(_on(hours, 19.0, 23.0), 95.0, 9.0),
        "PC": np.where(_on(hours, 9.0, 17.5) & (days % 7 < 5), 160.0, 6.0),
        "space heater": np.where((_on(hours, 6.0, 8.0) | _on(hours, 18.0, evening))
                                 & (days % 4 != 1), 1500.0, 0.0),
    }
    if device.type is DeviceType.LIGHT:
        return np.where(_on(hours, 18.0, 23.5) | _on(hours, 6.5, 7.5), rated, 0.0)
    return np.asarray(model.get(device.appliance or "", np.full(len(t), rated * 0.1)), dtype=float)


def climate(kind: str, room_index: int, t: np.ndarray, tz: str) -> np.ndarray:
    """Modelled temperature (°C), humidity (%) or light (lx) of a room."""
    hours, _ = _local_hours(t, tz)
    wave = np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
    if kind == "temperature":
        return np.round(20.5 + room_index * 0.4 + 1.5 * wave, 1)
    if kind == "humidity":
        return np.round(48.0 + room_index * 2 - 6.0 * wave, 1)
    return np.round(np.clip(400.0 * np.sin((hours - 6.0) / 14.0 * np.pi), 0.0, None) + 5.0 * room_index, 0)


def home_power(home: HomeConfig, t: np.ndarray) -> np.ndarray:
    """The whole-home meter: every modelled load plus a baseload the plugs do not see."""
    tz = home.home.timezone
    total = np.full(len(t), 140.0)
    for device in home.devices:
        if device.type in (DeviceType.PLUG, DeviceType.LIGHT):
            total += power(device, t, tz)
    return total


def series(home: HomeConfig, device: Device, kind: str, t: np.ndarray) -> np.ndarray:
    """Modelled values of any (device, kind) at `t`; booleans as 0/1."""
    tz = home.home.timezone
    rooms = [r.id for r in home.rooms]
    if device.type is DeviceType.METER:
        watts = home_power(home, t)
    elif device.type in (DeviceType.PLUG, DeviceType.LIGHT):
        watts = power(device, t, tz)
    else:
        watts = np.zeros(len(t))
    on_above = min(STANDBY_W, (device.rated_power_w or 100.0) / 2)  # a 12 W lamp that is on is on
    values = {
        "power": watts, "switch": (watts > on_above).astype(float), "voltage": np.full(len(t), 231.0),
        "current": np.round(watts / 231.0, 2), "energy": np.round(np.cumsum(watts) * RAW_STEP_S / 3.6e6 + 100.0, 3),
        "motion": ((t // 60) % 11 == 0).astype(float), "contact": ((t // 60) % 47 == 0).astype(float),
        "smoke": np.zeros(len(t)),
    }
    if kind in ("temperature", "humidity", "light"):
        return climate(kind, rooms.index(device.room), t, tz)
    return np.asarray(values[kind], dtype=float)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: sa.Connection, table: sa.Table, frames: pd.DataFrame | Iterable[pd.DataFrame]) -> int:
    """Insert DataFrames' rows (columns named as the table's) in chunks, one frame at a time (bounded memory)."""
    count = 0
    for frame in [frames] if isinstance(frames, pd.DataFrame) else frames:
        records = frame.to_dict("records")
        for batch in _chunks(records):
            conn.execute(table.insert(), batch)
        count += len(records)
    return count


def raw_readings(home: HomeConfig, now: float, seconds: float, boot: str = "a1b2c3") -> Iterator[pd.DataFrame]:
    """Raw rows as ingest stores them: every device every 5 s over the last `seconds`, one frame per reading kind."""
    t = np.arange(now - seconds, now, RAW_STEP_S)
    for device in home.devices:
        jitter = (zlib.crc32(device.id.encode()) % 1000) / 1000.0 * RAW_STEP_S
        times = t + jitter
        for idx, kind in enumerate(device.kinds):
            yield pd.DataFrame({
                "home": home.home.id, "device": device.id, "boot": boot, "seq": np.arange(len(times)), "idx": idx,
                "ts": times, "received_at": times + 0.05, "kind": kind.value,
                "value": series(home, device, kind.value, times), "room": device.room, "appliance": device.appliance,
                "t": times, "ingested_at": times + 0.2,
            })


def aggregates(home: HomeConfig, start: float, end: float, step: float, kinds: set[str] | None
               ) -> Iterator[pd.DataFrame]:
    """`readings_1m` (step 60) or `readings_1h` (step 3600) rows, one frame per (device, kind) of the home."""
    buckets = np.arange(start // step * step, end, step)
    for device in home.devices:
        for kind in device.kinds:
            if kinds is None or kind.value in kinds:
                mean = series(home, device, kind.value, buckets + step / 2)
                yield pd.DataFrame({"home": home.home.id, "device": device.id, "kind": kind.value, "bucket": buckets,
                                    "mean": mean, "min": mean * 0.9, "max": mean * 1.1, "n": int(step // RAW_STEP_S)})


def energy_days(home: HomeConfig, today: dt.date, days: int) -> pd.DataFrame:
    """`energy_daily` rows: kWh, cost, standby, coverage (a few days with gaps) and the hog flag per device."""
    tz = ZoneInfo(home.home.timezone)
    rows = []
    meters = [d for d in home.devices if d.type in (DeviceType.PLUG, DeviceType.METER)]
    for offset in range(days, 0, -1):
        day = today - dt.timedelta(days=offset - 1)
        start = dt.datetime.combine(day, dt.time(), tz).timestamp()
        t = np.arange(start, start + 86400, 60.0)
        for device in meters:
            watts = home_power(home, t) if device.type is DeviceType.METER else power(device, t, home.home.timezone)
            coverage = 100.0 if (offset + len(device.id)) % 9 else 83.5
            kwh = float(watts.sum()) / 60.0 / 1000.0 * coverage / 100.0
            rows.append({"home": home.home.id, "day": day, "device": device.id,
                         "appliance": device.appliance or device.label, "is_meter": device.type is DeviceType.METER,
                         "source": "counter", "kwh": kwh, "cost": kwh * home.home.tariff_per_kwh,
                         "standby_kwh": float(watts[watts < STANDBY_W].sum()) / 60000.0,
                         "on_hours": float((watts >= STANDBY_W).sum()) / 60.0, "covered_hours": 24 * coverage / 100,
                         "resets": 0, "coverage_pct": coverage, "p95_28d": None, "hog": False})
    frame = pd.DataFrame(rows)
    p95 = frame.groupby("device")["kwh"].transform(lambda k: k.rolling(28, min_periods=7).quantile(0.95).shift(1))
    return frame.assign(p95_28d=p95, hog=(frame["kwh"] > p95 * 1.001) & ~frame["is_meter"])


def security_log(home: HomeConfig, now: float, days: int) -> pd.DataFrame:
    """The ETL's security log: door/window openings and motion, with the alarm mode of the moment."""
    rows = []
    tz = home.home.timezone
    for device in home.devices:
        if device.type not in (DeviceType.CONTACT, DeviceType.MOTION):
            continue
        period = 5400.0 if device.type is DeviceType.CONTACT else 1800.0
        t = np.arange(now - days * 86400, now, period) + (zlib.crc32(device.id.encode()) % 600)
        hours, weekday = _local_hours(t, tz)
        for ti, hour, wd, i in zip(t, hours, weekday, range(len(t)), strict=True):
            mode = "away" if 8 <= hour < 17 and wd % 7 < 5 else ("night" if hour >= 23 or hour < 6 else "home")
            rows.append({"home": home.home.id, "device": device.id, "t": float(ti), "kind": device.kinds[0].value,
                         "day": dt.date.fromtimestamp(float(ti)), "room": device.room, "value": bool(i % 2 == 0),
                         "mode": mode, "gateway_online": bool(i % 97)})
    return pd.DataFrame(rows)


def top_up(engine: sa.Engine, home: HomeConfig, now: float, seconds: float = 900.0) -> int:
    """Add the last `seconds` of raw readings up to `now` (as if the devices had rebooted): keeps live views live."""
    frame = raw_readings(home, now, seconds, boot=f"{int(now * 1000) % 16**12:012x}")
    with engine.begin() as conn:
        return _insert(conn, s.readings, frame)


def fill(engine: sa.Engine, home: HomeConfig, now: float, *, days: int = 30, minute_days: float = 30,
         raw_seconds: float = 1200, minute_kinds: set[str] | None = None) -> dict[str, int]:
    """Write a synthetic history of `days` days ending at `now` into a migrated warehouse; rows per table."""
    tz = ZoneInfo(home.home.timezone)
    today = dt.datetime.fromtimestamp(now, tz).date()
    tables: list[tuple[sa.Table, pd.DataFrame | Iterable[pd.DataFrame]]] = [
        (s.readings, raw_readings(home, now, raw_seconds)),
        (s.readings_1m, aggregates(home, now - minute_days * 86400, now, 60.0, minute_kinds)),
        (s.readings_1h, aggregates(home, now - days * 86400, now, 3600.0, None)),
        (s.energy_daily, energy_days(home, today, days)),
        (s.security_events, security_log(home, now, days)),
        (s.devices, pd.DataFrame([{"home": home.home.id, "device": d.id, "room": d.room, "appliance": d.appliance,
                                   "first_seen": now - days * 86400, "last_seen": now - 2, "online": True,
                                   "status_at": now - days * 86400, "fw": "1.0.0"} for d in home.devices])),
        (s.rejected, pd.DataFrame([{"home": home.home.id, "topic": f"iot/{home.home.id}/plug-tv/telemetry",
                                    "reason": reason, "detail": "sample", "payload": "{}", "received_at": now - i * 700}
                                   for i, reason in enumerate(["out_of_range"] * 5 + ["schema"] * 2 + ["ts_future"])])),
        (s.alerts, pd.DataFrame([{"home": home.home.id, "alert_id": f"home-power-{i}", "source": "cloud",
                                  "rule": "home_power", "severity": "warning", "state": "raised",
                                  "ts": now - i * 86400 - 3600, "message": "Home power over 6000 W for 5 min",
                                  "device": None, "room": None, "value": 6400.0, "notified": True} for i in range(2)])),
        (s.gateway_events, pd.DataFrame([{"home": home.home.id, "type": "mode", "ts": now - 4000,
                                          "payload": json.dumps({"type": "mode", "mode": "home", "ts": now - 4000,
                                                                 "since": now - 4000, "source": "sample"}),
                                          "digest": "sample-mode"}])),
        (s.etl_runs, pd.DataFrame([{"started_at": now - 50, "finished_at": now - 47.5, "source": "warehouse",
                                    "status": "ok", "watermark_from": now - 110, "watermark_to": now - 50,
                                    "rows_loaded": 4200, "rows_in": 4210, "rows_clean": 4200, "touched": 12,
                                    "counts": "{}", "timings": "{}", "error": None}])),
    ]
    counts = {}
    with engine.begin() as conn:
        for table, frame in tables:
            counts[table.name] = _insert(conn, table, frame)
    return counts
