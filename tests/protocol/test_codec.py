"""Codec properties: round trips, and random input never raises anything but ProtocolError."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from protocol import KINDS, Kind, Reading, Telemetry

ids = st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)
boots = st.from_regex(r"[0-9a-f]{4,16}", fullmatch=True)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    kind = draw(st.sampled_from(list(Kind)))
    spec = KINDS[kind]
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        return Reading(kind, None, spec.unit, draw(st.text(min_size=1, max_size=20)))
    if spec.boolean:
        return Reading(kind, draw(st.booleans()))
    value = draw(st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False))
    return Reading(kind, value, spec.unit)


telemetry = st.builds(
    Telemetry,
    v=st.just(1),
    device=ids,
    boot=boots,
    seq=st.integers(0, 2**53),
    readings=st.lists(readings(), min_size=1, max_size=32).map(tuple),
    ts=st.none() | st.floats(1.6e9, 2.0e9),
)


@given(telemetry)
def test_encode_decode_round_trip(msg: Telemetry) -> None:
    payload = protocol.encode(msg)
    if len(payload) > protocol.LIMITS.max_payload:
        with pytest.raises(protocol.ProtocolError) as info:
            protocol.decode_telemetry(payload)
        assert info.value.reason is protocol.Reason.TOO_LARGE
        return
    assert protocol.decode_telemetry(payload) == msg


@given(st.binary(max_size=600))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    try:
        protocol.decode_telemetry(payload, received_at=1.7e9)
    except protocol.ProtocolError as exc:
        assert isinstance(exc.reason, protocol.Reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.fixed_dictionaries(
    {"v": json_values, "device": json_values, "boot": json_values, "seq": json_values, "readings": json_values}
))
def test_random_json_shapes_raise_only_protocol_errors(doc: dict[str, object]) -> None:
    import json

    payload = json.dumps(doc).encode()
    try:
        msg = protocol.decode_telemetry(payload, received_at=1.7e9)
    except protocol.ProtocolError:
        return
    assert all(r.value is None or isinstance(r.value, bool) or math.isfinite(r.value) for r in msg.readings)


def test_uplink_carries_enrichment_and_keeps_the_key() -> None:
    msg = protocol.Uplink(
        v=1, device="plug-tv", boot="abcd", seq=3, readings=(Reading(Kind.POWER, 80.0, "W"),),
        ts=1.7e9, received_at=1.7e9 + 0.01, room="living", appliance="TV",
    )
    back = protocol.decode_uplink(protocol.encode(msg))
    assert back == msg and back.key == ("plug-tv", "abcd", 3)
    assert protocol.decode_uplink_batch(protocol.encode([msg, msg])) == [msg, msg]


def test_device_payload_with_gateway_fields_is_refused() -> None:
    payload = (
        b'{"v":1,"device":"a","boot":"abcd","seq":1,"received_at":1.0,'
        b'"readings":[{"kind":"motion","value":true}]}'
    )
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode_telemetry(payload)
    assert info.value.reason is protocol.Reason.SCHEMA


def test_frame_rows_flatten_one_row_per_reading() -> None:
    from protocol.frame import READING_COLUMNS, rows

    msg = protocol.Uplink(
        v=1, device="plug-tv", boot="abcd", seq=3, ts=None, received_at=5.0, room="living", appliance="TV",
        readings=(Reading(Kind.POWER, 0.0, "W"), Reading(Kind.SWITCH, False), Reading(Kind.ENERGY, None, "kWh", "x")),
    )
    out = rows("demo", msg)
    assert [len(r) for r in out] == [len(READING_COLUMNS)] * 3
    assert [(r[4], r[7], r[8]) for r in out] == [(0, "power", 0.0), (1, "switch", 0.0), (2, "energy", None)]


def test_alert_ack_decodes_and_refuses_unknown_fields() -> None:
    ack = protocol.decode_alert_ack(b'{"id": "smoke-smoke-kitchen-1", "by": "anna"}')
    assert (ack.id, ack.by) == ("smoke-smoke-kitchen-1", "anna")
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode_alert_ack(b'{"id": "x", "by": "anna", "when": 1}')
    assert info.value.reason is protocol.Reason.SCHEMA
