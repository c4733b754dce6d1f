"""Topic builders and the parser's refusals."""

from __future__ import annotations

import pytest

from protocol import Channel, ProtocolError, Reason, topics


def test_build_and_parse_round_trip() -> None:
    topic = topics.edge("demo", "plug-tv", Channel.TELEMETRY)
    assert topic == "iot/demo/plug-tv/telemetry"
    parsed = topics.parse(topic)
    assert (parsed.home, parsed.device, parsed.channel) == ("demo", "plug-tv", Channel.TELEMETRY)
    assert str(parsed) == topic
    assert str(topics.parse("up/demo/gateway/alerts", prefix="up")) == "up/demo/gateway/alerts"
    assert topics.parse("iot/demo/gateway/mode/set").channel is Channel.MODE_SET


@pytest.mark.parametrize(
    "topic",
    [
        "iot/demo/plug-tv", "iot/Demo/plug-tv/telemetry", "iot/demo/plug tv/telemetry", "iot/demo/+/telemetry",
        "iot/demo/#", "up/demo/plug-tv/telemetry", "iot/demo/plug-tv/teletry", "iot/demo/plug-tv/alerts",
        "iot/demo/gateway/telemetry", "iot/demo/" + "x" * 41 + "/telemetry", "iot//plug-tv/telemetry",
        "iot/demo/plug-tv/telemetry/extra", "$SYS/broker/load",
    ],
)
def test_bad_topics_rejected(topic: str) -> None:
    with pytest.raises(ProtocolError) as info:
        topics.parse(topic)
    assert info.value.reason is Reason.BAD_TOPIC


def test_builders_refuse_bad_ids() -> None:
    with pytest.raises(ProtocolError):
        topics.edge("demo", "a/b", Channel.SET)


def test_alert_ack_channel_is_a_gateway_channel() -> None:
    topic = topics.edge("demo", "gateway", Channel.ALERTS_ACK)
    assert topic == "iot/demo/gateway/alerts/ack"
    assert topics.parse(topic).channel is Channel.ALERTS_ACK
    with pytest.raises(ProtocolError):
        topics.parse("iot/demo/plug-tv/alerts/ack")
