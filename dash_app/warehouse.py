"""Read-only access to the warehouse: DataFrames out, database trouble turned into two clear states."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

logger = logging.getLogger(__name__)
POOL: dict[str, Any] = {"pool_size": 3, "max_overflow": 5}  # a few callbacks at a time; each connection has a cache
_EMPTY_HINTS = ("no such table", "unable to open database file", "does not exist")


def readonly_engine(url: str) -> sa.Engine:
    """An engine that cannot write: SQLite opened `mode=ro`, PostgreSQL in read-only transactions.

    The same as `cloud.warehouse.db.readonly_engine`, which this does not import: that module loads Alembic
    (~10 MiB) for migrations the dashboard never runs.
    """
    if url.startswith(("postgresql://", "postgres://")):  # psycopg 3, as the cloud's engines use
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").resolve()
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", **POOL)
    return sa.create_engine(url, pool_pre_ping=True, execution_options={"postgresql_readonly": True}, **POOL)


class WarehouseError(Exception):
    """Base of the reader's errors; the message is fit for a page (no SQL, no paths)."""


class WarehouseEmptyError(WarehouseError):
    """The warehouse has not been created yet: a new install, nothing ingested."""


class WarehouseDownError(WarehouseError):
    """The database cannot be reached right now; pages say "reconnecting"."""


class Reader:
    """Runs SELECTs on a read-only engine; logs an outage once and its recovery once."""

    def __init__(self, db_url: str) -> None:
        self.engine = readonly_engine(db_url)
        self._down = False
        self._lock = threading.Lock()

    def frame(self, stmt: sa.Executable, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one SELECT and return its rows as a DataFrame (columns named as selected)."""
        try:
            with self.engine.connect() as conn:
                result = conn.execute(stmt, params or {})
                columns = list(result.keys())
                # plain tuples: pandas builds a frame from them ~10x faster than from SQLAlchemy Rows
                frame = pd.DataFrame([tuple(row) for row in result.fetchall()], columns=columns)
        except sa.exc.DBAPIError as exc:
            raise self._failed(exc) from exc
        self._recovered()
        return frame

    def _failed(self, exc: sa.exc.DBAPIError) -> WarehouseError:
        text = str(exc.orig).lower()
        if any(hint in text for hint in _EMPTY_HINTS) and not isinstance(exc, sa.exc.InterfaceError):
            return WarehouseEmptyError("no data yet: the warehouse is empty")
        with self._lock:
            if not self._down:
                logger.warning("warehouse unreachable: %s", type(exc.orig).__name__)
            self._down = True
        return WarehouseDownError("reconnecting to the warehouse…")

    def _recovered(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    logger.info("warehouse reachable again")
                self._down = False

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
