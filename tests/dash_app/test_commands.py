"""What the dashboard says over MQTT: topics and payloads by the contract, published to a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dash_app.app import acknowledge
from dash_app.commands import Commander, CommandError, ack_message, mode_message, switch_message
from dash_app.pages import home
from dash_app.services import Services
from iotpipe.broker import Mosquitto
from protocol import AlarmMode, Channel, ModeState, encode, topics
from protocol.codec import decode_alert_ack, decode_command, decode_mode_change
from protocol.endpoint import BrokerURL
from tests.dash_app.conftest import example_home, make_warehouse, services
from tests.support import Recorder, wait_for


def test_switch_message_follows_the_contract() -> None:
    topic, payload = switch_message("h1", "plug-tv", True)
    parsed = topics.parse(topic)
    assert (parsed.home, parsed.device, parsed.channel) == ("h1", "plug-tv", Channel.SET)
    assert decode_command(payload).switch is True


def test_mode_and_ack_messages_follow_the_contract() -> None:
    topic, payload = mode_message("h1", AlarmMode.AWAY, "alice")
    assert topics.parse(topic).channel is Channel.MODE_SET and decode_mode_change(payload).mode is AlarmMode.AWAY
    topic, payload = ack_message("h1", "intrusion-7", "alice")
    ack = decode_alert_ack(payload)
    assert topics.parse(topic).channel is Channel.ALERTS_ACK and (ack.id, ack.by) == ("intrusion-7", "alice")


def test_a_bad_device_id_never_becomes_a_topic() -> None:
    with pytest.raises(ValueError, match="bad_topic"):
        switch_message("h1", "plug/#", True)


@pytest.fixture
def commander(broker: Mosquitto, home_id: str) -> Iterator[Commander]:
    made = Commander(BrokerURL.parse(broker.url), home_id)
    made.start()
    wait_for(lambda: made.connected, what="the dashboard to connect")
    yield made
    made.stop()


@pytest.fixture
def live(tmp_path: Path, home_id: str, commander: Commander) -> Iterator[Services]:
    """Services for a home of this test's own, with a small warehouse and a connected commander."""
    house = example_home(home_id)
    now = 1_800_000_000.0
    url = make_warehouse(tmp_path / "w.db", house, now, days=1, minute_days=0.01, raw_seconds=60)
    svc = services(url, now, home=house)
    made = Services(svc.home, svc.config, svc.reader, commander, svc.clock)
    yield made
    made.reader.close()


def test_toggle_sends_the_opposite_of_what_the_device_reported(broker: Mosquitto, live: Services) -> None:
    recorder = Recorder(broker.host, broker.port, f"iot/{live.home_id}/+/set")
    states, _ = home.switch_view(live, {}, ["plug-tv"])
    reported_on = "ON" in str(states)
    entry, _ = home.toggle(live, "plug-tv", "alice")
    payloads = wait_for(lambda: recorder.on("plug-tv/set"), what="the command")
    assert decode_command(payloads[0]).switch is (not reported_on) and entry["target"] is (not reported_on)
    recorder.close()


def test_mode_change_and_acknowledgement_reach_the_gateway_topics(broker: Mosquitto, live: Services) -> None:
    recorder = Recorder(broker.host, broker.port, f"iot/{live.home_id}/gateway/#")
    assert "Asked the gateway for mode away" in str(home.set_mode(live, "away", "alice"))
    assert acknowledge(live, "intrusion-1", "alice") is None
    change = decode_mode_change(wait_for(lambda: recorder.on("mode/set"), what="mode change")[0])
    ack = decode_alert_ack(wait_for(lambda: recorder.on("alerts/ack"), what="acknowledgement")[0])
    assert (change.mode, change.by) == (AlarmMode.AWAY, "alice") and (ack.id, ack.by) == ("intrusion-1", "alice")
    recorder.close()


def test_the_retained_mode_is_followed_with_its_exit_delay(broker: Mosquitto, live: Services) -> None:
    publisher = Recorder(broker.host, broker.port, "unused/topic")
    state = ModeState(mode=AlarmMode.AWAY, since=live.clock(), source="gateway", by="alice",
                      armed_at=live.clock() + 30)
    publisher.client.publish(topics.edge(live.home_id, "gateway", Channel.MODE), encode(state), qos=1, retain=True)
    wait_for(lambda: live.commander is not None and live.commander.mode == state, what="the retained mode")
    shown = str(home.mode_view(live))
    assert "away" in shown and "arming in 30 s" in shown
    publisher.client.publish(topics.edge(live.home_id, "gateway", Channel.MODE), b"", qos=1, retain=True)
    publisher.close()


def test_a_bad_mode_payload_is_ignored(broker: Mosquitto, live: Services) -> None:
    publisher = Recorder(broker.host, broker.port, "unused/topic")
    topic = topics.edge(live.home_id, "gateway", Channel.MODE)
    publisher.client.publish(topic, b'{"mode": "panic"}', qos=1).wait_for_publish()
    good = ModeState(mode=AlarmMode.NIGHT, since=1.0, source="gateway")
    publisher.client.publish(topic, encode(good), qos=1)
    wait_for(lambda: live.commander is not None and live.commander.mode == good, what="the good mode")
    publisher.close()


def test_sending_while_disconnected_says_so(broker: Mosquitto) -> None:
    offline = Commander(BrokerURL.parse("mqtt://127.0.0.1:9"), "h1")
    with pytest.raises(CommandError, match="not connected"):
        offline.send(switch_message("h1", "plug-tv", True))


def test_an_unreachable_broker_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="dash_app.commands")
    offline = Commander(BrokerURL.parse("mqtt://127.0.0.1:9"), "h1")
    offline.start()
    wait_for(lambda: any("not reachable" in r.getMessage() for r in caplog.records), what="the warning")
    offline.stop()
    assert not offline.connected
