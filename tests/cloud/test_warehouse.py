"""The warehouse: migrations match the schema, and the dashboard's read side works on a read-only database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cloud.etl import energy
from cloud.etl.run import run
from cloud.warehouse import queries, schema
from cloud.warehouse.db import make_engine, migrate, readonly_engine
from iotpipe.broker import Mosquitto
from protocol.settings import EXAMPLE_CONFIG, load_settings
from tests.cloud.sample import make_sample


def test_migrations_build_exactly_the_schema_and_rerun_harmlessly(engine: sa.Engine) -> None:
    migrate(engine)  # a second start changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == []
    assert version == "0001"


def test_read_side_answers_on_a_read_only_sqlite_file(tmp_path: Path, cloud_broker: Mosquitto) -> None:
    db = tmp_path / "warehouse.db"
    settings = load_settings(EXAMPLE_CONFIG, cloud_url=cloud_broker.url, db_url=f"sqlite:///{db}", var=tmp_path,
                             env={})
    sample = make_sample(settings.home, days=1, step=300.0)
    sample.rows.to_parquet(tmp_path / "day.parquet")
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in sample.mode_events))
    run(settings, source=tmp_path / "day.parquet", events=tmp_path / "events.jsonl", progress=False)
    ro = readonly_engine(settings.db_url)
    now = float(sample.rows["ts"].max())
    latest = queries.latest(ro, "demo")
    assert len(latest) == sample.rows.groupby(["device", "kind"]).ngroups
    heater = latest.set_index(["device", "kind"]).loc[("plug-heater", "power")]
    assert (heater["appliance"], heater["room"]) == ("space heater", "office")
    climate = queries.room_climate_now(ro, "demo")
    assert set(climate["room"]) == {"living", "kitchen", "bedroom", "office", "bathroom", "hallway"}
    power = queries.power_by_appliance(ro, "demo", now - 3600, now + 1, bucket_s=600)
    assert "space heater" in set(power["appliance"])
    days = queries.energy_by_day(ro, "demo", dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    assert {"kwh", "cost", "coverage_pct", "hog"} <= set(days.columns) and len(days) > 0
    assert queries.hogs(ro, "demo", dt.date(2026, 3, 2)).iloc[0]["appliance"] == "space heater"
    log = queries.security_log(ro, "demo", since=0)
    assert list(log.loc[log["device"] == "door-front", "value"]) == [False, True] * 4
    assert queries.alerts(ro, "demo", since=0).empty
    health = queries.pipeline_health(ro, "demo", now)
    assert health["last_etl"]["status"] == "ok" and health["rejected_24h"] == {}
    with pytest.raises(sa.exc.OperationalError, match="readonly"), ro.begin() as conn:
        conn.execute(sa.delete(schema.readings))
    ro.dispose()


def test_hog_flag_is_a_day_above_its_own_95th_percentile_of_four_weeks() -> None:
    days = pd.date_range("2026-01-01", periods=40, freq="D")
    kwh = [1.0 + 0.01 * (i % 2) for i in range(40)]  # a steady appliance...
    kwh[35] = 3.0  # ...with one heavy day
    frame = pd.DataFrame({"home": "h", "device": "plug-heater", "day": days, "kwh": kwh})
    flagged = energy.hog_flags(frame).set_index("day")
    assert flagged.index[flagged["hog"]].tolist() == [days[35]]
    assert flagged["p95_28d"].iloc[:7].isna().all()  # fewer than 7 days of history: no percentile, no flag
    assert flagged.loc[days[35], "p95_28d"] == pytest.approx(pd.Series(kwh[7:35]).quantile(0.95))


def test_untracked_is_the_meter_minus_every_other_device_never_negative() -> None:
    day = pd.Timestamp("2026-03-02")
    frame = pd.DataFrame({"home": "h", "day": day, "device": ["meter-home", "plug-a", "plug-b"],
                          "is_meter": [True, False, False], "kwh": [10.0, 3.0, 2.5]})
    assert energy.untracked(frame, 0.5)[["kwh", "cost"]].to_dict("records") == [{"kwh": 4.5, "cost": 2.25}]
    frame.loc[0, "kwh"] = 4.0
    assert energy.untracked(frame, 0.5)["kwh"].tolist() == [0.0]


def test_postgres_urls_use_psycopg_3(pg_url: str) -> None:
    engine = make_engine(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
