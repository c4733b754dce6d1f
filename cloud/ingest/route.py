"""Turn uplink messages into warehouse records: pure functions, no I/O, one Batch per database transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import msgspec

from protocol import GATEWAY, Alert, Channel, ProtocolError, Reason, Uplink, topics
from protocol.codec import decode_alert, decode_status, decode_uplink, decode_uplink_batch
from protocol.frame import READING_COLUMNS, rows

PAYLOAD_KEEP = 2000  # characters of a rejected payload kept for diagnosis
Row = tuple[Any, ...]
# Reading rows as stored: the contract's columns plus event time `t` and `ingested_at`.
ROW_COLUMNS: tuple[str, ...] = (*READING_COLUMNS, "t", "ingested_at")


@dataclass(slots=True)
class Seen:
    """What one batch learned about a device: when it was first and last heard, where it lives."""

    first: float
    last: float
    room: str | None = None
    appliance: str | None = None
    online: bool | None = None
    status_at: float | None = None
    fw: str | None = None


@dataclass(slots=True)
class Batch:
    """Everything one transaction writes; filled by `route`, emptied by the store."""

    readings: list[Row] = field(default_factory=list)
    devices: dict[tuple[str, str], Seen] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0

    def seen(self, home: str, device: str, at: float) -> Seen:
        """The device's record in this batch, widened to include `at`."""
        entry = self.devices.get((home, device))
        if entry is None:
            entry = self.devices[(home, device)] = Seen(at, at)
        else:
            entry.first, entry.last = min(entry.first, at), max(entry.last, at)
        return entry


def route(batch: Batch, topic: str, payload: bytes, now: float) -> None:
    """Decode one uplink message into `batch`; a bad one becomes a `rejected` record, never an exception."""
    batch.messages += 1
    try:
        home, rest = _split(topic)
        if rest == "batch":
            _telemetry(batch, home, decode_uplink_batch(payload), now)
            return
        parsed = topics.parse(topic, prefix="up")
        if parsed.device == GATEWAY:
            _gateway(batch, home, parsed.channel, payload, now)
        elif parsed.channel is Channel.TELEMETRY:
            msg = decode_uplink(payload)
            if msg.device != parsed.device:
                raise ProtocolError(Reason.IDENTITY_MISMATCH, f"topic device {parsed.device!r} != {msg.device!r}")
            _telemetry(batch, home, [msg], now)
        elif parsed.channel is Channel.STATUS:
            _status(batch, home, parsed.device, payload, now)
        else:
            raise ProtocolError(Reason.BAD_TOPIC, f"channel {parsed.channel.value!r} is not carried on the uplink")
    except ProtocolError as exc:
        batch.rejected.append(rejection(topic, payload, exc.reason.value, exc.detail, now))


def rejection(topic: str, payload: bytes, reason: str, detail: str, now: float) -> dict[str, Any]:
    """A `rejected` row: the reason, and as much of the payload as is useful."""
    parts = topic.split("/")
    home = parts[1] if len(parts) > 1 and topics.valid_id(parts[1]) else None
    text = payload[:PAYLOAD_KEEP].decode("utf-8", errors="replace")
    return {"home": home, "topic": topic[:300], "reason": reason, "detail": detail[:500], "payload": text,
            "received_at": now}


def _split(topic: str) -> tuple[str, str]:
    """`up/{home}/rest...` -> (home, rest); anything else is a bad topic."""
    parts = topic.split("/", 2)
    if len(parts) < 3 or parts[0] != "up":
        raise ProtocolError(Reason.BAD_TOPIC, f"topic {topic!r} is not up/{{home}}/...")
    return topics.check_id(parts[1], "home"), parts[2]


def _telemetry(batch: Batch, home: str, messages: list[Uplink], now: float) -> None:
    """Flatten forwarded telemetry into reading rows and note each device as seen."""
    for msg in messages:
        t = msg.received_at if msg.ts is None else msg.ts
        batch.readings.extend((*row, t, now) for row in rows(home, msg))
        entry = batch.seen(home, msg.device, msg.received_at)
        entry.room, entry.appliance = msg.room or entry.room, msg.appliance or entry.appliance


def _status(batch: Batch, home: str, device: str, payload: bytes, now: float) -> None:
    """A device's or the gateway's retained presence."""
    status = decode_status(payload)
    at = status.ts or now
    entry = batch.seen(home, device, at) if status.online else batch.devices.setdefault((home, device), Seen(at, at))
    entry.online, entry.status_at, entry.fw = status.online, at, status.fw or entry.fw
    if device == GATEWAY:  # the gateway's presence timeline feeds the security log's "gateway online" column
        batch.events.append(event_row(home, {"type": "gateway_status", "ts": at, "online": status.online}))


def _gateway(batch: Batch, home: str, channel: Channel, payload: bytes, now: float) -> None:
    """The gateway's own topics: alerts, events and its status."""
    if channel is Channel.ALERTS:
        batch.alerts.append(alert_row(home, decode_alert(payload), source="gateway"))
    elif channel is Channel.EVENTS:
        _gateway_event(batch, home, payload, now)
    elif channel is Channel.STATUS:
        _status(batch, home, GATEWAY, payload, now)
    else:
        raise ProtocolError(Reason.BAD_TOPIC, f"gateway channel {channel.value!r} is not carried on the uplink")


def _gateway_event(batch: Batch, home: str, payload: bytes, now: float) -> None:
    """A free-form gateway event: a JSON object with a string `type` (or `event`) and a numeric `ts`; a bare
    ModeState (`mode`, `since`, ...) is a mode change at `since`."""
    try:
        event = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise ProtocolError(Reason.MALFORMED_JSON, str(exc)) from exc
    if not isinstance(event, dict):
        raise ProtocolError(Reason.WRONG_TYPE, "an event must be a JSON object")
    if "type" not in event and "event" not in event and "mode" in event:  # the gateway sends a bare ModeState
        event = {"type": "mode", "ts": event.get("since"), **event}
    kind, ts = event.get("type", event.get("event")), event.get("ts")
    if not isinstance(kind, str) or not kind or len(kind) > 40:
        raise ProtocolError(Reason.SCHEMA, "event needs a string `type` of 1..40 characters")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise ProtocolError(Reason.SCHEMA, "event needs a numeric `ts`")
    batch.events.append(event_row(home, {**event, "type": kind}))
    device, online = event.get("device"), _online(event)
    if isinstance(device, str) and topics.valid_id(device) and online is not None:
        entry = batch.devices.setdefault((home, device), Seen(float(ts), float(ts)))
        entry.online, entry.status_at = online, float(ts)


def _online(event: dict[str, Any]) -> bool | None:
    """A device's presence in an event: `online` at the top level or inside a forwarded `status`."""
    status = event.get("status")
    online = status.get("online") if isinstance(status, dict) else event.get("online")
    return online if isinstance(online, bool) else None


def event_row(home: str, event: dict[str, Any]) -> dict[str, Any]:
    """A `gateway_events` row; the digest of its canonical JSON makes a redelivery a no-op."""
    text = json.dumps(event, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
    return {"home": home, "type": str(event["type"]), "ts": float(event["ts"]), "payload": text, "digest": digest}


def alert_row(home: str, alert: Alert, *, source: str) -> dict[str, Any]:
    """An `alerts` row from an Alert message."""
    value = None if alert.value is None else float(alert.value)
    return {"home": home, "alert_id": alert.id, "source": source, "rule": alert.rule, "severity": alert.severity.value,
            "state": alert.state.value, "ts": alert.ts, "message": alert.message, "device": alert.device,
            "room": alert.room, "value": value, "notified": False}
