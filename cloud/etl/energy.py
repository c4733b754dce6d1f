"""Energy per device and day: from cumulative counters (resets handled), else integrated power, never over gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloud.etl.context import Context
from protocol import Kind

SERIES = ["home", "device"]
ENERGY_COLUMNS = ["home", "day", "device", "appliance", "is_meter", "source", "kwh", "cost", "standby_kwh",
                  "on_hours", "covered_hours", "resets"]
UNTRACKED = "untracked"  # the home meter's remainder once every plug is subtracted
HOG_HISTORY_DAYS = 28
HOG_MIN_DAYS = 7  # fewer days of history make a 95th percentile meaningless


def _sorted(rows: pd.DataFrame, kind: Kind) -> tuple[pd.DataFrame, pd.Series]:
    """Rows of one kind sorted per series by time, and a mask of rows that continue the previous row's series."""
    part = rows.loc[rows["kind"] == kind.value, ["home", "device", "day", "t", "value"]]
    part = part.sort_values([*SERIES, "t"], kind="stable")
    same = (part["home"] == part["home"].shift()) & (part["device"] == part["device"].shift())
    return part, same


def counter_energy(rows: pd.DataFrame) -> pd.DataFrame:
    """kWh per (home, device, day) from cumulative counters; after a reset the counter's new value is the increment."""
    part, same = _sorted(rows, Kind.ENERGY)
    step = part["value"] - part["value"].shift()
    reset = same & (step < 0)
    increment = np.where(reset, part["value"], np.where(same, step, 0.0))
    # An increment covers (previous reading, this reading]: book it on the previous reading's day, as power is.
    day = part["day"].shift().where(same, part["day"])
    part = part.assign(kwh=increment, resets=reset.astype(int), day=day)
    return part.groupby([*SERIES, "day"], observed=True)[["kwh", "resets"]].sum()


def power_energy(rows: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Integrate power per (home, device, day) as a step function (devices publish on change), skipping long gaps.

    Also the standby energy (0 < P < standby_w), hours on (P >= standby_w) and hours covered by data.
    """
    part, same = _sorted(rows, Kind.POWER)
    following = same.shift(-1, fill_value=False)
    dt = (part["t"].shift(-1) - part["t"]).where(following)
    dt = dt.where(dt <= ctx.config.long_gap_s, 0.0).fillna(0.0)
    wh = part["value"] * dt / 3600.0
    standby = (part["value"] > 0) & (part["value"] < ctx.config.standby_w)
    part = part.assign(power_kwh=wh / 1000.0, standby_kwh=wh.where(standby, 0.0) / 1000.0,
                       on_hours=dt.where(part["value"] >= ctx.config.standby_w, 0.0) / 3600.0,
                       covered_hours=dt / 3600.0)
    columns = ["power_kwh", "standby_kwh", "on_hours", "covered_hours"]
    return part.groupby([*SERIES, "day"], observed=True)[columns].sum()


def energy_daily(rows: pd.DataFrame, ctx: Context, meta: pd.DataFrame) -> pd.DataFrame:
    """One row per (home, day, device) that reports power or energy, in kWh and money."""
    power = power_energy(rows, ctx)
    counter = counter_energy(rows)
    both = power.join(counter, how="outer")
    has_counter = both["kwh"].notna()
    both["source"] = np.where(has_counter, "counter", "power")
    both["kwh"] = both["kwh"].fillna(both["power_kwh"]).fillna(0.0)
    both = both.fillna({"standby_kwh": 0.0, "on_hours": 0.0, "covered_hours": 0.0, "resets": 0}).reset_index()
    device = both["device"]
    both["appliance"] = device.map(meta["label"]).astype(object)
    both["is_meter"] = device.map(meta["is_meter"]).astype(bool)
    both["cost"] = both["kwh"] * ctx.tariff
    both["resets"] = both["resets"].astype(int)
    return both[ENERGY_COLUMNS]


def untracked(days: pd.DataFrame, tariff: float) -> pd.DataFrame:
    """Per (home, day) with a meter: the meter's kWh minus every other device's (never below zero)."""
    real = days.loc[days["device"] != UNTRACKED]
    meter = real.loc[real["is_meter"]].groupby(["home", "day"])["kwh"].sum()
    parts = real.loc[~real["is_meter"]].groupby(["home", "day"])["kwh"].sum()
    rest = (meter - parts.reindex(meter.index).fillna(0.0)).clip(lower=0.0).rename("kwh").reset_index()
    return rest.assign(device=UNTRACKED, appliance=UNTRACKED, is_meter=False, source="derived",
                       cost=rest["kwh"] * tariff, standby_kwh=0.0, on_hours=0.0, covered_hours=0.0, resets=0)


def hog_flags(days: pd.DataFrame) -> pd.DataFrame:
    """Add `p95_28d` (the device's 95th percentile over the previous 28 days) and `hog` (today above it)."""
    ordered = days.sort_values([*SERIES, "day"]).reset_index(drop=True)
    indexed = ordered.set_index(pd.DatetimeIndex(ordered["day"]))
    p95 = indexed.groupby(SERIES, observed=True, sort=False)["kwh"].rolling(
        f"{HOG_HISTORY_DAYS}D", closed="left", min_periods=HOG_MIN_DAYS
    ).quantile(0.95)
    ordered["p95_28d"] = p95.to_numpy()
    ordered["hog"] = (ordered["kwh"] > ordered["p95_28d"]).fillna(False).astype(bool)
    return ordered
