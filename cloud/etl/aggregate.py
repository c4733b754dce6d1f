"""Time-bucket means per device and kind, and per-room daily climate summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloud.etl.context import Context
from protocol import Kind

CLIMATE_KINDS = (Kind.TEMPERATURE.value, Kind.HUMIDITY.value, Kind.LIGHT.value)


def bucket_means(rows: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Mean, min, max and count per (home, device, kind, bucket start) for buckets of `seconds` (UTC-aligned)."""
    bucket = np.floor(rows["t"].to_numpy() / seconds) * seconds
    grouped = rows.assign(bucket=bucket).groupby(["home", "device", "kind", "bucket"], observed=True, sort=True)
    out = grouped["value"].agg(["mean", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def climate_daily(rows: pd.DataFrame, ctx: Context, meta: pd.DataFrame) -> pd.DataFrame:
    """Per room and local day: mean, min and max of temperature, humidity and light from climate sensors."""
    climate = rows.loc[rows["kind"].isin(CLIMATE_KINDS), ["home", "device", "kind", "day", "value"]]
    climate = climate.assign(room=climate["device"].map(meta["room"]).astype(object))
    climate = climate.loc[climate["room"].notna()]
    stats = climate.pivot_table(index=["home", "room", "day"], columns="kind", values="value",
                                aggfunc=["mean", "min", "max"], observed=True)
    counts = climate.groupby(["home", "room", "day"], observed=True).size().rename("n")
    out = pd.DataFrame(index=counts.index)
    for kind in CLIMATE_KINDS:
        for stat in ("mean", "min", "max"):
            column = (stat, kind)
            out[f"{kind}_{stat}"] = stats[column] if column in stats.columns else np.nan
    out["n"] = counts
    return out.reset_index()
