"""`replay-rejected`: send kept rejections through the front door again, after a config fix."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from paho.mqtt.client import MQTTMessageInfo

from gateway.service import database_path
from gateway.store import forget_rejections, kept_rejections
from protocol.endpoint import make_client
from protocol.settings import Settings

logger = logging.getLogger(__name__)


class ReplayError(RuntimeError):
    """The edge broker could not be reached or did not acknowledge the replayed messages."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """How many kept rejections were republished, and of which reasons."""

    replayed: int
    reasons: dict[str, int]


def replay_rejected(
    settings: Settings, *, reason: str | None = None, db_path: Path | None = None, timeout: float = 30.0
) -> ReplayResult:
    """Republish kept rejections on their original topics (QoS 1) and forget them once the broker has them.

    They pass the running gateway's pipeline again, with its current config: what is still wrong is rejected
    (and kept) again; what was already stored counts once, by its (device, boot, seq) key.
    """
    path = db_path or database_path(settings)
    rows = kept_rejections(path, reason)
    if not rows:
        return ReplayResult(0, {})
    client = make_client(settings.edge_url, f"gateway-{settings.home_id}-replay")
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    try:
        client.connect(settings.edge_url.host, settings.edge_url.port)
    except OSError as exc:
        raise ReplayError(f"cannot reach the edge broker {settings.edge_url}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise ReplayError(f"edge broker {settings.edge_url} did not accept the connection")
        infos: list[MQTTMessageInfo] = [client.publish(r.topic, r.payload, qos=1) for r in rows]
        for info in infos:
            info.wait_for_publish(timeout)
        forget_rejections(path, [r.id for r in rows])
    finally:
        client.disconnect()
        client.loop_stop()
    reasons: dict[str, int] = {}
    for row in rows:
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    logger.info("replayed %d kept rejections: %s", len(rows), reasons)
    return ReplayResult(len(rows), reasons)
