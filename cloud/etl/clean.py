"""Clean impossible values and flag anomalies: rolling z-score, physical bounds, flat-lined sensors, meter resets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloud.etl.context import Context
from protocol import KINDS, Kind

KEY = ["device", "boot", "seq", "idx"]
ZSCORE_KINDS = (Kind.TEMPERATURE.value, Kind.HUMIDITY.value, Kind.VOLTAGE.value)  # slow physical signals
FLAT_KINDS = (Kind.TEMPERATURE.value, Kind.HUMIDITY.value)  # a real room never holds these exactly still for hours
ANOMALY_COLUMNS = ["home", "device", "kind", "t", "rule", "value"]
_LOW = {k.value: s.minimum for k, s in KINDS.items()}
_HIGH = {k.value: 1.0 if s.boolean else s.maximum for k, s in KINDS.items()}  # booleans are stored as 0/1
# A sensor cannot resolve less than its display precision: a 0.1 step on a still signal is not a 6-sigma event.
_RESOLUTION = {k.value: 10.0 ** -s.precision for k, s in KINDS.items()}


def deduplicate(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Keep the first copy of each reading key; return the frame and a mask of the dropped copies."""
    dup = raw.duplicated(KEY, keep="first")
    return raw.loc[~dup], dup


def clean(readings: pd.DataFrame, ctx: Context, meta: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop failed (null) readings and impossible values; the impossible ones come back as `bounds` anomalies."""
    present = readings.loc[readings["value"].notna()]
    kind = present["kind"]
    high = kind.map(_HIGH).astype(float)
    rated = present["device"].map(meta["rated_power_w"]).astype(float)
    # A plug cannot draw more than twice its rating for long; above that the reading is a fault, not a load.
    high = high.where(~((kind == Kind.POWER.value) & rated.notna()), np.minimum(high, 2.0 * rated))
    bad = (present["value"] < kind.map(_LOW).astype(float)) | (present["value"] > high)
    flagged = present.loc[bad, ["home", "device", "kind", "t", "value"]].assign(rule="bounds")
    return present.loc[~bad], flagged[ANOMALY_COLUMNS]


def anomalies(clean_rows: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Flag z-score outliers, flat-lined sensors and meter resets in cleaned readings (rows sorted by t)."""
    parts = [_zscores(clean_rows, ctx), _flat_lines(clean_rows, ctx), _resets(clean_rows)]
    return pd.concat(parts, ignore_index=True)[ANOMALY_COLUMNS]


def _series(frame: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """Rows of the given kinds, sorted per (device, kind) by time."""
    rows = frame.loc[frame["kind"].isin(kinds), ["home", "device", "kind", "t", "value"]]
    return rows.sort_values(["device", "kind", "t"], kind="stable")


def _zscores(frame: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """|value - mean| / std over the previous `zscore_window` readings of the same device and kind.

    Vectorised over all series at once: one rolling window over the sorted column, with the rows whose window
    would reach into the previous series masked out by their position in their own series.
    """
    rows = _series(frame, ZSCORE_KINDS)
    window = ctx.config.zscore_window
    previous = rows["value"].shift(1).rolling(window, min_periods=window)
    mean, std = previous.mean(), previous.std()
    position = rows.groupby(["device", "kind"], observed=True).cumcount()
    floor = rows["kind"].map(_RESOLUTION).astype(float)
    z = (rows["value"] - mean).abs() / std.clip(lower=floor)
    hit = (position >= window) & (z > ctx.config.zscore)
    return rows.loc[hit].assign(rule="zscore")


def _flat_lines(frame: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """One anomaly at the start of every run of identical values lasting at least `flat_line_s`."""
    rows = _series(frame, FLAT_KINDS)
    same_series = (rows["device"] == rows["device"].shift()) & (rows["kind"] == rows["kind"].shift())
    run = (~same_series | (rows["value"] != rows["value"].shift())).cumsum()
    span = rows.groupby(run)["t"].agg(["first", "last"])
    long_runs = span.index[(span["last"] - span["first"]) >= ctx.config.flat_line_s]
    starts = rows.loc[~run.duplicated() & run.isin(long_runs)]
    return starts.assign(rule="flat")


def _resets(frame: pd.DataFrame) -> pd.DataFrame:
    """An energy counter that went down: the meter was reset (or replaced)."""
    rows = _series(frame, (Kind.ENERGY.value,))
    same = rows["device"] == rows["device"].shift()
    return rows.loc[same & (rows["value"] < rows["value"].shift())].assign(rule="reset")
