"""Weather outside (temperature, daylight) and the climate of each room: heating, occupancy, cooking, showers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np

from simulator.schedule import HOUR, DayPlan, gather
from simulator.signals import Bools, Floats, covered, lag, rng_for

COARSE = 60.0  # s: the room climate moves slowly; it is filtered on a minute grid and interpolated
WARMUP = 6 * HOUR  # six time constants of the slowest lag: a window's start does not show in its values
SETPOINT = {"home": 21.0, "asleep": 18.5, "away": 17.0}
ROOM_OFFSET = {"bathroom": 1.0, "bedroom": -1.0, "hallway": -1.5, "office": -1.5, "utility": -2.0}
WINDOW_FACTOR = {"living": 0.02, "kitchen": 0.015, "office": 0.02, "bedroom": 0.012, "bathroom": 0.006,
                 "hallway": 0.004, "utility": 0.008}
LAMP_LUX = 300.0


@dataclass(frozen=True, slots=True)
class Weather:
    """Outdoor temperature (°C) and daylight (lx) on a time grid."""

    temperature: Floats
    daily_mean: Floats
    lux: Floats


def weather(t: Floats, plans: list[DayPlan], seed: int, home: str, timezone: str) -> Weather:
    """Seasonal and daily cycles with a random offset and cloud cover per day, smooth across midnight."""
    tz = zoneinfo.ZoneInfo(timezone)
    noons = np.array([p.midnight + 12 * HOUR for p in plans])
    draws = [rng_for(seed, home, "weather", p.date.toordinal()) for p in plans]
    offsets = np.array([r.normal(0.0, 2.5) for r in draws])
    clouds = np.array([r.uniform(0.15, 1.0) for r in draws])
    doy = np.array([p.date.timetuple().tm_yday for p in plans], dtype=float)
    season = 10.0 - 9.0 * np.cos(2 * np.pi * (doy - 20) / 365.0)
    dst = np.array([_dst_hours(p.date, tz) for p in plans])
    mean = np.interp(t, noons, season + offsets)
    cloud = np.interp(t, noons, clouds)
    hour = _local_hour(t, plans)
    temperature = mean + (2.0 + 3.0 * cloud) * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    length = np.interp(t, noons, 12.0 + 4.3 * np.sin(2 * np.pi * (doy - 80) / 365.0))
    noon = 12.3 + np.interp(t, noons, dst)
    height = np.clip(np.cos(np.pi * (hour - noon) / length), 0.0, None) ** 1.5
    peak = 25_000.0 + 75_000.0 * np.clip((length - 7.7) / 8.6, 0.0, 1.0)
    return Weather(temperature, mean, peak * height * cloud)


def _dst_hours(date: dt.date, tz: zoneinfo.ZoneInfo) -> float:
    """Hours of daylight saving in force at local noon of `date`."""
    offset = dt.datetime(date.year, date.month, date.day, 12, tzinfo=tz).dst()
    return offset.total_seconds() / HOUR if offset else 0.0


def _local_hour(t: Floats, plans: list[DayPlan]) -> Floats:
    """Hours since local midnight for each instant."""
    midnights = np.array([p.midnight for p in plans])
    index = np.clip(np.searchsorted(midnights, t, side="right") - 1, 0, len(plans) - 1)
    hours: Floats = (t - midnights[index]) / HOUR
    return hours


def heating_setpoint(t: Floats, plans: list[DayPlan], daily_mean: Floats) -> Floats:
    """Central heating: comfortable when someone is up at home, lower asleep and away, off in warm weather."""
    away = covered(t, *gather(plans, "away"))
    asleep = covered(t, *gather(plans, "asleep"))
    setpoint = np.where(away, SETPOINT["away"], np.where(asleep, SETPOINT["asleep"], SETPOINT["home"]))
    return np.where(daily_mean < 15.0, setpoint, np.nan)


def room_climate(
    t: Floats, role: str, plans: list[DayPlan], extra_heat: Floats | None, lamp: Bools, *, seed: int, home: str,
    timezone: str,
) -> tuple[Floats, Floats, Floats]:
    """(temperature °C, humidity %, light lx) of one room at each `t`, before sensor noise."""
    grid = np.arange(t[0] - WARMUP, t[-1] + 2 * COARSE, COARSE)
    sky = weather(grid, plans, seed, home, timezone)
    heated = heating_setpoint(grid, plans, sky.daily_mean) + ROOM_OFFSET.get(role, 0.0)
    floating = 20.0 + 0.4 * (sky.temperature - 15.0)
    target = np.where(np.isnan(heated), floating, heated) + _occupancy_heat(grid, role, plans)
    if extra_heat is not None:
        target += np.interp(grid, t, extra_heat)
    temperature = lag(t, grid, target, tau=40 * 60.0)
    humidity_target = 48.0 - 1.2 * (np.interp(grid, t, temperature) - 20.0) + _moisture(grid, role, plans)
    humidity = np.clip(lag(t, grid, humidity_target, tau=20 * 60.0), 15.0, 95.0)
    outdoor = np.interp(t, grid, sky.lux)
    curtains = np.where(covered(t, *gather(plans, "asleep")) & (role == "bedroom"), 0.05, 1.0)
    return temperature, humidity, outdoor * WINDOW_FACTOR.get(role, 0.01) * curtains + lamp * LAMP_LUX


def _occupancy_heat(grid: Floats, role: str, plans: list[DayPlan]) -> Floats:
    """People warm a room a little; cooking and showers more."""
    heat = 0.6 * covered(grid, *gather(plans, f"room:{role}"))
    if role == "bedroom":
        heat += 0.6 * covered(grid, *gather(plans, "asleep"))
    if role == "kitchen":
        heat += 2.0 * covered(grid, *gather(plans, "cook"))
    if role == "bathroom":
        heat += 1.5 * covered(grid, *gather(plans, "shower"))
    return heat


def _moisture(grid: Floats, role: str, plans: list[DayPlan]) -> Floats:
    """Humidity added by showers, cooking and sleepers; an open window lets it out."""
    wet = np.zeros(len(grid))
    if role == "bathroom":
        wet += 40.0 * covered(grid, *gather(plans, "shower"))
    if role == "kitchen":
        wet += 10.0 * covered(grid, *gather(plans, "cook"))
    if role == "bedroom":
        wet += 6.0 * covered(grid, *gather(plans, "asleep"))
    return wet - 6.0 * covered(grid, *gather(plans, f"window:{role}"))
