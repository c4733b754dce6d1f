"""Cloud fixtures: one warehouse per test, on SQLite and (when reachable) on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.warehouse.db import make_engine, migrate
from iotpipe.broker import Mosquitto
from protocol.settings import EXAMPLE_CONFIG, Settings, load_settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty warehouse URL: a SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    with pg_schema(request.getfixturevalue("pg_url")) as url:
        yield url


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A private PostgreSQL schema for one test (so parallel runs never collide), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield f"{base}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated warehouse engine, disposed after the test."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, cloud_broker: Mosquitto, tmp_path: Path) -> Settings:
    """The example home wired to the session's cloud broker and this test's warehouse."""
    return load_settings(EXAMPLE_CONFIG, cloud_url=cloud_broker.url, db_url=db_url, var=tmp_path / "var", env={})
