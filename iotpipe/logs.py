"""One-line, structured log output for every service (journald- and grep-friendly)."""

from __future__ import annotations

import logging
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (stdlib name)
        """ISO 8601 UTC with milliseconds."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def setup(level: int = logging.INFO) -> None:
    """Send one line per event to stderr, UTC timestamps; quiet the chatty libraries."""
    handler = logging.StreamHandler()
    handler.setFormatter(_UTCFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("werkzeug", "urllib3", "matplotlib", "asyncio", "coap", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
