"""Cleaning and anomaly flags on small hand-made series: each rule, and the readings that must not trip it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloud.config import CloudConfig
from cloud.etl import clean
from cloud.etl.context import Context
from cloud.etl.transform import prepare, transform
from protocol.settings import EXAMPLE_CONFIG, load_settings

T0 = 1_772_400_000.0


@pytest.fixture
def ctx() -> Context:
    """The example home with a short z-score window and a one-hour flat-line limit."""
    home = load_settings(EXAMPLE_CONFIG, env={}).home
    return Context.from_home(home, CloudConfig(zscore_window=20, zscore=4.0, flat_line_s=3600.0))


def series(device: str, kind: str, values: list[float], step: float = 60.0, boot: str = "b1") -> pd.DataFrame:
    """One device's readings of one kind, a message each, every `step` seconds."""
    n = len(values)
    return pd.DataFrame({"home": "demo", "device": device, "boot": boot, "seq": np.arange(n), "idx": 0,
                         "ts": T0 + step * np.arange(n), "received_at": T0 + step * np.arange(n) + 0.1, "kind": kind,
                         "value": values, "unit": None, "err": None, "room": None, "appliance": None})


def rules(frame: pd.DataFrame, ctx: Context) -> list[tuple[str, str, float]]:
    """(device, rule, value) of every anomaly the transform flags."""
    derived = transform(prepare(frame, ctx.tz), pd.DataFrame(columns=["home", "type", "ts", "payload"]), ctx)
    flagged = derived.anomalies.sort_values(["device", "t"])
    return list(zip(flagged["device"].astype(str), flagged["rule"], flagged["value"], strict=True))


def test_a_spike_is_a_zscore_anomaly_and_sensor_noise_is_not(ctx: Context) -> None:
    noisy = [21.0 + 0.1 * (i % 3) for i in range(40)]
    spiked = [*noisy[:30], 35.0, *noisy[31:]]
    frame = pd.concat([series("climate-office", "temperature", spiked), series("climate-living", "temperature", noisy)])
    assert rules(frame, ctx) == [("climate-office", "zscore", 35.0)]


def test_the_window_never_reaches_into_another_series(ctx: Context) -> None:
    cold = series("climate-bedroom", "temperature", [5.0] * 25)
    warm = series("climate-office", "temperature", [25.0 + 0.1 * (i % 2) for i in range(25)])
    assert rules(pd.concat([cold, warm]), ctx) == []


def test_a_flat_line_of_an_hour_is_flagged_once_and_zero_is_a_value(ctx: Context) -> None:
    stuck = [0.0] * 70 + [0.1 * (i % 2) for i in range(10)]  # 0.0 °C for 70 minutes: stuck, not missing
    assert rules(series("climate-bathroom", "humidity", stuck), ctx) == [("climate-bathroom", "flat", 0.0)]


def test_a_meter_reset_and_impossible_values(ctx: Context) -> None:
    counter = series("plug-tv", "energy", [5.0, 5.1, 5.2, 0.0, 0.1])
    power = series("plug-kettle", "power", [0.0, 2000.0, 9000.0, 0.0])  # 9 kW from a 2.2 kW kettle
    contact = series("door-back", "contact", [0.0, 1.0, 2.0])
    assert rules(pd.concat([counter, power, contact]), ctx) == [
        ("door-back", "bounds", 2.0), ("plug-kettle", "bounds", 9000.0), ("plug-tv", "reset", 0.0)]


def test_duplicates_failed_and_late_readings_are_counted_not_kept(ctx: Context) -> None:
    base = series("plug-pc", "power", [10.0, 20.0, 30.0, 40.0])
    replay = base.iloc[[1]]  # the same key again
    rekeyed = base.iloc[[2]].assign(boot="b2", seq=99)  # the same device time under a new key
    failed = series("plug-pc", "power", [np.nan], boot="b3").assign(err="hlw8012_timeout", ts=T0 + 500)
    late = series("plug-pc", "power", [50.0], boot="b4").assign(ts=T0 + 600, received_at=T0 + 900)
    frame = pd.concat([base, replay, rekeyed, failed, late], ignore_index=True)
    unique, dup = clean.deduplicate(frame)
    assert int(dup.sum()) == 1 and len(unique) == 7
    quality = transform(prepare(frame, ctx.tz), pd.DataFrame(columns=["home", "type", "ts", "payload"]),
                        ctx).data_quality
    row = quality.iloc[0]
    assert (row["readings"], row["failed"], row["duplicates"], row["late"]) == (7, 1, 2, 1)
