"""The typed messages that flow through the pipeline; msgspec structs are frozen and slotted."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from protocol.errors import Reason
from protocol.kinds import Kind
from protocol.topics import ID_PATTERN

DeviceId = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="[a-z0-9-]{1,40}")]
BootId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{4,16}$", description="random hex per device boot")]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53, description="per-boot message counter, from 1")]
Epoch = Annotated[float, msgspec.Meta(description="UTC epoch seconds")]
ShortText = Annotated[str, msgspec.Meta(max_length=120)]


class Reading(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One measured value; `value` null with `err` set means the sensor failed (never a fake value)."""

    kind: Kind
    value: bool | float | None
    unit: str | None = None
    err: ShortText | None = None


class Telemetry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """A device's readings; `(device, boot, seq)` identifies it everywhere."""

    v: int
    device: DeviceId
    boot: BootId
    seq: Seq
    readings: tuple[Reading, ...]
    ts: Epoch | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """The identity key `(device, boot, seq)`."""
        return (self.device, self.boot, self.seq)


class Uplink(Telemetry, frozen=True, forbid_unknown_fields=True, gc=False, kw_only=True):
    """Telemetry as the gateway forwards it: as sent, plus receive time and what the gateway knows."""

    received_at: Epoch
    room: DeviceId | None = None
    appliance: ShortText | None = None


class Status(msgspec.Struct, frozen=True, gc=False):
    """A device's retained presence; its LWT publishes `{"online": false}`."""

    online: bool
    fw: ShortText | None = None
    boot: BootId | None = None
    dropped: Annotated[int, msgspec.Meta(ge=0)] = 0
    interval: Annotated[float, msgspec.Meta(gt=0)] | None = None
    ts: Epoch | None = None


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """A command to a device on its `set` topic; the device answers with telemetry."""

    switch: bool | None = None
    id: ShortText | None = None


class Watermark(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """The gateway's durable watermark: every seq <= `seq` of `boot` is stored."""

    boot: BootId
    seq: Seq


class AlarmMode(StrEnum):
    """The alarm's arming mode."""

    DISARMED = "disarmed"
    HOME = "home"
    AWAY = "away"
    NIGHT = "night"


class ModeChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """A request on `gateway/mode/set` to change the alarm mode."""

    mode: AlarmMode
    by: ShortText | None = None


class ModeState(msgspec.Struct, frozen=True, gc=False):
    """The retained alarm mode on `gateway/mode`, with who set it, from where, and any exit delay."""

    mode: AlarmMode
    since: Epoch
    source: ShortText
    by: ShortText | None = None
    armed_at: Epoch | None = None


class Severity(StrEnum):
    """How loud an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    """Where an alert is in its lifecycle."""

    PENDING = "pending"
    TRIGGERED = "triggered"
    RAISED = "raised"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


class Alert(msgspec.Struct, frozen=True, gc=False):
    """An alert raised at the edge or in the cloud; `id` is stable across its lifecycle."""

    id: ShortText
    rule: ShortText
    severity: Severity
    state: AlertState
    ts: Epoch
    message: Annotated[str, msgspec.Meta(max_length=500)]
    device: DeviceId | None = None
    room: DeviceId | None = None
    value: bool | float | None = None
    ack_by: ShortText | None = None
    ack_at: Epoch | None = None


class AlertAck(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """A request on `gateway/alerts/ack` to acknowledge an alert by its id; the gateway records who and when."""

    id: ShortText
    by: ShortText


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """A message that failed validation, as published on the dead-letter topic."""

    reason: Reason
    detail: str
    topic: str
    received_at: Epoch
    payload: str
