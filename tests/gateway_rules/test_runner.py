"""The edge rules against a real broker: the demo's intrusion, smoke, LWT, acknowledgement, restart, cloud down."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from gateway.actions.buzzer import Buzzer
from gateway.actions.publish import UplinkSink
from gateway.rules.runner import RulesRunner
from iotpipe.broker import Mosquitto
from protocol import (
    AlarmMode,
    AlertState,
    Channel,
    Kind,
    Reading,
    Severity,
    Telemetry,
    decode_alert,
    decode_mode_state,
    encode,
    topics,
)
from protocol.config import HomeConfig
from protocol.endpoint import BrokerURL
from tests.gateway_rules.conftest import FakeClock, with_home
from tests.support import Recorder, wait_for


class Device:
    """A device on the edge broker: publishes telemetry with increasing seq; optionally with an LWT."""

    def __init__(self, broker: Mosquitto, home: str, device: str, lwt: bool = False) -> None:
        self.home, self.device, self.seq = home, device, 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{home}-{device}"[:60])
        if lwt:
            self.client.will_set(topics.edge(home, device, Channel.STATUS), b'{"online": false}', qos=1, retain=True)
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()

    def send(self, kind: Kind, value: bool | float) -> None:
        self.seq += 1
        unit = "W" if kind is Kind.POWER else None
        msg = Telemetry(v=1, device=self.device, boot="beef01", seq=self.seq, readings=(Reading(kind, value, unit),))
        topic = topics.edge(self.home, self.device, Channel.TELEMETRY)
        self.client.publish(topic, encode(msg), qos=1).wait_for_publish(5)

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT, so the broker publishes the LWT."""
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def home(example_home: HomeConfig, home_id: str) -> HomeConfig:
    return with_home(example_home, home_id)


@pytest.fixture
def start_runner(broker: Mosquitto, home: HomeConfig, clock: FakeClock) -> Iterator[Callable[..., RulesRunner]]:
    started: list[RulesRunner] = []

    def start(**kwargs: object) -> RulesRunner:
        runner = RulesRunner(home, BrokerURL.parse(broker.url), clock=clock, tick_s=None, **kwargs)  # type: ignore[arg-type]
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.stop()


def alerts(recorder: Recorder, rule: str | None = None) -> list[tuple[AlertState, Severity, str | None]]:
    decoded = map(decode_alert, recorder.on("/gateway/alerts"))
    return [(a.state, a.severity, a.device) for a in decoded if rule is None or a.rule == rule]


def test_door_opened_while_away_with_the_cloud_down(
    broker: Mosquitto,
    make_broker: Callable[..., Mosquitto],
    home: HomeConfig,
    clock: FakeClock,
    start_runner: Callable[..., RulesRunner],
) -> None:
    cloud = make_broker("cloud")
    uplink = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gateway-{home.home.id}-up")
    uplink.connect(cloud.host, cloud.port)
    uplink.loop_start()
    cloud.stop()  # the internet is gone: what the outbox would send cannot leave
    queued: list[bytes] = []
    buzzer = Buzzer(18, factory=MockFactory())

    def enqueue(channel: Channel, payload: bytes) -> None:
        queued.append(payload)
        uplink.publish(f"up/{home.home.id}/gateway/{channel.value}", payload, qos=1)

    sink = UplinkSink(enqueue)
    runner = start_runner(sinks=[buzzer, sink])
    h = home.home.id
    watch = Recorder(broker.host, broker.port, f"iot/{h}/gateway/#")
    door = Device(broker, h, "door-front")
    try:
        watch.client.publish(topics.edge(h, "gateway", Channel.MODE_SET), b'{"mode": "away", "by": "anna"}', qos=1)
        mode = decode_mode_state(wait_for(lambda: watch.on("/gateway/mode"), what="the retained mode")[0])
        assert (mode.mode, mode.source, mode.by, mode.armed_at) == (AlarmMode.AWAY, "mqtt", "anna", clock.now + 30)
        clock.advance(30)
        door.send(Kind.CONTACT, True)
        wait_for(lambda: alerts(watch), what="the pending alert")
        assert alerts(watch) == [(AlertState.PENDING, Severity.WARNING, "door-front")]
        wait_for(lambda: len(buzzer.pin.states) >= 2, what="the entry chirp")
        clock.advance(30)
        runner.rules.tick()
        wait_for(lambda: len(alerts(watch, "door-or-window")) == 2, what="the triggered alert")
        assert alerts(watch, "door-or-window")[1] == (AlertState.TRIGGERED, Severity.CRITICAL, "door-front")
        assert alerts(watch, "offline") == [(AlertState.RAISED, Severity.WARNING, "door-front")]  # 30 s of silence
        assert buzzer.sounding is not None and buzzer.sounding[1].name == "siren"
        wait_for(lambda: [s.state for s in buzzer.pin.states][-2:] == [True, False], what="the siren cycling")
        alert_id = decode_alert(watch.on("/gateway/alerts")[0]).id
        watch.client.publish(topics.edge(h, "gateway", Channel.ALERTS_ACK), f'{{"id": "{alert_id}", "by": "ben"}}')
        acked = decode_alert(wait_for(lambda: watch.on("/gateway/alerts")[3:], what="the acknowledgement")[0])
        assert (acked.state, acked.ack_by, acked.id) == (AlertState.ACKNOWLEDGED, "ben", alert_id)
        wait_for(lambda: buzzer.sounding is None, what="the buzzer to stop")
        assert buzzer.device.value == 0
        assert len(queued) == 5  # the mode and four alert states were handed to the outbox
    finally:
        door.close()
        watch.close()
        uplink.loop_stop()
        buzzer.close()


def test_smoke_and_an_lwt_over_the_broker(
    broker: Mosquitto, home: HomeConfig, clock: FakeClock, start_runner: Callable[..., RulesRunner]
) -> None:
    start_runner()
    h = home.home.id
    watch = Recorder(broker.host, broker.port, f"iot/{h}/gateway/alerts")
    smoke = Device(broker, h, "smoke-kitchen", lwt=True)
    try:
        smoke.send(Kind.SMOKE, True)
        smoke.send(Kind.SMOKE, True)  # still smoky: no second alert
        smoke.send(Kind.SMOKE, False)
        wait_for(lambda: len(alerts(watch)) == 2, what="smoke raised and cleared")
        smoke.crash()
        wait_for(lambda: len(alerts(watch)) == 3, timeout=20, what="the offline alert from the LWT")
    finally:
        watch.close()
    assert alerts(watch) == [
        (AlertState.RAISED, Severity.CRITICAL, "smoke-kitchen"),
        (AlertState.CLEARED, Severity.CRITICAL, "smoke-kitchen"),
        (AlertState.RAISED, Severity.WARNING, "smoke-kitchen"),
    ]


def test_a_restart_keeps_the_retained_mode_and_bad_requests_change_nothing(
    broker: Mosquitto, home: HomeConfig, start_runner: Callable[..., RulesRunner]
) -> None:
    first = start_runner()
    first.rules.set_mode(AlarmMode.NIGHT, "http", "anna")
    h = home.home.id
    watch = Recorder(broker.host, broker.port, f"iot/{h}/gateway/mode")
    wait_for(lambda: watch.on("/gateway/mode"), what="the retained mode")
    first.stop()
    second = start_runner()
    wait_for(lambda: second.rules.mode.mode is AlarmMode.NIGHT, what="the mode restored")
    assert (second.rules.mode.source, second.rules.mode.by) == ("http", "anna")
    for bad in (b'{"mode": "party"}', b"not json", b'{"mode": "away", "pin": 1234}'):
        watch.client.publish(topics.edge(h, "gateway", Channel.MODE_SET), bad, qos=1)
    watch.client.publish(topics.edge(h, "gateway", Channel.MODE_SET), b'{"mode": "disarmed"}', qos=1)
    wait_for(lambda: second.rules.mode.mode is AlarmMode.DISARMED, what="the good request after the bad ones")
    watch.close()
