"""Land messages in a test warehouse the way the pipeline does: through the cloud's ingest route and store."""

from __future__ import annotations

import time

import msgspec
import sqlalchemy as sa

from cloud.ingest.route import Batch, route
from cloud.ingest.store import write
from cloud.warehouse.db import make_engine
from protocol import KINDS, Alert, AlertState, Kind, Reading, Severity, Uplink, encode
from protocol.topics import GATEWAY, Channel, uplink

_SEQ = iter(range(10**6, 10**9))


def land(url: str, topic: str, payload: bytes, now: float | None = None) -> None:
    """Ingest one uplink message into the warehouse at `url` (a write engine, as the ingest worker has)."""
    engine = make_engine(url)
    batch = Batch()
    route(batch, topic, payload, time.time() if now is None else now)
    assert not batch.rejected, batch.rejected
    write(engine, batch)
    engine.dispose()


def device_answer(url: str, home: str, device: str, readings: dict[Kind, float | bool], ts: float) -> None:
    """A device's telemetry as the gateway forwards it (what a device sends after obeying a command)."""
    message = Uplink(v=1, device=device, boot="d0d0d0", seq=next(_SEQ), ts=ts, received_at=ts + 0.01,
                     readings=tuple(Reading(kind=k, value=v, unit=KINDS[k].unit) for k, v in readings.items()))
    land(url, uplink(home, device, Channel.TELEMETRY), encode(message))


def raise_alert(url: str, home: str, alert_id: str, state: AlertState, ts: float, **fields: object) -> None:
    """An alert from the gateway, through the uplink."""
    alert = Alert(id=alert_id, rule="intrusion", severity=Severity.CRITICAL, state=state, ts=ts,
                  message="Front door opened while away", device="door-front", room="hallway")
    alert = msgspec.structs.replace(alert, **fields)
    land(url, uplink(home, GATEWAY, Channel.ALERTS), encode(alert))


def execute(url: str, statement: sa.Executable) -> None:
    """Run one write statement on the test warehouse."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(statement)
    engine.dispose()
