"""Streaming alerts: the rules under a moved clock, and the service end to end with Apprise over HTTP."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.alerts.rules import Rules, State
from cloud.alerts.service import AlertService, load_state, save_state
from cloud.config import AlertRules
from iotpipe.broker import Mosquitto
from protocol import AlertState, Kind
from protocol.settings import EXAMPLE_CONFIG, load_settings
from tests.cloud.messages import payload, uplink
from tests.cloud.test_ingest import Publisher
from tests.support import wait_for

T0 = 1_764_460_000.0
RULES = AlertRules(home_power_w=3000, home_power_window_s=300, cooldown_s=600, silent_device_s=600,
                   silent_gateway_s=300, budget_kwh={"kettle": 0.5}, zscore=6, zscore_window=20)


@pytest.fixture
def rules() -> Rules:
    """The rules for the example home with the thresholds above."""
    return Rules(RULES, load_settings(EXAMPLE_CONFIG, env={}).home)


def meter(seq: int, watts: float, t: float) -> list[tuple[str, object]]:
    """Feed-ready: the whole-home meter reading `watts` at `t`."""
    return [("meter-home", uplink("meter-home", seq, (Kind.POWER, watts), ts=t))]


def test_home_power_fires_only_when_sustained_over_the_window_and_respects_cooldown(rules: Rules) -> None:
    fired = []
    for i in range(10):  # a spike of 10 s over the threshold is not "sustained"
        fired += rules.observe("h", uplink("meter-home", i, (Kind.POWER, 9000.0), ts=T0 + i), now=T0 + i)
    assert fired == []
    for i in range(10, 70):  # five minutes at 4 kW
        fired += rules.observe("h", uplink("meter-home", i, (Kind.POWER, 4000.0), ts=T0 + 5 * i), now=T0 + 5 * i)
    assert [(h, a.rule) for h, a in fired] == [("h", "home_power")]
    again = rules.observe("h", uplink("meter-home", 71, (Kind.POWER, 4000.0), ts=T0 + 355), now=T0 + 355)
    assert again == []  # within the cooldown
    later = [a for i in range(72, 300) for a in rules.observe(
        "h", uplink("meter-home", i, (Kind.POWER, 4000.0), ts=T0 + 5 * i), now=T0 + 5 * i)]
    assert len(later) == 2  # cooldown 600 s: at most once per 10 min over the next ~19 min


def test_the_meter_wins_over_the_sum_of_plugs(rules: Rules) -> None:
    fired = []
    for i in range(70):
        t = T0 + 5 * i
        fired += rules.observe("h", uplink("plug-heater", i, (Kind.POWER, 2000.0), ts=t), now=t)
        fired += rules.observe("h", uplink("plug-kettle", i, (Kind.POWER, 2000.0), ts=t), now=t)
        fired += rules.observe("h", uplink("meter-home", i, (Kind.POWER, 2500.0), ts=t), now=t)
    assert fired == []  # the plugs sum to 4 kW, but the meter says 2.5 kW


def test_budget_counts_counters_across_a_reset_once_a_day(rules: Rules) -> None:
    counters = [10.0, 10.2, 10.4, 0.0, 0.05, 0.2, 0.3]  # reset after 10.4; over 0.5 kWh at 0.4 + 0.2 = 0.6
    fired = [a for i, c in enumerate(counters) for a in rules.observe(
        "h", uplink("plug-kettle", i, (Kind.ENERGY, c), ts=T0 + 60 * i), now=T0 + 60 * i)]
    assert [(a.rule, a.device, round(a.value or 0, 3)) for _h, a in fired] == [("energy_budget", "plug-kettle", 0.6)]
    assert rules.observe("h", uplink("plug-kettle", 9, (Kind.ENERGY, 1.0), ts=T0 + 600), now=T0 + 600) == []
    next_day = rules.observe("h", uplink("plug-kettle", 10, (Kind.ENERGY, 1.4), ts=T0 + 86400), now=T0 + 86400)
    assert next_day == []  # a new day counts from the last counter: 0.4 kWh, under the budget
    over = rules.observe("h", uplink("plug-kettle", 11, (Kind.ENERGY, 1.6), ts=T0 + 86460), now=T0 + 86460)
    assert [round(a.value or 0, 3) for _h, a in over] == [0.6]


def test_budget_from_power_never_integrates_across_a_gap(rules: Rules) -> None:
    steps = [(0, 2000.0), (60, 2000.0), (4000, 2000.0), (4060, 0.0)]  # 2 kW for 1 min, a gap, 2 kW for 1 min
    for i, (dt, watts) in enumerate(steps):
        rules.observe("h", uplink("plug-kettle", i, (Kind.POWER, watts), ts=T0 + dt), now=T0 + dt)
    used = rules.state.budget["h|plug-kettle"]["power"][0]
    assert used == pytest.approx(2 * 2000 * 60 / 3.6e6)


def test_anomaly_and_zero_is_a_value(rules: Rules) -> None:
    fired = []
    for i in range(30):
        fired += rules.observe("h", uplink("climate-office", i, (Kind.TEMPERATURE, 21.0 + (i % 2) * 0.1),
                                           ts=T0 + i), now=T0 + i)
    assert fired == []
    spike = rules.observe("h", uplink("climate-office", 31, (Kind.TEMPERATURE, 0.0), ts=T0 + 31), now=T0 + 31)
    assert [(a.rule, a.value) for _h, a in spike] == [("anomaly", 0.0)]


def test_silent_device_and_gateway_fire_once_then_clear(rules: Rules) -> None:
    rules.observe("h", uplink("plug-tv", 1, (Kind.POWER, 5.0), ts=T0), now=T0)
    assert rules.tick(T0 + 299) == []
    gateway = rules.tick(T0 + 300)
    assert [a.rule for _h, a in gateway] == ["gateway_silent"]
    device = rules.tick(T0 + 600)
    assert [a.rule for _h, a in device] == ["device_silent"]
    assert rules.tick(T0 + 5000) == []  # once per silence
    back = rules.observe("h", uplink("plug-tv", 2, (Kind.POWER, 5.0), ts=T0 + 5001), now=T0 + 5001)
    assert sorted((a.rule, a.state) for _h, a in back) == [("device_silent", AlertState.CLEARED),
                                                           ("gateway_silent", AlertState.CLEARED)]
    assert {a.id for _h, a in back} == {a.id for _h, a in gateway + device}  # a clear carries its raise's id
    assert rules.tick(T0 + 5300) == []


def test_state_survives_a_restart_and_downtime_is_not_silence(rules: Rules, engine: sa.Engine) -> None:
    for i in range(70):
        rules.observe("h", uplink("meter-home", i, (Kind.POWER, 4000.0), ts=T0 + 5 * i), now=T0 + 5 * i)
    save_state(engine, rules.state, T0 + 350)
    home = load_settings(EXAMPLE_CONFIG, env={}).home
    restored = Rules(RULES, home, load_state(engine, T0 + 3350))  # the service was down for 50 minutes
    assert restored.tick(T0 + 3351) == []  # nobody is silent just because we were away
    fired = restored.observe("h", uplink("meter-home", 71, (Kind.POWER, 4000.0), ts=T0 + 360), now=T0 + 3360)
    assert fired and fired[0][1].rule == "home_power"  # cooldown counted from before the restart: 3000 s passed
    assert State.from_json(json.loads(json.dumps(restored.state.to_json()))).last_fired == restored.state.last_fired


class Receiver(http.server.ThreadingHTTPServer):
    """A local HTTP endpoint that keeps every JSON body Apprise posts to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        super().__init__(("127.0.0.1", 0), self._Handler)

    class _Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.server.bodies.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The HTTP receiver, serving in a thread for the test."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_service_stores_and_sends_alerts_over_apprise(  # noqa: PLR0917 - fixtures
    db_url: str, cloud_broker: Mosquitto, receiver: Receiver, home_id: str, tmp_path: Path, engine: sa.Engine
) -> None:
    toml = EXAMPLE_CONFIG.read_text().split("\n[cloud]")[0] + (
        f'\n[cloud.alerts]\nnotify = ["json://127.0.0.1:{receiver.server_address[1]}"]\nhome_power_w = 3000\n'
        "home_power_window_s = 60\n")
    (tmp_path / "home.toml").write_text(toml)
    settings = load_settings(tmp_path / "home.toml", cloud_url=cloud_broker.url, db_url=db_url, var=tmp_path, env={})
    stop = threading.Event()
    service = AlertService(settings, engine, stop=stop, client_id=f"{home_id}-alerts")
    thread = threading.Thread(target=service.run)
    thread.start()
    publisher = Publisher(cloud_broker)
    try:
        msgs = [uplink("meter-home", i, (Kind.POWER, 5000.0), ts=T0 + 5 * i) for i in range(20)]

        def sent() -> bool:
            publisher.send_all([(f"up/{home_id}/batch", payload(msgs))])
            return bool(receiver.bodies)

        wait_for(sent, 20, "a notification")
    finally:
        stop.set()
        thread.join(20)
        publisher.close()
    assert "home_power" in str(receiver.bodies[0]["title"])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.text("home, rule, notified, source")).select_from(sa.table("alerts"))).all()
    assert [tuple(r) for r in rows] == [(home_id, "home_power", True, "cloud")]
