"""Builders of the uplink messages a gateway forwards, for the cloud tests to publish."""

from __future__ import annotations

from typing import Any

from protocol import Kind, Reading, Uplink, encode

UNITS = {Kind.POWER: "W", Kind.ENERGY: "kWh", Kind.TEMPERATURE: "°C", Kind.HUMIDITY: "%", Kind.VOLTAGE: "V"}


def uplink(device: str, seq: int, *values: tuple[Kind, Any], ts: float = 1_764_460_000.0, boot: str = "ab12",
           room: str | None = None, appliance: str | None = None, received_at: float | None = None) -> Uplink:
    """A forwarded telemetry message with the given (kind, value) readings."""
    readings = tuple(Reading(kind, value, UNITS.get(kind)) for kind, value in values)
    return Uplink(v=1, device=device, boot=boot, seq=seq, readings=readings, ts=ts,
                  received_at=ts + 0.05 if received_at is None else received_at, room=room, appliance=appliance)


def payload(msg: Uplink | list[Uplink] | dict[str, Any]) -> bytes:
    """The message as JSON bytes."""
    return encode(msg)  # type: ignore[arg-type]
