"""The PDF report: its text carries figures this test computes from the sample's own truth; empty periods and bad
input give a clear answer, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from pypdf import PdfReader

from cloud.etl.run import run as run_etl
from cloud.report import build, data, period, summary
from cloud.warehouse import schema
from cloud.warehouse.db import make_engine, migrate, readonly_engine
from dash_app import queries
from dash_app.pages.energy import hog_table
from dash_app.warehouse import Reader
from iotpipe.context import Context
from iotpipe.report_cmd import report
from protocol import SECURITY_KINDS
from protocol.settings import load_settings
from tests.cloud.conftest import pg_schema
from tests.report.conftest import DAYS, START, Warehouse, iotpipe

FIRST = dt.date.fromisoformat(START)
LAST = FIRST + dt.timedelta(days=DAYS - 1)


def pdf_text(path: Path) -> str:
    """Every page's text, whitespace collapsed (a wrapped line is one line again)."""
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def true_total_kwh(w: Warehouse) -> float:
    """The meter's energy over the sample, from the sample's truth (not from the ETL)."""
    return sum(kwh for (device, _day), kwh in w.sample.energy_kwh.items() if device == "meter-home")


def true_top_appliance(w: Warehouse) -> tuple[str, float]:
    """The appliance that used the most energy, and its share of the meter's total, from the truth."""
    per_device: dict[str, float] = {}
    for (device, _day), kwh in w.sample.energy_kwh.items():
        if device != "meter-home":
            per_device[device] = per_device.get(device, 0.0) + kwh
    top = max(per_device, key=per_device.__getitem__)
    config = w.settings.home.device(top)
    assert config is not None
    return config.appliance or config.label, per_device[top] / true_total_kwh(w)


def true_security_events(w: Warehouse) -> int:
    """Changes of every security sensor (a first reading counts when it is active), counted in plain Python."""
    rows = w.sample.rows
    kinds = {k.value for k in SECURITY_KINDS}
    count = 0
    for (_device, _kind), series in rows[rows["kind"].isin(kinds)].sort_values("ts").groupby(["device", "kind"]):
        previous = None
        for value in series["value"]:
            if (previous is None and value > 0) or (previous is not None and value != previous):
                count += 1
            previous = value
    return count


@pytest.fixture(scope="module")
def report_text(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the sample's two days, built by `iotpipe report` as a user would."""
    out = tmp_path_factory.mktemp("pdf") / "report.pdf"
    done = iotpipe(*warehouse.args, "report", "--out", str(out), "--from", str(FIRST), "--to", str(LAST))
    assert done.returncode == 0, done.stderr
    assert "report:" in done.stdout and "findings" in done.stdout
    assert "report: 100%" in done.stderr  # the progress bar ran to its end
    return pdf_text(out)


def test_report_shows_the_total_energy_the_sample_used(warehouse: Warehouse, report_text: str) -> None:
    assert f"The home used {true_total_kwh(warehouse):,.2f} kWh" in report_text


def test_report_names_the_top_appliance_and_its_share(warehouse: Warehouse, report_text: str) -> None:
    name, share = true_top_appliance(warehouse)
    assert f"The largest consumer was the {name}:" in report_text
    assert f"{share * 100:.1f}% of the total" in report_text


def test_report_counts_security_events_and_doors_opened_while_away(warehouse: Warehouse, report_text: str) -> None:
    events = true_security_events(warehouse)
    assert events > 0
    assert f"{events} security events" in report_text
    assert f"{warehouse.sample.away_openings} door opening(s) while the alarm was set to away" in report_text


def test_report_has_every_section(report_text: str) -> None:
    for title in ("Summary", "Energy", "Per appliance", "Security", "Climate", "Device availability",
                  "System performance", "Loss and duplicates"):
        assert title in report_text


def test_report_appliance_figures_match_the_dashboard(warehouse: Warehouse) -> None:
    """The dashboard's hogs table over the same days gives the same kWh and share per appliance."""
    chosen = period.Period(FIRST, LAST, warehouse.settings.home.home.timezone)
    engine = readonly_engine(warehouse.settings.db_url)
    with engine.connect() as conn:
        gathered = data.gather(conn, warehouse.settings.home, chosen)
    engine.dispose()
    reader = Reader(warehouse.settings.db_url)
    daily = queries.energy_daily(reader, warehouse.settings.home_id, FIRST - dt.timedelta(days=DAYS))
    reader.close()
    dashboard = hog_table(daily, LAST, DAYS).set_index("appliance")
    mine = gathered.energy.appliances.set_index("appliance")
    tracked = [a for a in mine.index if a != "untracked"]
    assert len(tracked) >= 5
    pd.testing.assert_series_equal(mine.loc[tracked, "kwh"], dashboard.loc[tracked, "kwh"])
    pd.testing.assert_series_equal(mine.loc[tracked, "share"], dashboard.loc[tracked, "share"])


def test_empty_period_gives_a_no_data_report(warehouse: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / "empty.pdf"
    done = iotpipe(*warehouse.args, "report", "--out", str(out), "--from", "2025-01-01", "--days", "3",
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "no data for the period" in done.stdout
    text = pdf_text(out)
    assert "No data for this period" in text and "holds no readings for 1 Jan 2025 - 3 Jan 2025" in text


def test_readings_the_etl_has_not_seen_give_a_no_data_report_that_says_so(tmp_path: Path) -> None:
    """Raw readings without derived tables: the report says to run the ETL rather than showing zeros."""
    settings = load_settings(db_url=f"sqlite:///{tmp_path / 'w.db'}", var=tmp_path, env={})
    engine = make_engine(settings.db_url)
    migrate(engine)
    t = period.Period(FIRST, FIRST, settings.home.home.timezone).start + 60.0
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.readings).values(
            home=settings.home_id, device="plug-tv", boot="b1", seq=1, idx=0, ts=t, received_at=t, kind="power",
            value=80.0, unit="W", t=t, ingested_at=t))
    engine.dispose()
    built = build.build(settings, period.Period(FIRST, FIRST, settings.home.home.timezone), tmp_path / "r.pdf",
                        progress=False)
    assert built.empty
    text = pdf_text(tmp_path / "r.pdf")
    assert "holds 1 raw readings for 2 Mar 2026, but the ETL has not summarised them yet" in text


def test_bench_results_appear_in_the_performance_section(warehouse: Warehouse, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    alerts = {"date": "2026-11-30T05:00:00+00:00", "quick": True,
              "figures": {"alert_p50_ms": 1.234, "alert_p99_ms": 9.87}}
    results.write_text(json.dumps({"date": "2026-11-30T05:00:00+00:00", "benches": {"alerts": alerts},
                                   "machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 4.0},
                                   "versions": {"python": "3.11"}}))
    out = tmp_path / "bench.pdf"
    chosen = period.Period(FIRST, FIRST, warehouse.settings.home.home.timezone)
    built = build.build(warehouse.settings, chosen, out, bench=results, progress=False)
    text = pdf_text(out)
    assert built.pages >= 3
    assert "Alert latency p50 1.2 ms; p99 9.9 ms" in text and "alerts, 2026-11-30 (quick)" in text
    assert "Test CPU, 2 cores" in text and "Gateway throughput not measured" in text
    assert "Latest benchmarks (2026-11-30, quick runs): edge alerts took 9.9 ms at p99." in text


def run_report(w: Warehouse | None, *args: str) -> Result:
    """`iotpipe report` in-process (the CLI's own paths are covered by the child-process tests above)."""
    options = {"db_url": w.settings.db_url, "config_path": w.settings.config_path} if w else {}
    return CliRunner().invoke(report, list(args), obj=Context(env={}, **options))


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "2026-03-03", "--to", "2026-03-02"), "--to 2026-03-02 is before --from 2026-03-03"),
    (("--from", "2026-03-02", "--to", "2026-03-03", "--days", "2"), "not all three"),
    (("--days", "0"), "--days"),
    (("--from", "2026-02-30"), "--from"),
    (("--days", "401"), "at most 400"),
])
def test_bad_period_is_refused_with_its_option_named(warehouse: Warehouse, tmp_path: Path, args: tuple[str, ...],
                                                     message: str) -> None:
    done = run_report(warehouse, "--out", str(tmp_path / "r.pdf"), *args)
    assert done.exit_code in {1, 2}
    assert message in done.output
    assert not (tmp_path / "r.pdf").exists()


def test_unreadable_bench_file_is_named(warehouse: Warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    done = run_report(warehouse, "--out", str(tmp_path / "r.pdf"), "--bench", str(bad))
    assert done.exit_code == 1
    assert f"{bad}: not a readable bench results file" in done.output


def test_missing_warehouse_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    done = CliRunner().invoke(report, ["--out", str(tmp_path / "r.pdf"), "--no-progress"],
                              obj=Context(env={}, db_url=url))
    assert done.exit_code == 1
    assert f"warehouse {url}: cannot read it" in done.output


def test_unwritable_output_is_named(warehouse: Warehouse, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run_report(warehouse, "--out", str(blocker / "r.pdf"), "--from", START, "--no-progress")
    assert done.exit_code == 1
    assert f"--out {blocker / 'r.pdf'}: cannot write" in done.output


def test_default_period_is_the_last_seven_days_in_the_homes_zone() -> None:
    # 2026-03-29 00:30 UTC is already 01:30 in Berlin; the DST change makes that day 23 hours long.
    chosen = period.choose("Europe/Berlin", now=dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC).timestamp())
    assert (chosen.first, chosen.last, chosen.days) == (dt.date(2026, 3, 23), dt.date(2026, 3, 29), 7)
    day = period.Period(dt.date(2026, 3, 29), dt.date(2026, 3, 29), "Europe/Berlin")
    assert day.end - day.start == 23 * 3600
    assert period.choose("UTC", first=dt.date(2026, 1, 1), days=3).last == dt.date(2026, 1, 3)


def test_comfort_hours_follow_the_samples_climate(warehouse: Warehouse, report_text: str) -> None:
    """The sample keeps every room at 19.5-22.5 °C and 40-50 % RH: every measured hour is comfortable."""
    rows = warehouse.sample.rows
    climate = rows[rows["kind"].isin(["temperature", "humidity"])]
    for kind, (low, high) in (("temperature", data.COMFORT_C), ("humidity", data.COMFORT_RH)):
        values = climate.loc[climate["kind"] == kind, "value"]
        assert values.between(low, high).all()
    assert "Every room was in the comfort band (19-24 °C, 30-60 % RH) for 100.0% of its measured hours" in report_text
    assert "27 devices reported, every one of them in every hour" in report_text


def test_alert_response_times_are_counted_from_raise_to_acknowledgement(tmp_path: Path) -> None:
    settings = load_settings(db_url=f"sqlite:///{tmp_path / 'w.db'}", var=tmp_path, env={})
    engine = make_engine(settings.db_url)
    migrate(engine)
    chosen = period.Period(FIRST, FIRST, settings.home.home.timezone)
    t = chosen.start + 3600.0
    rows = [("a1", "raised", "critical", t), ("a1", "acknowledged", "critical", t + 42.0),
            ("a1", "cleared", "critical", t + 300.0), ("a2", "triggered", "warning", t + 100.0)]
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.alerts), [
            {"home": settings.home_id, "alert_id": a, "source": "gateway", "rule": "intrusion", "severity": sev,
             "state": state, "ts": ts, "message": "door", "room": "hallway", "notified": False}
            for a, state, sev, ts in rows])
    with engine.connect() as conn:
        alerts = data.security(conn, settings.home, chosen).alerts.set_index("alert_id")
    engine.dispose()
    assert alerts.loc["a1", "response_s"] == 42.0 and pd.isna(alerts.loc["a2", "response_s"])
    assert alerts.loc["a1", "room"] == "Hallway"
    assert summary.security_lines(data.Security(pd.DataFrame(columns=["kind", "room", "mode"]), pd.DataFrame(),
                                                alerts.reset_index()))[-1] == (
        "2 alert(s) raised (1 critical); median response 42 s, slowest 42 s, 1 not acknowledged.")


@pytest.mark.postgres
def test_report_reads_a_postgresql_warehouse(warehouse: Warehouse, pg_url: str, tmp_path: Path) -> None:
    with pg_schema(pg_url) as url:
        settings = load_settings(warehouse.settings.config_path, db_url=url, var=tmp_path, env={})
        run_etl(settings, source=warehouse.log, events=warehouse.events, progress=False)
        build.build(settings, period.Period(FIRST, LAST, settings.home.home.timezone), tmp_path / "r.pdf",
                    progress=False)
    text = pdf_text(tmp_path / "r.pdf")
    assert f"The home used {true_total_kwh(warehouse):,.2f} kWh" in text
    assert f"{true_security_events(warehouse)} security events" in text
