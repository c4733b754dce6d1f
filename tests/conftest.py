"""Shared fixtures: private Mosquitto brokers on free ports, unique homes per test, PostgreSQL when reachable."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iotpipe.broker import Mosquitto

PG_URL = os.environ.get("IOTPIPE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="run soak and chaos tests in their long form")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long form only: pass --long (the short form runs by default)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private edge Mosquitto for the whole session; tests must not stop it (use `make_broker`)."""
    with Mosquitto(tmp_path_factory.mktemp("edge-broker"), config="edge") as server:
        yield server


@pytest.fixture(scope="session")
def cloud_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private cloud Mosquitto for the whole session; tests must not stop it (use `make_broker`)."""
    with Mosquitto(tmp_path_factory.mktemp("cloud-broker"), config="cloud") as server:
        yield server


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """A factory of brokers owned by one test, which may stop, kill and restart them; all stopped at the end."""
    made: list[Mosquitto] = []

    def make(config: str = "edge", extra: str = "") -> Mosquitto:
        server = Mosquitto(tmp_path / f"{config}-{len(made)}", config=config, extra=extra)
        made.append(server)
        server.start()
        return server

    yield make
    for server in made:
        server.kill()


@pytest.fixture
def home_id(request: pytest.FixtureRequest) -> str:
    """A home id unique to this test, so tests sharing a broker never see each other's topics."""
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:28].strip("-")
    return f"t{abs(hash(request.node.nodeid)) % 10**6}-{name}"[:40].rstrip("-")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL URL, or skip (with the reason) when no server answers."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not reachable here"
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    return PG_URL
