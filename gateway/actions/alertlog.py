"""The local alert log: one JSON line per alert state and mode change, kept on the Pi whatever the network does."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import IO

import msgspec

from protocol import Alert, ModeState, encode

logger = logging.getLogger(__name__)


class AlertRecord(msgspec.Struct, frozen=True, tag_field="type", tag="alert"):
    """An alert state as logged."""

    alert: Alert


class ModeRecord(msgspec.Struct, frozen=True, tag_field="type", tag="mode"):
    """A mode change as logged."""

    mode: ModeState


Record = AlertRecord | ModeRecord


class AlertLog:
    """Appends records to a JSON-lines file, rotating it to `.1` past `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int = 10 << 20) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("ab")
        self._lock = threading.Lock()

    def on_alert(self, alert: Alert) -> None:
        """Log an alert state."""
        self._write(AlertRecord(alert))

    def on_mode(self, state: ModeState) -> None:
        """Log a mode change with its source."""
        self._write(ModeRecord(state))

    def _write(self, record: Record) -> None:
        with self._lock:
            self._file.write(encode(record) + b"\n")
            self._file.flush()
            if self._file.tell() > self.max_bytes:
                self._file.close()
                self.path.replace(self.path.with_suffix(self.path.suffix + ".1"))
                self._file = self.path.open("ab")
                logger.info("alert log rotated path=%s", self.path)

    def records(self) -> list[Record]:
        """Every record in the current file, oldest first."""
        with self._lock:
            lines = self.path.read_bytes().splitlines()
        return [msgspec.json.decode(line, type=Record) for line in lines if line]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()
