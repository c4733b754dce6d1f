"""A deterministic sample log of the example home in the reading-row layout, with its ground truth.

The cloud tests and benchmarks use it until (and besides) the simulator's committed sample: it knows the true
energy each appliance used, so the ETL's answers are checked against figures computed here, not by the ETL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from protocol.config import DeviceType, HomeConfig
from protocol.frame import READING_COLUMNS

HOUR = 3600.0
# Appliance power by local hour: (on watts, standby watts, [(from hour, to hour), ...]).
SCHEDULES: dict[str, tuple[float, float, list[tuple[float, float]]]] = {
    "plug-heater": (1800.0, 0.0, [(6, 9), (17, 22)]),
    "plug-kettle": (2000.0, 0.0, [(7, 7.05), (18, 18.05)]),
    "plug-tv": (90.0, 8.0, [(19, 23)]),
    "plug-pc": (150.0, 2.0, [(9, 17)]),
    "plug-fridge": (120.0, 3.0, [(h, h + 0.25) for h in np.arange(0, 24, 0.5)]),
    "light-living": (12.0, 0.0, [(18, 23)]),
    "light-kitchen": (18.0, 0.0, [(6.5, 8)]),
}
BASELOAD_W = 80.0  # what the meter sees that no plug measures: the "untracked" remainder
AWAY = (9.0, 17.0)  # the alarm is set to away between these local hours every day
DOOR_OPENINGS = (8.5, 12.0, 14.0, 18.0)  # local hours; two of them fall while away


@dataclass
class Sample:
    """The rows, the gateway mode events, and the truth behind them."""

    rows: pd.DataFrame
    mode_events: list[dict[str, object]]
    energy_kwh: dict[tuple[str, str], float] = field(default_factory=dict)  # (device, local day) -> true kWh
    away_openings: int = 0


def local_hours(t: np.ndarray, tz: str) -> np.ndarray:
    """Hour of the local day (fractional) of each epoch second."""
    stamps = pd.to_datetime(t, unit="s", utc=True).tz_convert(tz)
    return np.asarray(stamps.hour + stamps.minute / 60 + stamps.second / 3600, dtype=float)


def make_sample(home: HomeConfig, *, start: str = "2026-03-02", days: int = 2, step: float = 60.0,
                home_id: str | None = None, fridge_reset_at: float | None = 1.5) -> Sample:
    """`days` of readings every `step` seconds from local midnight of `start`; the fridge's meter resets once."""
    tz = home.home.timezone
    t0 = pd.Timestamp(start, tz=tz).timestamp()
    t = t0 + np.arange(0, days * 86400.0, step)
    hours = local_hours(t, tz)
    day = pd.to_datetime(t, unit="s", utc=True).tz_convert(tz).strftime("%Y-%m-%d").to_numpy()
    sample = Sample(pd.DataFrame(), [])
    powers = {dev: _power(hours, *SCHEDULES[dev]) for dev in SCHEDULES}
    powers["meter-home"] = sum(powers.values()) + BASELOAD_W
    grid = Grid(t, hours, day, step, t0, powers, fridge_reset_at)
    frames = []
    for index, device in enumerate(home.devices):
        values = _values(device.id, device.type, grid, sample)
        frames.append(_rows(home_id or home.home.id, device.id, index, t, values, room=device.room,
                            appliance=device.appliance))
    sample.rows = pd.concat(frames, ignore_index=True)[list(READING_COLUMNS)]
    sample.mode_events = _modes(t0, days, tz)
    sample.away_openings = days * sum(AWAY[0] <= h < AWAY[1] for h in DOOR_OPENINGS)
    return sample


def _power(hours: np.ndarray, on: float, standby: float, spans: list[tuple[float, float]]) -> np.ndarray:
    active = np.zeros_like(hours, dtype=bool)
    for a, b in spans:
        active |= (hours >= a) & (hours < b)
    return np.where(active, on, standby)


@dataclass
class Grid:
    """The time grid and the appliance powers on it."""

    t: np.ndarray
    hours: np.ndarray
    day: np.ndarray
    step: float
    t0: float
    powers: dict[str, np.ndarray]
    reset_days: float | None


def _values(device: str, kind: DeviceType, grid: Grid, sample: Sample) -> dict[str, object]:
    """Each kind's values for one device over the grid (numpy arrays, or None for kinds it does not report)."""
    hours, powers, t, step, t0, day = grid.hours, grid.powers, grid.t, grid.step, grid.t0, grid.day
    reset_days = grid.reset_days
    phase = sum(map(ord, device)) % 17
    if kind is DeviceType.CLIMATE:
        return {"temperature": np.round(21 + 1.5 * np.sin(2 * np.pi * (hours + phase) / 24), 2),
                "humidity": np.round(45 + 5 * np.cos(2 * np.pi * hours / 24), 1),
                "light": np.where((hours > 7) & (hours < 19), 300.0, 5.0)}
    if kind is DeviceType.CONTACT:
        opened = np.zeros_like(hours, dtype=bool)
        if device == "door-front":
            for h in DOOR_OPENINGS:
                opened |= (hours >= h) & (hours < h + step / HOUR)
        return {"contact": opened}
    if kind in (DeviceType.MOTION, DeviceType.SMOKE):
        return {kind.value: np.zeros_like(hours, dtype=bool)}
    power = powers.get(device, np.zeros_like(hours))
    if kind is DeviceType.LIGHT:
        return {"switch": power > 0, "power": power}
    # Each sample's power holds until the next one (devices publish on change): the true energy is that sum.
    increment = power * step / HOUR / 1000.0
    for d, kwh in pd.Series(increment).groupby(day).sum().items():
        sample.energy_kwh[(device, str(d))] = float(kwh)
    counter = np.concatenate([[0.0], np.cumsum(increment)[:-1]]) + 100.0
    if device == "plug-fridge" and reset_days is not None and t[-1] >= t0 + reset_days * 86400.0:
        after = t >= t0 + reset_days * 86400.0
        counter = np.where(after, counter - counter[after][0], counter)  # the plug's meter restarts at 0
    values: dict[str, object] = {"power": power, "energy": np.round(counter, 6), "voltage": np.full_like(power, 230.0)}
    if kind is DeviceType.PLUG:
        values |= {"switch": power > 0, "current": np.round(power / 230.0, 3)}
    return values


UNITS = {"temperature": "°C", "humidity": "%", "light": "lx", "power": "W", "energy": "kWh", "voltage": "V",
         "current": "A"}


def _rows(home: str, device: str, index: int, t: np.ndarray, values: dict[str, object], *, room: str,
          appliance: str | None) -> pd.DataFrame:
    """One message per grid instant with every kind of the device, idx in declaration order."""
    parts = []
    for idx, (kind, array) in enumerate(values.items()):
        parts.append(pd.DataFrame({
            "home": home, "device": device, "boot": f"b{index:03x}", "seq": np.arange(len(t)), "idx": idx,
            "ts": t, "received_at": t + 0.2, "kind": kind, "value": np.asarray(array, dtype=float),
            "unit": UNITS.get(kind), "err": None, "room": room, "appliance": appliance,
        }))
    return pd.concat(parts)


def _modes(t0: float, days: int, tz: str) -> list[dict[str, object]]:
    """The gateway's mode events: away at 09:00, home at 17:00, every day."""
    events = []
    zone = ZoneInfo(tz)
    for d in range(days):
        midnight = pd.Timestamp(t0, unit="s", tz="UTC").tz_convert(zone) + pd.Timedelta(days=d)
        for hour, mode in ((AWAY[0], "away"), (AWAY[1], "home")):
            events.append({"type": "mode", "ts": (midnight + pd.Timedelta(hours=hour)).timestamp(), "mode": mode})
    return events


def expected_hourly_means(rows: pd.DataFrame, device: str, kind: str) -> dict[float, float]:
    """Hourly means of one series, computed with plain Python (independently of the ETL's pandas code)."""
    sums: dict[float, list[float]] = defaultdict(list)
    series = rows[(rows["device"] == device) & (rows["kind"] == kind)]
    for ts, value in zip(series["ts"], series["value"], strict=True):
        sums[(ts // 3600) * 3600].append(value)
    return {hour: sum(v) / len(v) for hour, v in sums.items()}
