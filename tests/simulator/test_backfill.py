"""Backfill: the sample-log layout of protocol.frame, messages the contract accepts, files ETL can read."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import protocol
from protocol.config import load_home_config
from protocol.frame import READING_COLUMNS
from protocol.kinds import KINDS, Kind
from protocol.settings import EXAMPLE_CONFIG
from simulator.backfill import Backfill, emissions, run_backfill

CONFIG = load_home_config(EXAMPLE_CONFIG)
START = dt.datetime(2026, 11, 2, tzinfo=zoneinfo.ZoneInfo(CONFIG.home.timezone)).timestamp()
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    """One day of the example home at a 60 s heartbeat, as the committed sample is made."""
    tables = list(Backfill(CONFIG, START, seed=42, interval=60.0, step=5.0).windows(1))
    return pa.concat_tables(tables).to_pandas()


def test_rows_follow_the_reading_layout(day: pd.DataFrame) -> None:
    assert tuple(day.columns) == READING_COLUMNS
    assert set(day["device"]) == {d.id for d in CONFIG.devices}
    assert (day["received_at"] > day["ts"]).all() and (day["received_at"] - day["ts"]).max() <= 2.0
    assert day["ts"].is_monotonic_increasing
    booleans = day["kind"].isin([k.value for k in protocol.BOOLEAN_KINDS])
    assert set(day.loc[booleans, "value"]) <= {0.0, 1.0} and day.loc[booleans, "unit"].isna().all()
    units = {k.value: s.unit for k, s in KINDS.items()}
    assert (day.loc[~booleans, "unit"] == day.loc[~booleans, "kind"].map(units)).all()
    assert day["err"].isna().all()


def test_every_device_reports_at_least_every_interval_and_seq_has_no_gaps(day: pd.DataFrame) -> None:
    messages = day.drop_duplicates(["device", "seq"])
    for device, group in messages.groupby("device"):
        assert (np.diff(group["seq"]) == 1).all(), device
        assert group["seq"].iloc[0] == 0
        assert np.diff(group["ts"]).max() <= 60.0 + 0.5, device
        assert group["boot"].nunique() == 1


def test_every_backfilled_message_passes_the_contract(day: pd.DataFrame) -> None:
    messages = day.groupby(["device", "seq"], sort=False)
    for (device, seq), rows in list(messages)[::50]:
        readings = []
        for kind, number, unit in zip(rows["kind"], rows["value"], rows["unit"], strict=True):
            boolean = KINDS[Kind(kind)].boolean
            value = bool(number) if boolean else number
            readings.append({"kind": kind, "value": value, "unit": None if boolean else unit})
        payload = protocol.encode({"v": 1, "device": device, "boot": rows["boot"].iloc[0], "seq": int(seq),
                                   "ts": float(rows["ts"].iloc[0]), "readings": readings})
        msg = protocol.decode_telemetry(payload, received_at=float(rows["received_at"].iloc[0]))
        assert [r.kind.value for r in msg.readings] == [k.value for k in CONFIG.device(device).kinds]  # type: ignore[union-attr]


def test_changes_are_published_ahead_of_the_heartbeat(day: pd.DataFrame) -> None:
    kettle = day[(day["device"] == "plug-kettle") & (day["kind"] == "power")]
    boiling = kettle[kettle["value"] > 1000]
    assert len(boiling) >= 1
    assert (np.diff(kettle["ts"]) < 30).any()  # a burst is reported when it starts, not at the next heartbeat


def test_same_seed_same_log() -> None:
    one = pa.concat_tables(Backfill(CONFIG, START, seed=3, interval=60.0).windows(0.2))
    two = pa.concat_tables(Backfill(CONFIG, START, seed=3, interval=60.0).windows(0.2))
    other = pa.concat_tables(Backfill(CONFIG, START, seed=4, interval=60.0).windows(0.2))
    assert one.equals(two)
    assert not one.equals(other)


def test_emissions_on_change_and_heartbeat_carry_across_windows() -> None:
    key = np.array([1, 1, 1, 1, 2, 2, 2, 2, 2, 2], dtype=np.int64)
    assert emissions(key, None, 0, 3).tolist() == [0, 3, 4, 7]
    assert emissions(key, 1, 1, 3).tolist() == [2, 4, 7]  # the last message was 1 sample before this window


def test_files_are_written_in_both_formats_with_the_same_rows(tmp_path: Path) -> None:
    rows = run_backfill(CONFIG, START, 0.1, tmp_path / "log", interval=30.0)
    parquet = pq.read_table(tmp_path / "log.parquet").to_pandas()
    csv = pd.read_csv(tmp_path / "log.csv.gz")
    assert len(parquet) == len(csv) == rows > 0
    assert tuple(csv.columns) == READING_COLUMNS
    assert np.allclose(parquet["value"], csv["value"]) and (parquet["device"] == csv["device"]).all()


def test_bad_step_is_refused() -> None:
    with pytest.raises(ValueError, match="step"):
        Backfill(CONFIG, START, interval=1.0, step=5.0)


def test_the_cli_writes_a_backfill(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "iotpipe", "--config", str(EXAMPLE_CONFIG), "simulate", "backfill", "--days", "0.05",
         "--start", "2026-11-02", "--interval", "60", "--out", str(tmp_path / "x"), "--format", "parquet"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "x.parquet").exists() and not (tmp_path / "x.csv.gz").exists()


def test_the_committed_sample_is_one_day_of_the_example_home_and_small() -> None:
    parquet, csv = SAMPLES / "demo-1day.parquet", SAMPLES / "demo-1day.csv.gz"
    assert parquet.stat().st_size + csv.stat().st_size < 5 * 1024 * 1024
    table = pq.read_table(parquet).to_pandas()
    assert tuple(table.columns) == READING_COLUMNS
    assert table["ts"].min() >= START and table["ts"].max() < START + 86400
    assert set(table["device"]) == {d.id for d in CONFIG.devices}
    regenerated = pa.concat_tables(Backfill(CONFIG, START, seed=42, interval=60.0, step=5.0).windows(1))
    assert regenerated.equals(pq.read_table(parquet))  # the README's command reproduces it


@pytest.mark.parametrize("name", ["demo-1day.parquet", "demo-1day.csv.gz"])
def test_etl_reads_the_committed_sample(name: str) -> None:
    from cloud.etl.extract import read_sample

    frame = read_sample(SAMPLES / name)
    reference = pq.read_table(SAMPLES / "demo-1day.parquet").to_pandas()
    assert len(frame) == len(reference)
    assert np.allclose(frame["value"], reference["value"]) and (frame["kind"] == reference["kind"]).all()
    assert frame["appliance"].isna().sum() == reference["appliance"].isna().sum()
