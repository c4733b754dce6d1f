"""Engines for the warehouse (SQLite by default, PostgreSQL by URL) and programmatic Alembic migrations."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

logger = logging.getLogger(__name__)
logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of ours per migration instead of Alembic's dozen
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for `postgresql://` URLs (SQLAlchemy would pick psycopg2, which we do not ship)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine: sa.Engine) -> bool:
    """True for a SQLite engine."""
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL so readers never block the writer; FULL so a commit (and so an ack) survives power loss."""
    cursor = dbapi_conn.cursor()
    # A 64 MiB page cache keeps the readings indexes in memory during bulk loads.
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "cache_size=-65536"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for the warehouse URL; a SQLite file's folder is created on demand."""
    url = normalise_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "mode=ro" not in url:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def readonly_engine(url: str) -> sa.Engine:
    """An engine that cannot write: SQLite opened `mode=ro`, PostgreSQL in read-only transactions."""
    url = normalise_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").resolve()
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    return sa.create_engine(url, pool_pre_ping=True, execution_options={"postgresql_readonly": True})


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic config pointing at our migrations and handing them an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Serialise concurrent starts: several workers may run `migrate` at the same moment."""
    if is_sqlite(engine) and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(f"{engine.url.database}.migrate.lock")
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        return
    yield


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the `alembic upgrade head` equivalent), safe to run on every start."""
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(4711)"))
        command.upgrade(alembic_config(connection), revision)
    logger.info("warehouse migrated url=%s revision=%s", engine.url.render_as_string(hide_password=True), revision)
