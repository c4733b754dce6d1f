"""Decode + validate in one pass: bytes in, a typed message or a ProtocolError with a reason out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from protocol.errors import ProtocolError, Reason
from protocol.kinds import KINDS
from protocol.messages import (
    Alert,
    AlertAck,
    Command,
    ModeChange,
    ModeState,
    Reading,
    Status,
    Telemetry,
    Uplink,
    Watermark,
)

VERSION = 1
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a message must respect; the skew limits are generous so late replays are kept."""

    max_payload: int = 4096
    max_readings: int = 32
    max_future_s: float = 3600.0  # a device clock up to an hour fast is tolerated (and flagged by rules)
    max_age_s: float = 7 * 86400.0  # device outboxes replay late data; a week-old ts is a broken clock


LIMITS = Limits()
_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def encode(message: msgspec.Struct | list[Any] | dict[str, Any]) -> bytes:
    """Encode a message (or a list of them) as compact JSON bytes."""
    return _encoder.encode(message)


def _decode(payload: bytes, kind: type[T], max_payload: int) -> T:
    """Parse and type-check `payload` as `kind`, translating msgspec's errors into reasons."""
    if len(payload) > max_payload:
        raise ProtocolError(Reason.TOO_LARGE, f"payload is {len(payload)} bytes, limit {max_payload}")
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(payload)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.startswith("Number out of range"):  # 1e999 and friends: a float that overflowed to inf
            raise ProtocolError(Reason.NOT_FINITE, text) from exc
        reason = Reason.WRONG_TYPE if ", got `" in text else Reason.SCHEMA
        raise ProtocolError(reason, text) from exc
    except msgspec.DecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(Reason.NOT_UTF8, "payload is not UTF-8") from exc
        raise ProtocolError(Reason.MALFORMED_JSON, str(exc)) from exc


def check_reading(reading: Reading, index: int) -> None:
    """Raise ProtocolError unless the reading's value, type and unit fit its kind."""
    spec = KINDS[reading.kind]
    where = f"readings[{index}] ({reading.kind.value})"
    value = reading.value
    if value is None:
        if not reading.err:
            raise ProtocolError(Reason.SCHEMA, f"{where}: value is null without an err reason")
        return
    if spec.boolean:
        if not isinstance(value, bool):
            raise ProtocolError(Reason.WRONG_TYPE, f"{where}: expected true/false, got {value!r}")
        if reading.unit is not None:
            raise ProtocolError(Reason.WRONG_UNIT, f"{where}: boolean kinds carry no unit, got {reading.unit!r}")
        return
    if isinstance(value, bool):
        raise ProtocolError(Reason.WRONG_TYPE, f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ProtocolError(Reason.NOT_FINITE, f"{where}: {value!r} is not a finite number")
    if not spec.minimum <= value <= spec.maximum:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"{where}: {value} outside {spec.minimum}..{spec.maximum}")
    if reading.unit != spec.unit:
        raise ProtocolError(Reason.WRONG_UNIT, f"{where}: unit must be {spec.unit!r}, got {reading.unit!r}")


def check_telemetry(msg: Telemetry, received_at: float | None, limits: Limits = LIMITS) -> None:
    """Raise ProtocolError unless a structurally valid telemetry message also makes sense."""
    if msg.v != VERSION:
        raise ProtocolError(Reason.UNSUPPORTED_VERSION, f"v={msg.v}, this gateway speaks v={VERSION}")
    if not msg.readings:
        raise ProtocolError(Reason.SCHEMA, "readings is empty")
    if len(msg.readings) > limits.max_readings:
        raise ProtocolError(Reason.TOO_MANY_READINGS, f"{len(msg.readings)} readings, limit {limits.max_readings}")
    for index, reading in enumerate(msg.readings):
        check_reading(reading, index)
    if msg.ts is not None:
        if not math.isfinite(msg.ts):
            raise ProtocolError(Reason.NOT_FINITE, f"ts {msg.ts!r} is not a finite number")
        if received_at is not None:
            if msg.ts > received_at + limits.max_future_s:
                raise ProtocolError(Reason.TS_FUTURE, f"ts is {msg.ts - received_at:.0f} s in the future")
            if msg.ts < received_at - limits.max_age_s:
                raise ProtocolError(Reason.TS_ANCIENT, f"ts is {received_at - msg.ts:.0f} s old")


def decode_telemetry(payload: bytes, *, received_at: float | None = None, limits: Limits = LIMITS) -> Telemetry:
    """Decode and validate a device's telemetry; the timestamp is checked when `received_at` is given."""
    msg = _decode(payload, Telemetry, limits.max_payload)
    check_telemetry(msg, received_at, limits)
    return msg


def decode_uplink(payload: bytes, *, limits: Limits = LIMITS) -> Uplink:
    """Decode and validate one forwarded telemetry message from the gateway's uplink."""
    msg = _decode(payload, Uplink, limits.max_payload)
    check_telemetry(msg, msg.received_at, limits)
    return msg


def decode_uplink_batch(payload: bytes, *, limits: Limits = LIMITS, max_payload: int = 1 << 20) -> list[Uplink]:
    """Decode a JSON array of uplink messages (`up/{home}/batch`)."""
    batch = _decode(payload, list[Uplink], max_payload)
    for msg in batch:
        check_telemetry(msg, msg.received_at, limits)
    return batch


def decode_status(payload: bytes) -> Status:
    """Decode a device's status message."""
    return _decode(payload, Status, LIMITS.max_payload)


def decode_command(payload: bytes) -> Command:
    """Decode a command sent to a device's `set` topic."""
    return _decode(payload, Command, LIMITS.max_payload)


def decode_watermark(payload: bytes) -> Watermark:
    """Decode the gateway's watermark on a device's `ack` topic."""
    return _decode(payload, Watermark, LIMITS.max_payload)


def decode_mode_change(payload: bytes) -> ModeChange:
    """Decode a request to change the alarm mode."""
    return _decode(payload, ModeChange, LIMITS.max_payload)


def decode_mode_state(payload: bytes) -> ModeState:
    """Decode the retained alarm mode."""
    return _decode(payload, ModeState, LIMITS.max_payload)


def decode_alert(payload: bytes) -> Alert:
    """Decode an alert message."""
    return _decode(payload, Alert, LIMITS.max_payload)


def decode_alert_ack(payload: bytes) -> AlertAck:
    """Decode a request to acknowledge an alert."""
    return _decode(payload, AlertAck, LIMITS.max_payload)
