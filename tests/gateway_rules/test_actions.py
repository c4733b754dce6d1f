"""Actions: the buzzer pin's history per pattern, Apprise to a local receiver, the alert log, the facade's fan-out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
from gpiozero.pins.mock import MockFactory

from gateway.actions.alertlog import AlertLog, AlertRecord, ModeRecord
from gateway.actions.buzzer import Buzzer
from gateway.actions.notify import Notifier
from gateway.rules.edge import EdgeRules
from protocol import AlarmMode, Alert, AlertAck, AlertState, ConfigError, ModeState, Severity
from protocol.config import HomeConfig
from tests.gateway_rules.conftest import FakeClock, uplink
from tests.support import wait_for


def alert(state: AlertState, severity: Severity = Severity.WARNING, alert_id: str = "a-1") -> Alert:
    return Alert(id=alert_id, rule="r", severity=severity, state=state, ts=0.0, message="m")


@pytest.fixture
def buzzer() -> Iterator[Buzzer]:
    device = Buzzer(18, factory=MockFactory(), siren_max_s=600)
    yield device
    device.close()


def history(buzzer: Buzzer) -> list[bool]:
    return [s.state for s in buzzer.pin.states]


def test_a_warning_beeps_three_times(buzzer: Buzzer) -> None:
    buzzer.on_alert(alert(AlertState.RAISED))
    wait_for(lambda: len(history(buzzer)) == 7, what="three beeps")
    assert history(buzzer) == [False, True, False, True, False, True, False]


def test_info_is_silent_and_the_siren_runs_until_acknowledged(buzzer: Buzzer) -> None:
    buzzer.on_alert(alert(AlertState.RAISED, Severity.INFO))
    assert history(buzzer) == [False]
    buzzer.on_alert(alert(AlertState.TRIGGERED, Severity.CRITICAL))
    wait_for(lambda: len(history(buzzer)) >= 4, what="the siren cycling")
    buzzer.on_alert(alert(AlertState.RAISED, Severity.WARNING, "other"))  # quieter: the siren goes on
    assert buzzer.sounding is not None and buzzer.sounding[1].name == "siren"
    buzzer.on_alert(alert(AlertState.ACKNOWLEDGED, Severity.CRITICAL))
    assert buzzer.device.value == 0 and buzzer.sounding is None
    states = history(buzzer)
    assert states[:4] == [False, True, False, True] and states[-1] is False


def test_entry_chirps_then_siren_and_disarm_silences(buzzer: Buzzer) -> None:
    buzzer.on_alert(alert(AlertState.PENDING))
    wait_for(lambda: len(history(buzzer)) >= 3, what="an entry chirp")
    buzzer.on_alert(alert(AlertState.TRIGGERED, Severity.CRITICAL))
    assert buzzer.sounding is not None and buzzer.sounding[1].name == "siren"
    buzzer.on_mode(ModeState(mode=AlarmMode.DISARMED, since=0.0, source="http"))
    assert buzzer.device.value == 0 and buzzer.sounding is None


class Receiver:
    """A local HTTP endpoint standing in for a notification service: it keeps every JSON body posted."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_apprise_delivers_to_a_local_receiver() -> None:
    receiver = Receiver()
    notifier = Notifier([receiver.url], min_severity=Severity.WARNING)
    try:
        notifier.on_alert(alert(AlertState.RAISED, Severity.INFO, "quiet"))  # below min_severity
        notifier.on_alert(msgspec.structs.replace(alert(AlertState.TRIGGERED, Severity.CRITICAL), message="burglar"))
        wait_for(lambda: notifier.sent == 1, what="one notification")
    finally:
        notifier.close()
        receiver.close()
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["message"] == "burglar" and body["title"] == "[critical] r triggered" and body["type"] == "failure"


def test_a_dead_notification_service_is_counted_not_fatal() -> None:
    receiver = Receiver()
    url = receiver.url
    receiver.close()
    notifier = Notifier([url])
    notifier.on_alert(alert(AlertState.RAISED))
    wait_for(lambda: notifier.failed == 1, what="a failed delivery")
    notifier.close()


def test_the_alert_log_keeps_alerts_and_mode_changes(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.jsonl", max_bytes=400)
    mode = ModeState(mode=AlarmMode.AWAY, since=1.0, source="button")
    log.on_mode(mode)
    log.on_alert(alert(AlertState.RAISED))
    assert log.records() == [ModeRecord(mode), AlertRecord(alert(AlertState.RAISED))]
    for _ in range(5):
        log.on_alert(alert(AlertState.CLEARED))
    log.close()
    assert (tmp_path / "alerts.jsonl.1").exists()


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.modes: list[ModeState] = []

    def on_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def on_mode(self, state: ModeState) -> None:
        self.modes.append(state)


class Broken:
    def on_alert(self, alert: Alert) -> None:
        raise OSError("GPIO busy")

    def on_mode(self, state: ModeState) -> None:
        raise OSError("GPIO busy")


def test_edge_rules_fan_out_past_a_broken_sink(example_home: HomeConfig, clock: FakeClock) -> None:
    sink = Collect()
    rules = EdgeRules(example_home, [Broken(), sink], clock)
    rules.set_mode(AlarmMode.AWAY, "mqtt", "anna")
    clock.advance(30)
    msg = uplink("door-back", "contact", True, clock.now)
    assert [a.state for a in rules.on_telemetry(msg)] == [AlertState.PENDING, AlertState.TRIGGERED]
    assert rules.on_telemetry(msg) == []  # a redelivery
    acked = rules.acknowledge(AlertAck(id=sink.alerts[0].id, by="anna"))
    assert acked is not None and acked.state is AlertState.ACKNOWLEDGED
    assert rules.acknowledge(AlertAck(id="nope", by="anna")) is None
    assert [m.mode for m in sink.modes] == [AlarmMode.AWAY]
    assert [a.state for a in sink.alerts] == [AlertState.PENDING, AlertState.TRIGGERED, AlertState.ACKNOWLEDGED]
    assert [a.id for a in rules.raised()] == [sink.alerts[0].id]


def test_the_dht22_library_is_only_needed_when_configured() -> None:
    import sys

    from gateway.actions.climate import Dht22

    assert "adafruit_dht" not in sys.modules  # importing the actions never pulls it in
    with pytest.raises(ConfigError, match=r"^alarm\.climate: the DHT22 needs adafruit-circuitpython-dht"):
        Dht22("D4")
