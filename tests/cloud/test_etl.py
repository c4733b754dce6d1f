"""The batch ETL on SQLite and PostgreSQL: answers checked against the sample's own truth, reruns, late data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cloud.etl.run import run
from cloud.warehouse import queries, schema
from iotpipe.broker import Mosquitto
from protocol.settings import EXAMPLE_CONFIG, Settings, load_settings
from tests.cloud.sample import BASELOAD_W, Sample, expected_hourly_means, make_sample

DERIVED = ("readings_1m", "readings_1h", "climate_daily", "energy_daily", "data_quality", "anomalies",
           "security_events")
KWH_TOLERANCE = 0.005  # one sample (120 s) of energy lost at a meter reset or past the end of the log


@pytest.fixture
def settings(db_url: str, cloud_broker: Mosquitto, tmp_path: Path) -> Settings:
    """The example home whose devices report every 120 s (the sample's grid), with this test's warehouse.

    No watermark overlap, so a run right after another re-reads nothing (the default re-reads two minutes).
    """
    text = EXAMPLE_CONFIG.read_text().replace("[[devices]]\n", "[[devices]]\ninterval_s = 120.0\n")
    text = text.replace("etl_overlap_s = 120.0", "etl_overlap_s = 0.0")
    assert "etl_overlap_s = 0.0" in text
    path = tmp_path / "home.toml"
    path.write_text(text)
    return load_settings(path, cloud_url=cloud_broker.url, db_url=db_url, var=tmp_path / "var", env={})


@pytest.fixture
def sample(settings: Settings, tmp_path: Path) -> tuple[Sample, Path, Path]:
    """Two days of the example home as a Parquet log, plus the gateway's mode events as JSON lines."""
    smp = make_sample(settings.home, days=2, step=120.0)
    log, events = tmp_path / "sample.parquet", tmp_path / "events.jsonl"
    smp.rows.to_parquet(log)
    events.write_text("".join(json.dumps(e) + "\n" for e in smp.mode_events))
    return smp, log, events


def snapshot(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """Every derived table, sorted, for comparing runs."""
    out = {}
    with engine.connect() as conn:
        for name in DERIVED:
            frame = pd.read_sql(sa.select(schema.metadata.tables[name]), conn)
            out[name] = frame.sort_values(list(frame.columns[:5])).reset_index(drop=True)
    return out


def test_etl_answers_match_the_sample_truth(settings: Settings, sample: tuple[Sample, Path, Path],
                                            engine: sa.Engine) -> None:
    smp, log, events = sample
    result = run(settings, source=log, events=events, progress=False, engine=engine)
    assert result.rows_loaded == len(smp.rows)
    daily = queries.energy_by_day(engine, "demo", dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    got = {(d, str(day)): kwh for d, day, kwh in daily[["device", "day", "kwh"]].itertuples(index=False)}
    for key, truth in smp.energy_kwh.items():
        assert got[key] == pytest.approx(truth, abs=KWH_TOLERANCE), key
    untracked = daily.loc[daily["device"] == "untracked", "kwh"]
    assert list(untracked) == pytest.approx([BASELOAD_W * 24 / 1000] * 2, abs=KWH_TOLERANCE)
    assert list(daily["cost"]) == pytest.approx(list(daily["kwh"] * 0.32))
    assert daily["coverage_pct"].between(99.0, 100.0).all()
    with engine.connect() as conn:
        h = schema.readings_1h
        hourly = dict(conn.execute(sa.select(h.c.bucket, h.c.mean).where(
            h.c.device == "climate-living", h.c.kind == "temperature")).all())
        s = schema.security_events
        away = conn.execute(sa.select(sa.func.count()).where(
            s.c.device == "door-front", s.c.value.is_(True), s.c.mode == "away")).scalar_one()
        openings = conn.execute(sa.select(sa.func.count()).where(s.c.device == "door-front", s.c.value.is_(True)))
    assert hourly == pytest.approx(expected_hourly_means(smp.rows, "climate-living", "temperature"))
    assert away == smp.away_openings == 4
    assert openings.scalar_one() == 8
    hogs = queries.hogs(engine, "demo", dt.date(2026, 3, 3))
    assert hogs.iloc[0]["appliance"] == "space heater"
    heater = smp.energy_kwh[("plug-heater", "2026-03-02")] + smp.energy_kwh[("plug-heater", "2026-03-03")]
    assert hogs.iloc[0]["kwh"] == pytest.approx(heater, abs=KWH_TOLERANCE)
    tv = hogs.set_index("appliance").loc["TV"]
    assert tv["standby_kwh"] == pytest.approx(2 * 20 * 8.0 / 1000, abs=KWH_TOLERANCE)  # 20 h a day at 8 W
    assert tv["on_hours"] == pytest.approx(8.0, abs=0.05)


def test_rerun_changes_nothing_and_late_data_touches_only_its_partitions(
    settings: Settings, sample: tuple[Sample, Path, Path], engine: sa.Engine, tmp_path: Path
) -> None:
    smp, log, events = sample
    run(settings, source=log, events=events, progress=False, engine=engine)
    before = snapshot(engine)
    again = run(settings, source=log, events=events, progress=False, engine=engine)
    assert again.rows_loaded == 0
    after = snapshot(engine)
    for name in DERIVED:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    full = run(settings, full=True, progress=False, engine=engine)
    assert full.touched > 0
    for name in DERIVED:
        pd.testing.assert_frame_equal(before[name], snapshot(engine)[name], obj=name)
    late = smp.rows.loc[(smp.rows["device"] == "plug-kettle") & (smp.rows["seq"] == 600)].assign(
        seq=10**6, boot="1a7e", received_at=lambda f: f["ts"] + 3600)
    late.loc[late["kind"] == "power", "value"] = 2000.0
    late.to_parquet(tmp_path / "late.parquet")
    result = run(settings, source=tmp_path / "late.parquet", progress=False, engine=engine)
    assert (result.rows_loaded, result.touched) == (len(late), 1)
    final = snapshot(engine)
    quality = final["data_quality"].set_index(["device", "day"])
    assert quality.loc[("plug-kettle", dt.date(2026, 3, 2)), "late"] == 1
    for name in ("readings_1m", "anomalies", "climate_daily"):
        other = before[name].loc[before[name].get("device", pd.Series("x", index=before[name].index)) != "plug-kettle"]
        mine = final[name].loc[final[name].get("device", pd.Series("x", index=final[name].index)) != "plug-kettle"]
        pd.testing.assert_frame_equal(other.reset_index(drop=True), mine.reset_index(drop=True), obj=name)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(schema.etl_runs.c.status, schema.etl_runs.c.rows_loaded)).all()
    assert [r[0] for r in runs] == ["ok"] * 4


def test_bad_sample_logs_are_refused_with_the_reason(settings: Settings, tmp_path: Path, engine: sa.Engine) -> None:
    from cloud.errors import EtlInputError

    (tmp_path / "short.csv").write_text("home,device\ndemo,plug-tv\n")
    with pytest.raises(EtlInputError, match="missing column"):
        run(settings, source=tmp_path / "short.csv", progress=False, engine=engine)
    with pytest.raises(EtlInputError, match="cannot read"):
        run(settings, source=tmp_path / "absent.parquet", progress=False, engine=engine)
    (tmp_path / "events.jsonl").write_text('{"type": "mode"}\n')
    with pytest.raises(EtlInputError, match="line 1"):
        run(settings, events=tmp_path / "events.jsonl", progress=False, engine=engine)
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(schema.etl_runs.c.status)).scalars().all()
    assert statuses == ["failed"] * 3
