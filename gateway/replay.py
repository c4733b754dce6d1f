"""`replay-rejected`: run kept rejections through the gateway's pipeline again, after a config fix."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from gateway.service import database_path
from gateway.store import replay_status, request_replay
from protocol.settings import Settings


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Rows flagged for replay, rows the gateway has not reached yet, and what it refused again, by reason."""

    queued: int
    waiting: int
    rejected_again: dict[str, int]


def replay_rejected(
    settings: Settings, *, reason: str | None = None, db_path: Path | None = None, wait: float = 30.0
) -> ReplayResult:
    """Flag kept rejections for replay and wait up to `wait` s for the running gateway to process them.

    The gateway's writer picks them up within a tick (or at its next start) and runs them through the same
    pipeline with its current config and their original receive time: what is still wrong is rejected (and kept)
    again; what was stored before counts once, by its (device, boot, seq) key. Going through the database, not
    the broker, needs no broker rights beyond the gateway's own.
    """
    path = db_path or database_path(settings)
    if not path.exists():
        return ReplayResult(0, 0, {})
    queued, top = request_replay(path, reason)
    deadline = time.monotonic() + wait
    waiting, again = replay_status(path, top)
    while queued and waiting and time.monotonic() < deadline:
        time.sleep(0.1)  # polling another process's progress; nothing to wait on but the file
        waiting, again = replay_status(path, top)
    return ReplayResult(queued, waiting, again)
