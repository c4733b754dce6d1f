"""Each page's callback bodies and figure builders, called as plain functions on a real warehouse."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cloud.warehouse import schema
from dash_app import figures, queries
from dash_app.app import banner, route
from dash_app.pages import energy, home, security, system
from dash_app.services import Services
from protocol import AlertState, Kind
from tests.dash_app.conftest import services
from tests.dash_app.ingest import device_answer, execute, land, raise_alert


def text(node: object) -> str:
    """All the text a component tree shows (a crude innerText)."""
    return json.dumps(node, ensure_ascii=False,
                      default=lambda c: c.to_plotly_json() if hasattr(c, "to_plotly_json") else str(c))


def test_every_route_has_a_layout_and_unknown_paths_say_so(svc: Services) -> None:
    for page in (home, energy, security, system):
        assert route(svc, page.PATH) is not None
    assert "No page at /nope" in text(route(svc, "/nope"))


def test_room_cards_show_climate_and_last_motion(svc: Services) -> None:
    shown = text(home.room_cards(svc))
    assert "Living room" in shown and "°C" in shown and "Last motion" in shown and "no data yet" not in shown


def test_switches_show_the_reported_state(svc: Services) -> None:
    states, labels = home.switch_view(svc, {}, ["plug-fridge", "light-living"])
    assert len(states) == 2 and labels[1] in ("Turn on", "Turn off")
    assert "ON" in text(states) or "OFF" in text(states)


def test_a_pending_command_waits_then_says_the_device_did_not_answer(writable_db: Path, sample_now: float) -> None:
    url = f"sqlite:///{writable_db}"
    device_answer(url, "demo", "light-living", {Kind.SWITCH: False, Kind.POWER: 0.0}, sample_now + 0.5)
    svc = services(url, sample_now + 1)
    fresh, _ = home.switch_view(svc, {"light-living": {"target": True, "at": sample_now}}, ["light-living"])
    old, _ = home.switch_view(svc, {"light-living": {"target": True, "at": sample_now - 60}}, ["light-living"])
    done, _ = home.switch_view(svc, {"light-living": {"target": False, "at": sample_now}}, ["light-living"])
    assert "OFF" in text(fresh) and "waiting for the device" in text(fresh)
    assert "did not answer" in text(old) and "waiting" not in text(done)
    svc.reader.close()


def test_mode_from_the_warehouse_when_no_broker(svc: Services) -> None:
    assert "home" in text(home.mode_view(svc))


def test_a_command_without_a_broker_says_commands_are_off(svc: Services) -> None:
    entry, message = home.toggle(svc, "light-living", "alice")
    assert entry == {} and "Commands are off" in text(message)
    assert "Commands are off" in text(home.set_mode(svc, "away", "alice"))


def test_power_now_is_the_meter(svc: Services) -> None:
    assert "W" in text(energy.power_now(svc)) and "meter" in text(energy.power_now(svc))


def test_live_chart_has_one_line_per_appliance(svc: Services) -> None:
    figure = energy.live_figure(svc)
    names = {trace["name"] for trace in figure["data"]}
    assert {"fridge", "kettle", "TV"} <= names


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_history_is_stacked_per_appliance_with_untracked(svc: Services, period: str) -> None:
    figure, note = energy.history_figure(svc, period)
    names = {trace["name"] for trace in figure["data"]}
    assert figure["layout"]["barmode"] == "stack" and {"fridge", "untracked"} <= names
    assert "gaps" in note or "complete" in note


def test_history_table_untracked_is_meter_minus_appliances() -> None:
    daily = pd.DataFrame({
        "day": [dt.date(2026, 1, 1)] * 3, "device": ["a", "b", "m"], "appliance": ["a", "b", "meter"],
        "is_meter": [False, False, True], "kwh": [1.0, 2.0, 5.0], "cost": [0.3, 0.6, 1.5],
        "standby_kwh": [0.0] * 3, "coverage_pct": [100.0, 80.0, 100.0], "hog": [False] * 3,
    })
    table = figures.history_table(daily, "day").set_index("appliance")
    assert table.loc["untracked", "kwh"] == pytest.approx(2.0)
    assert table.loc["b", "gap_days"] == 1 and table.loc["a", "gap_days"] == 0


def test_completeness_note_names_days_with_gaps() -> None:
    daily = pd.DataFrame({"day": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "coverage_pct": [100.0, 70.0]})
    assert "1 day(s) with gaps" in energy.completeness_note(daily) and "2026-01-02" in energy.completeness_note(daily)
    assert "complete for every day" in energy.completeness_note(daily.assign(coverage_pct=100.0))


def test_hog_table_ranks_shares_and_week_over_week() -> None:
    days = [dt.date(2026, 1, d) for d in range(1, 15)]
    rows = []
    for i, day in enumerate(days):
        week2 = i >= 7
        rows += [
            {"day": day, "appliance": "heater", "is_meter": False, "kwh": 4.0 if week2 else 2.0, "cost": 1.0,
             "standby_kwh": 0.0, "coverage_pct": 100.0, "hog": week2 and i == 13, "on_hours": 2, "covered_hours": 24},
            {"day": day, "appliance": "tv", "is_meter": False, "kwh": 1.0, "cost": 0.3, "standby_kwh": 0.1,
             "coverage_pct": 90.0 if i == 10 else 100.0, "hog": False, "on_hours": 4, "covered_hours": 24},
            {"day": day, "appliance": "meter", "is_meter": True, "kwh": 6.0, "cost": 1.8, "standby_kwh": 0.0,
             "coverage_pct": 100.0, "hog": False, "on_hours": 24, "covered_hours": 24},
        ]
    table = energy.hog_table(pd.DataFrame(rows), days[-1]).set_index("appliance")
    assert list(table.index) == ["heater", "tv", "untracked"]
    assert table.loc["heater", "kwh"] == pytest.approx(28.0) and table.loc["heater", "wow_pct"] == pytest.approx(100.0)
    assert table.loc["heater", "hog_days"] == 1 and table.loc["tv", "gap_days"] == 1
    assert table.loc["tv", "coverage_pct"] == 90.0  # the worst day, not the mean: a gap is never averaged away
    assert table.loc["untracked", "kwh"] == pytest.approx(42.0 - 35.0)
    assert table["share_pct"].sum() == pytest.approx(100.0)


def test_hog_table_keeps_the_etls_own_untracked_row() -> None:
    day = dt.date(2026, 1, 1)
    common = {"day": day, "cost": 0.0, "standby_kwh": 0.0, "coverage_pct": 100.0, "hog": False, "on_hours": 1,
              "covered_hours": 24}
    rows = [
        {**common, "appliance": "heater", "is_meter": False, "kwh": 5.0},
        {**common, "appliance": "untracked", "is_meter": False, "kwh": 3.0},  # as the ETL writes it
        {**common, "appliance": "meter", "is_meter": True, "kwh": 8.0},
    ]
    table = energy.hog_table(pd.DataFrame(rows), day).set_index("appliance")
    assert table.loc["untracked", "kwh"] == pytest.approx(3.0)  # not subtracted a second time
    assert table.loc["untracked", "share_pct"] == pytest.approx(37.5)


def test_hogs_view_is_a_ranked_table_with_completeness(svc: Services) -> None:
    shown = text(energy.hogs_view(svc))
    assert "untracked" in shown and "Complete" in shown and "%" in shown


def test_threshold_episodes_group_consecutive_minutes() -> None:
    minutes = pd.DataFrame({"bucket": [0.0, 60.0, 120.0, 600.0, 660.0, 1200.0],
                            "mean": [100.0, 5000.0, 5200.0, 4000.0, 100.0, 7000.0],
                            "max": [150.0, 5500.0, 5900.0, 4100.0, 120.0, 7100.0]})
    episodes = energy.threshold_episodes(minutes, 3000.0)
    assert list(episodes["minutes"]) == [1, 1, 2] and list(episodes["peak"]) == [7100.0, 4100.0, 5900.0]
    assert energy.threshold_episodes(minutes, 9000.0).empty


def test_threshold_view_lists_episodes_and_cloud_alerts(svc: Services) -> None:
    shown = text(energy.threshold_view(svc, 1000.0))
    assert "time(s) over 1000 W" in shown and "Home power over 6000 W" in shown
    assert "stayed under" in text(energy.threshold_view(svc, 49_000.0))
    assert "positive number" in text(energy.threshold_view(svc, None))


def test_security_log_pages_and_filters(svc: Services) -> None:
    first, pages = security.events_view(svc, security.Form(), 1)
    assert pages > 1 and "page 1 of" in text(first)
    last, _ = security.events_view(svc, security.Form(), 10_000)
    assert f"page {pages} of {pages}" in text(last)
    doors, _ = security.events_view(svc, security.Form(rooms=("hallway",), kinds=("contact",)), 1)
    assert "Front door" in text(doors) and "Back door" not in text(doors) and "motion" not in text(doors)
    empty, pages = security.events_view(svc, security.Form(start="2001-01-01", end="2001-01-02"), 1)
    assert "No security events match" in text(empty) and pages == 1


def test_filter_dates_are_whole_days_in_the_home_zone() -> None:
    flt = security.Form(start="2026-07-01", end="2026-07-01").filter("Europe/Berlin", dt.date(2026, 7, 2))
    assert flt.end - flt.start == 86400
    assert dt.datetime.fromtimestamp(flt.start, dt.UTC).hour == 22  # midnight in Berlin (CEST) is 22:00 UTC


@pytest.mark.parametrize("cell", ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\r=1"])
def test_csv_export_neutralises_formulas(cell: str) -> None:
    assert security.neutralise(cell) == "'" + cell
    rows = list(csv.reader(io.StringIO(security.to_csv(pd.DataFrame({"=a": [cell], "b": ["plain"]})))))
    assert rows == [["'=a", "b"], ["'" + cell, "plain"]]


def test_csv_export_keeps_numbers_and_plain_text() -> None:
    assert security.neutralise(-3) == -3 and security.neutralise("Front door") == "Front door"


def test_export_downloads_the_filtered_log(svc: Services) -> None:
    download = security.export(svc, security.Form(kinds=("contact",)))
    assert download is not None and download["filename"].endswith(".csv")
    lines = download["content"].splitlines()
    assert lines[0].startswith("time,room,device,type,event") and all(",contact," in line for line in lines[1:])


def test_climate_per_room(svc: Services) -> None:
    shown = text(security.climate_view(svc))
    assert "Kitchen" in shown and "°C" in shown and "%" in shown


def test_system_rates_and_latency() -> None:
    frame = pd.DataFrame({"device": ["a", "a", "b"], "boot": ["x"] * 3, "seq": [1, 1, 2], "ts": [10.0, 10.0, None],
                          "received_at": [10.1] * 3, "ingested_at": [10.5, 10.5, 11.0]})
    got = system.rates(frame, 60.0)
    assert got["messages_s"] == pytest.approx(2 / 60) and got["readings_s"] == pytest.approx(3 / 60)
    assert got["p50_ms"] == pytest.approx(500.0)
    assert system.rates(frame.iloc[:0], 60.0) == {}


def test_system_page_parts(svc: Services) -> None:
    assert "Messages/s" in text(system.throughput_view(svc)) and "not configured" in text(system.throughput_view(svc))
    assert "online" in text(system.devices_view(svc))
    assert "ok" in text(system.etl_view(svc))
    assert {"out_of_range", "schema"} <= set(system.rejected_figure(svc)["data"][0]["y"])


def test_devices_silent_too_long_or_never_seen(svc: Services) -> None:
    frame = pd.DataFrame({"device": ["plug-tv", "plug-pc"], "online": [True, False],
                          "last_seen": [svc.clock() - 10_000, svc.clock() - 5]})
    table = system.device_table(svc, frame).set_index("device")
    assert table.loc["plug-tv", "state"] == "offline" and table.loc["plug-pc", "state"] == "offline"
    assert table.loc["meter-home", "state"] == "never seen"


def test_outbox_depth_from_unreachable_gateway() -> None:
    assert system.outbox_depth(None) == ("—", "metrics URL not configured")
    assert system.outbox_depth("http://127.0.0.1:9/metrics") == ("—", "gateway metrics unreachable")


def test_banner_shows_active_critical_alerts_until_acknowledged(writable_db: Path, sample_now: float) -> None:
    url = f"sqlite:///{writable_db}"
    svc = services(url, sample_now)
    assert banner(svc, {}) == ([], [])
    raise_alert(url, "demo", "intrusion-1", AlertState.RAISED, sample_now - 5)
    items, active = banner(svc, {})
    assert active == ["intrusion-1"] and "Front door opened while away" in text(items) and "Acknowledge" in text(items)
    assert "Acknowledgement sent" in text(banner(svc, {"intrusion-1": sample_now})[0])
    raise_alert(url, "demo", "intrusion-1", AlertState.ACKNOWLEDGED, sample_now - 1, ack_by="alice")
    assert banner(svc, {}) == ([], [])
    svc.reader.close()


def test_a_device_answer_shows_as_its_state(writable_db: Path, sample_now: float) -> None:
    url = f"sqlite:///{writable_db}"
    svc = services(url, sample_now)
    device_answer(url, "demo", "light-living", {Kind.SWITCH: True, Kind.POWER: 12.0}, sample_now + 0.5)
    states, labels = home.switch_view(svc, {}, ["light-living"])
    assert "ON" in text(states) and labels == ["Turn off"]
    svc.reader.close()


def test_a_device_with_no_data_says_so(writable_db: Path, sample_now: float) -> None:
    url = f"sqlite:///{writable_db}"
    execute(url, sa.delete(schema.readings).where(schema.readings.c.device == "climate-bathroom"))
    svc = services(url, sample_now)
    cards = home.room_cards(svc)
    bathroom = next(c for c in cards.children if c.children.id == "room-bathroom")
    assert "no data yet" in text(bathroom) and "no data yet" not in text(cards.children[0])
    assert "no data yet" in text(security.climate_view(svc))
    svc.reader.close()


def test_a_sensor_error_is_shown_not_hidden(writable_db: Path, sample_now: float) -> None:
    url = f"sqlite:///{writable_db}"
    execute(url, sa.update(schema.readings).where(
        schema.readings.c.device == "climate-office", schema.readings.c.kind == "temperature",
        schema.readings.c.t > sample_now - 10).values(value=None, err="dht timeout"))
    svc = services(url, sample_now)
    assert "sensor error: dht timeout" in text(home.room_cards(svc))
    svc.reader.close()


def test_current_alerts_take_the_latest_state() -> None:
    rows = pd.DataFrame({"alert_id": ["a", "a", "b"], "state": ["raised", "cleared", "raised"],
                         "ts": [1.0, 1.0, 2.0], "severity": ["critical"] * 3})
    current = queries.current_alerts(rows).set_index("alert_id")
    assert current.loc["a", "state"] == "cleared" and current.loc["b", "state"] == "raised"


@pytest.mark.parametrize("mode", ["night", {"mode": "night", "since": 1.0, "source": "gateway", "by": "bob"}])
def test_mode_from_a_forwarded_mode_event(writable_db: Path, sample_now: float, mode: object) -> None:
    url = f"sqlite:///{writable_db}"
    event = {"type": "mode", "ts": sample_now - 1, "mode": mode}
    land(url, "up/demo/gateway/events", json.dumps(event).encode())
    svc = services(url, sample_now)
    assert "night" in text(home.mode_view(svc))
    svc.reader.close()


def test_outbox_depth_from_the_gateway_metrics() -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    from iotpipe.broker import free_port

    registry = CollectorRegistry()
    Gauge("gateway_outbox_rows", "Rows waiting in the outbox", registry=registry).set(1234)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        assert system.outbox_depth(f"http://127.0.0.1:{port}/metrics") == ("1,234", "rows waiting")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_unchanged_banner_is_not_redrawn(writable_db: Path, sample_now: float) -> None:
    from plotly.utils import PlotlyJSONEncoder

    from dash_app.app import _same

    url = f"sqlite:///{writable_db}"
    raise_alert(url, "demo", "intrusion-2", AlertState.RAISED, sample_now - 5)
    svc = services(url, sample_now)
    items, _ = banner(svc, {})
    as_in_browser = json.loads(json.dumps(items, cls=PlotlyJSONEncoder))  # what the page sends back as State
    assert _same([i.to_plotly_json() for i in items], as_in_browser)
    assert not _same([i.to_plotly_json() for i in banner(svc, {"intrusion-2": 1.0})[0]], as_in_browser)
    svc.reader.close()


def test_the_live_queries_use_their_indexes(sample_db: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sample_db}")
    with engine.connect() as conn:
        def plan(stmt: sa.Select) -> str:  # type: ignore[type-arg]
            sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
            return " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

        assert "ix_readings_ingested_at" in plan(queries.ingest_select("demo", 1.0))
    engine.dispose()
