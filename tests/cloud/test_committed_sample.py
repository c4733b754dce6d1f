"""The ETL over the simulator's committed one-day sample, checked against figures computed here in plain Python."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cloud.etl.extract import read_sample
from cloud.etl.run import run
from cloud.warehouse import queries, schema
from protocol.settings import EXAMPLE_CONFIG, REPO_ROOT, Settings, load_settings

SAMPLE = REPO_ROOT / "samples" / "demo-1day.parquet"
DAY = dt.date(2026, 11, 2)
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="the simulator's sample log is not committed yet")


@pytest.fixture
def loaded(db_url: str, tmp_path: Path, engine: sa.Engine) -> tuple[pd.DataFrame, Settings]:
    """The committed sample, loaded and transformed by `iotpipe etl --from`."""
    settings = load_settings(EXAMPLE_CONFIG, db_url=db_url, var=tmp_path, env={})
    run(settings, source=SAMPLE, progress=False, engine=engine)
    return pd.read_parquet(SAMPLE), settings


def test_the_csv_and_parquet_logs_read_the_same() -> None:
    parquet, csv = read_sample(SAMPLE), read_sample(SAMPLE.with_suffix(".csv.gz"))
    assert len(parquet) == len(csv)
    key = ["device", "boot", "seq", "idx"]
    a, b = parquet.sort_values(key).reset_index(drop=True), csv.sort_values(key).reset_index(drop=True)
    assert (a[key] == b[key]).all().all()
    assert a["value"].fillna(-1).tolist() == pytest.approx(b["value"].fillna(-1).tolist())


def series(rows: pd.DataFrame, device: str, kind: str) -> list[tuple[float, float]]:
    """(ts, value) of one device's kind, in time order."""
    part = rows[(rows["device"] == device) & (rows["kind"] == kind) & rows["value"].notna()]
    return sorted(zip(part["ts"], part["value"], strict=True))


def test_energy_hourly_means_hog_and_doors_match_plain_python(loaded: tuple[pd.DataFrame, Settings],
                                                              engine: sa.Engine) -> None:
    rows, _settings = loaded
    plugs = sorted(d for d in rows.loc[rows["kind"] == "energy", "device"].unique() if d != "meter-home")
    expected = {}
    for device in plugs:
        values = [v for _t, v in series(rows, device, "energy")]
        expected[device] = sum(b - a if b >= a else b for a, b in itertools.pairwise(values))
    daily = queries.energy_by_day(engine, "demo", DAY, DAY).set_index("device")
    for device, kwh in expected.items():
        assert daily.loc[device, "kwh"] == pytest.approx(kwh, abs=1e-9), device
    labels = {d.id: d.appliance for d in load_settings(EXAMPLE_CONFIG, env={}).home.devices}
    top = max(expected, key=lambda d: expected[d])
    assert queries.hogs(engine, "demo", DAY, days=1).iloc[0]["appliance"] == labels[top]

    hours: dict[float, list[float]] = defaultdict(list)
    for t, value in series(rows, "climate-living", "temperature"):
        hours[t // 3600 * 3600].append(value)
    with engine.connect() as conn:
        h = schema.readings_1h
        got = dict(conn.execute(sa.select(h.c.bucket, h.c.mean).where(
            h.c.device == "climate-living", h.c.kind == "temperature")).all())
        s = schema.security_events
        opened = conn.execute(sa.select(sa.func.count()).where(s.c.device == "door-front", s.c.value.is_(True)))
        openings = opened.scalar_one()
    assert got == pytest.approx({hour: sum(v) / len(v) for hour, v in hours.items()})
    door = [v for _t, v in series(rows, "door-front", "contact")]
    assert openings == sum(1 for a, b in itertools.pairwise([0.0, *door]) if b > 0 and a == 0) > 0
