"""Data completeness per device and day: coverage %, gaps, duplicates, late arrivals, failed and odd readings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloud.etl.context import Context, day_bounds

GROUP = ["home", "device", "day"]
QUALITY_COLUMNS = ["home", "device", "day", "readings", "messages", "failed", "coverage_pct", "gaps", "max_gap_s",
                   "duplicates", "late", "anomalies"]
GAP_FLOOR_S = 30.0  # shorter silences are jitter around the heartbeat, not gaps


def data_quality(rows: pd.DataFrame, duplicates: pd.DataFrame, flagged: pd.DataFrame, ctx: Context,
                 meta: pd.DataFrame) -> pd.DataFrame:
    """Completeness per (home, device, day); `rows` are deduplicated readings including failed ones."""
    failed = rows["value"].isna()
    counts = rows.assign(failed=failed).groupby(GROUP, observed=True).agg(readings=("idx", "size"),
                                                                         failed=("failed", "sum"))
    messages = rows.loc[rows["idx"] == 0]  # every message has a first reading, and only one
    late = (messages["received_at"] - messages["ts"]) > ctx.config.late_s
    per_message = messages.assign(late=late).groupby(GROUP, observed=True).agg(messages=("idx", "size"),
                                                                               late=("late", "sum"))
    out = counts.join(per_message).join(_coverage(messages, ctx, meta))
    out["duplicates"] = duplicates.groupby(GROUP, observed=True).size()
    out["anomalies"] = flagged.groupby(GROUP, observed=True).size()
    out = out.fillna({"duplicates": 0, "anomalies": 0}).reset_index()
    for column in ("readings", "messages", "failed", "gaps", "duplicates", "late", "anomalies"):
        out[column] = out[column].astype(int)
    return out[QUALITY_COLUMNS]


def _coverage(messages: pd.DataFrame, ctx: Context, meta: pd.DataFrame) -> pd.DataFrame:
    """Share of the day within two heartbeats of a message; gaps longer than three heartbeats, and the longest.

    The heartbeat is the configured `interval_s`, or the device-day's median spacing when that is longer: a device
    flashed with a slower heartbeat than home.toml says is not "83 % missing" (publish-on-change only makes the
    median shorter, so a real loss still shows).
    """
    part = messages[["home", "device", "day", "t"]].sort_values(["home", "device", "t"], kind="stable")
    same_next = (part["home"] == part["home"].shift(-1)) & (part["device"] == part["device"].shift(-1))
    spacing = (part["t"].shift(-1) - part["t"]).where(same_next)
    median = spacing.groupby([part["home"], part["device"], part["day"]], observed=True).transform("median")
    configured = part["device"].map(meta["interval_s"]).astype(float)
    interval = np.fmax(configured.to_numpy(), median.to_numpy())
    dt = spacing.to_numpy()
    covered = np.where(np.isnan(dt), interval, np.minimum(dt, 2 * interval))
    gap = np.nan_to_num(dt, nan=0.0)
    part = part.assign(covered=covered, gap=gap, is_gap=gap > np.maximum(3 * interval, GAP_FLOOR_S))
    out = part.groupby(GROUP, observed=True).agg(covered=("covered", "sum"), gaps=("is_gap", "sum"),
                                                 max_gap_s=("gap", "max"))
    days = pd.Series(out.index.get_level_values("day"))
    start, end = day_bounds(days, ctx.tz)
    out["coverage_pct"] = np.minimum(100.0, 100.0 * out["covered"].to_numpy() / (end - start).to_numpy())
    return out.drop(columns="covered")
