"""What the HTTP and CoAP intakes share: a body (one message or a JSON array) to validated messages, and the
`Committer` that makes them durable before the intake answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from protocol import ProtocolError, Reason, Telemetry, decode_telemetry
from protocol.config import HomeConfig

MAX_BODY = 1 << 20  # a batch of 256 full-size messages
MAX_BATCH = 500


class CommitError(RuntimeError):
    """The messages could not be made durable now; the client should retry later with the same keys."""


class Committer(Protocol):
    """Makes accepted messages durable (the gateway's outbox) and returns only then; raises CommitError."""

    def commit(self, messages: Sequence[Telemetry], received_at: float, source: str) -> None:
        """Store `messages` durably, or raise CommitError."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An intake's reply: `status` is an HTTP code (CoAP maps it), `body` JSON."""

    status: int
    body: bytes


def decode_body(body: bytes, received_at: float, home: HomeConfig, register_unknown: bool) -> list[Telemetry]:
    """One message or a JSON array of them, each held to the MQTT contract; ProtocolError names the index."""
    if len(body) > MAX_BODY:
        raise ProtocolError(Reason.TOO_LARGE, f"body is {len(body)} bytes, limit {MAX_BODY}")
    if body.lstrip()[:1] != b"[":
        return [_checked(body, received_at, home, register_unknown)]
    try:
        items = msgspec.json.decode(body, type=list[msgspec.Raw])
    except msgspec.DecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(Reason.NOT_UTF8, "body is not UTF-8") from exc
        raise ProtocolError(Reason.MALFORMED_JSON, str(exc)) from exc
    if not items:
        raise ProtocolError(Reason.SCHEMA, "the batch is empty")
    if len(items) > MAX_BATCH:
        raise ProtocolError(Reason.TOO_LARGE, f"the batch has {len(items)} messages, limit {MAX_BATCH}")
    messages = []
    for index, raw in enumerate(items):
        try:
            messages.append(_checked(bytes(raw), received_at, home, register_unknown))
        except ProtocolError as exc:
            raise ProtocolError(exc.reason, f"message [{index}]: {exc.detail}") from exc
    return messages


def _checked(payload: bytes, received_at: float, home: HomeConfig, register_unknown: bool) -> Telemetry:
    msg = decode_telemetry(payload, received_at=received_at)
    if not register_unknown and home.device(msg.device) is None:
        raise ProtocolError(Reason.UNKNOWN_DEVICE, f"device {msg.device!r} is not in the home config")
    return msg


def submit(
    body: bytes,
    received_at: float,
    home: HomeConfig,
    committer: Committer,
    *,
    source: str,
    register_unknown: bool = False,
) -> Answer:
    """The whole intake contract: 202 after commit, 4xx with the reason code, 503 when the commit failed."""
    try:
        messages = decode_body(body, received_at, home, register_unknown)
    except ProtocolError as exc:
        status = 413 if exc.reason is Reason.TOO_LARGE else 400
        return Answer(status, msgspec.json.encode({"reason": exc.reason.value, "detail": exc.detail}))
    try:
        committer.commit(messages, received_at, source)
    except CommitError as exc:
        return Answer(503, msgspec.json.encode({"reason": "unavailable", "detail": str(exc)}))
    return Answer(202, msgspec.json.encode({"accepted": len(messages)}))
