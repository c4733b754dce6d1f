"""The intake pipeline as plain functions: parse the topic, decode + validate, check identity, enrich."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import SECURITY_KINDS, ProtocolError, Reason, Rejection, Telemetry, Topic, Uplink, topics
from protocol.codec import decode_status, decode_telemetry
from protocol.config import Device, HomeConfig
from protocol.messages import Status

MAX_KEPT_TEXT = 4096  # a dead-letter message shows at most this much of the refused payload


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as the MQTT callback hands it on: nothing decoded yet."""

    topic: str
    payload: bytes
    received_at: float
    mid: int = 0
    qos: int = 0
    generation: int = 0  # which edge connection delivered it; acks never cross a reconnect
    local: bool = False  # made by the gateway itself (an alert, a mode change): goes to the outbox as it is


class TopicCache:
    """Parsed topics of this home; a device publishes on the same few topics all day, so parse each once."""

    def __init__(self, home: str, limit: int = 4096) -> None:
        self.home = home
        self.limit = limit
        self._parsed: dict[str, Topic] = {}

    def parse(self, topic: str) -> Topic:
        """Parse an edge topic of this home; ProtocolError(bad_topic) otherwise."""
        found = self._parsed.get(topic)
        if found is not None:
            return found
        parsed = topics.parse(topic)
        if parsed.home != self.home:
            raise ProtocolError(Reason.BAD_TOPIC, f"topic {topic!r} is not of home {self.home!r}")
        if len(self._parsed) < self.limit:
            self._parsed[topic] = parsed
        return parsed


def validate(topic: Topic, payload: bytes, received_at: float) -> Telemetry:
    """Decode and check a telemetry payload; its device must be the topic's (else identity_mismatch)."""
    telemetry = decode_telemetry(payload, received_at=received_at)
    if telemetry.device != topic.device:
        raise ProtocolError(
            Reason.IDENTITY_MISMATCH, f"payload names device {telemetry.device!r}, topic names {topic.device!r}"
        )
    return telemetry


def validate_status(payload: bytes) -> Status:
    """Decode a device's status message."""
    return decode_status(payload)


def lookup(home: HomeConfig, device: str, register_unknown: bool) -> Device | None:
    """The configured device; unknown ones are refused (unknown_device) unless `register_unknown`."""
    found = home.device(device)
    if found is None and not register_unknown:
        raise ProtocolError(Reason.UNKNOWN_DEVICE, f"device {device!r} is not in the home config")
    return found


def enrich(telemetry: Telemetry, received_at: float, device: Device | None) -> Uplink:
    """The uplink message: the telemetry as sent, plus receive time, room and appliance."""
    return Uplink(
        v=telemetry.v,
        device=telemetry.device,
        boot=telemetry.boot,
        seq=telemetry.seq,
        readings=telemetry.readings,
        ts=telemetry.ts,
        received_at=received_at,
        room=device.room if device else None,
        appliance=device.appliance if device else None,
    )


def is_security(telemetry: Telemetry) -> bool:
    """True when a reading is contact, motion or smoke: such rows are never dropped from a full outbox."""
    return any(reading.kind in SECURITY_KINDS for reading in telemetry.readings)


def rejection(error: ProtocolError, message: Incoming) -> Rejection:
    """The dead-letter record of a refused message."""
    text = message.payload[:MAX_KEPT_TEXT].decode("utf-8", errors="replace")
    return Rejection(
        reason=error.reason, detail=error.detail, topic=message.topic, received_at=message.received_at, payload=text
    )
