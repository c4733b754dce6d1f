"""Gateway events forwarded on `up/{home}/gateway/events`: device status changes, lost gaps, outbox drops."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from protocol import Status


class EventKind(StrEnum):
    """What happened."""

    STATUS = "status"  # a device's status changed (online, firmware, ...)
    LOST = "lost"  # a gap of seqs no device resend filled within the gap timeout
    DROPPED = "dropped"  # routine telemetry deleted from a full outbox
    STARTED = "started"
    STOPPED = "stopped"


class GatewayEvent(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One event; fields beyond `event` and `ts` depend on the kind."""

    event: EventKind
    ts: float
    device: str | None = None
    boot: str | None = None
    first: int | None = None  # lost: first and last seq of the range
    last: int | None = None
    count: int | None = None  # lost: seqs in the range; dropped: rows deleted
    status: Status | None = None


def encode_event(event: GatewayEvent) -> bytes:
    """JSON bytes of an event."""
    return msgspec.json.encode(event)
