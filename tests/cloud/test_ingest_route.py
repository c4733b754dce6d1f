"""Routing uplink messages into records: golden examples, bad topics and gateway messages, no broker needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import protocol
from cloud.ingest.route import ROW_COLUMNS, Batch, route
from protocol import Kind, encode
from tests.cloud.messages import payload, uplink

EXAMPLES = Path(protocol.__file__).parent / "examples"
RECEIVED_AT = 1764460060.0  # the receive time the golden examples are judged against


def as_uplink(raw: bytes) -> bytes:
    """A golden telemetry payload as the gateway would forward it: with `received_at` added (bytes kept)."""
    if raw.startswith(b"{") and not raw[1:].lstrip().startswith(b"}"):
        return b'{"received_at": ' + str(RECEIVED_AT).encode() + b", " + raw[1:]
    return raw


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_golden_valid_examples_become_one_row_per_reading(path: Path) -> None:
    batch = Batch()
    msg = protocol.decode_telemetry(path.read_bytes())
    route(batch, f"up/h1/{msg.device}/telemetry", as_uplink(path.read_bytes()), 1.0)
    assert batch.rejected == []
    assert len(batch.readings) == len(msg.readings)
    first = dict(zip(ROW_COLUMNS, batch.readings[0], strict=True))
    assert (first["home"], first["device"], first["seq"], first["idx"]) == ("h1", msg.device, msg.seq, 0)
    assert first["t"] == (RECEIVED_AT if msg.ts is None else msg.ts)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "invalid").glob("*.json")), ids=lambda p: p.stem)
def test_golden_invalid_examples_rejected_for_named_reason(path: Path) -> None:
    batch = Batch()
    route(batch, "up/h1/door-front/telemetry", as_uplink(path.read_bytes()), 1.0)
    assert batch.readings == []
    assert [r["reason"] for r in batch.rejected] == [path.stem.split("__")[0]]


def test_zero_is_a_value_and_a_failed_sensor_is_none() -> None:
    batch = Batch()
    route(batch, "up/h1/plug-tv/telemetry", as_uplink((EXAMPLES / "valid" / "zero-is-a-value.json").read_bytes()), 1)
    failed = as_uplink((EXAMPLES / "valid" / "sensor-failed.json").read_bytes())
    route(batch, "up/h1/climate-bedroom/telemetry", failed, 1)
    values = [dict(zip(ROW_COLUMNS, r, strict=True)) for r in batch.readings]
    assert [v["value"] for v in values[:4]] == [0.0, 0.0, 0.0, 0.0]
    assert any(v["value"] is None and v["err"] for v in values[4:])


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("up/h1/plug-pc/telemetry", payload(uplink("plug-tv", 1, (Kind.POWER, 5.0))), "identity_mismatch"),
        ("up/H1/plug-tv/telemetry", payload(uplink("plug-tv", 1, (Kind.POWER, 5.0))), "bad_topic"),
        ("up/h1/plug-tv/set", b'{"switch": true}', "bad_topic"),
        ("up/h1/gateway/mode/set", b'{"mode": "away"}', "bad_topic"),
        ("iot/h1/plug-tv/telemetry", payload(uplink("plug-tv", 1, (Kind.POWER, 5.0))), "bad_topic"),
        ("up/h1/batch", b'{"not": "a list"}', "wrong_type"),
        ("up/h1/batch", payload([uplink("plug-tv", 1, (Kind.POWER, -5.0))]), "out_of_range"),
        ("up/h1/plug-tv/telemetry", payload(uplink("plug-tv", 1, (Kind.POWER, 5.0)))[:-1] + b",}", "malformed_json"),
        ("up/h1/gateway/events", b"[1, 2]", "wrong_type"),
        ("up/h1/gateway/events", b'{"ts": 1.0}', "schema"),
        ("up/h1/gateway/events", b'{"type": "mode", "ts": "noon"}', "schema"),
        ("up/h1/gateway/events", b"{oops", "malformed_json"),
        ("up/h1/gateway/alerts", b'{"id": "a1"}', "schema"),
        ("up/h1/gateway/status", b'{"online": "yes"}', "wrong_type"),
    ],
)
def test_bad_messages_become_rejections_with_reason(topic: str, body: bytes, reason: str) -> None:
    batch = Batch()
    route(batch, topic, body, 5.0)
    assert [(r["reason"], r["topic"]) for r in batch.rejected] == [(reason, topic)]
    assert batch.readings == [] and batch.events == [] and batch.alerts == []


def test_gateway_messages_become_events_alerts_and_presence() -> None:
    batch = Batch()
    route(batch, "up/h1/gateway/status", b'{"online": false, "ts": 10.0}', 11.0)
    route(batch, "up/h1/gateway/events", b'{"type": "mode", "ts": 12.0, "mode": "away"}', 12.5)
    route(batch, "up/h1/gateway/events", encode(protocol.ModeState(mode=protocol.AlarmMode.HOME, since=12.7,
                                                                   source="button")), 12.8)
    event = b'{"event": "status", "ts": 13.0, "device": "door-back", "status": {"online": false}}'
    route(batch, "up/h1/gateway/events", event, 13)
    alert = protocol.Alert(id="a1", rule="smoke", severity=protocol.Severity.CRITICAL,
                           state=protocol.AlertState.RAISED, ts=14.0, message="smoke", device="smoke-kitchen")
    route(batch, "up/h1/gateway/alerts", encode(alert), 14.5)
    assert [e["type"] for e in batch.events] == ["gateway_status", "mode", "mode", "status"]
    assert (batch.events[2]["ts"], json.loads(batch.events[2]["payload"])["mode"]) == (12.7, "home")
    assert batch.devices[("h1", "gateway")].online is False
    assert batch.devices[("h1", "door-back")].online is False
    assert batch.alerts[0]["alert_id"] == "a1" and batch.alerts[0]["source"] == "gateway"
    assert batch.rejected == []


def test_no_group_means_one_plain_subscription() -> None:
    from cloud.ingest.worker import subscription

    assert subscription("ingest") == "$share/ingest/up/#"
    assert subscription("") == "up/#"
