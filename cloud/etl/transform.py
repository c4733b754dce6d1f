"""The whole transform as one pure function: raw readings in, every derived table out (as DataFrames)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cloud.etl import aggregate, clean, energy, quality, security
from cloud.etl.context import Context, local_day


@dataclass(frozen=True)
class Derived:
    """The derived tables of one ETL run, before loading."""

    readings_1m: pd.DataFrame
    readings_1h: pd.DataFrame
    climate_daily: pd.DataFrame
    energy_daily: pd.DataFrame
    data_quality: pd.DataFrame
    anomalies: pd.DataFrame
    security_events: pd.DataFrame
    rows_clean: int

    def counts(self) -> dict[str, int]:
        """Rows per derived table."""
        return {name: len(getattr(self, name)) for name in TABLES}


TABLES = ("readings_1m", "readings_1h", "climate_daily", "energy_daily", "data_quality", "anomalies",
          "security_events")


def prepare(raw: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Reading rows with event time `t` and local `day`; ids as categories so grouping stays fast."""
    frame = raw.copy(deep=False)
    if "t" not in frame:
        frame["t"] = frame["ts"].fillna(frame["received_at"])
    frame["day"] = local_day(frame["t"], tz)
    for column in ("home", "device", "kind"):
        if not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("category")
    return frame


def transform(raw: pd.DataFrame, events: pd.DataFrame, ctx: Context, placements: pd.DataFrame | None = None) -> Derived:
    """Clean, flag, aggregate and summarise `raw` (prepared rows); nothing here touches a database.

    `placements` (device, room, appliance) place devices the home config does not list; `events` are the
    gateway's mode and presence events (home, type, ts, payload).
    """
    if placements is None:
        placements = pd.DataFrame(columns=["device", "room", "appliance"])
    meta = ctx.meta(raw["device"], placements)
    unique, dup_mask = clean.deduplicate(raw) if "boot" in raw else (raw, pd.Series(False, index=raw.index))
    duplicates = pd.concat([raw.loc[dup_mask & (raw["idx"] == 0)], _content_duplicates(unique)])  # messages
    good, impossible = clean.clean(unique, ctx, meta)
    flagged = pd.concat([impossible, clean.anomalies(good, ctx)], ignore_index=True)
    flagged["day"] = local_day(flagged["t"], ctx.tz)
    completeness = quality.data_quality(unique, duplicates, flagged, ctx, meta)
    return Derived(
        readings_1m=aggregate.bucket_means(good, 60),
        readings_1h=aggregate.bucket_means(good, 3600),
        climate_daily=aggregate.climate_daily(good, ctx, meta),
        energy_daily=_with_coverage(energy.energy_daily(good, ctx, meta), completeness),
        data_quality=completeness,
        anomalies=flagged,
        security_events=security.security_events(good, events, meta),
        rows_clean=len(good),
    )


def _with_coverage(days: pd.DataFrame, completeness: pd.DataFrame) -> pd.DataFrame:
    """Carry the device-day's coverage next to every kWh figure; hog flags are set at load time."""
    coverage = completeness[["home", "device", "day", "coverage_pct"]]
    out = days.merge(coverage, on=["home", "device", "day"], how="left")
    return out.assign(coverage_pct=out["coverage_pct"].fillna(0.0), p95_28d=None, hog=False)


def _content_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """Messages repeated under a new key (the same device clock time again): a replay the key cannot catch."""
    firsts = rows.loc[(rows["idx"] == 0) & rows["ts"].notna()]
    return firsts.loc[firsts.duplicated(["home", "device", "ts"], keep="first")]
