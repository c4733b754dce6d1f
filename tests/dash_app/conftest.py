"""Fixtures for the dashboard: real SQLite warehouses filled with a synthetic home, services around them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from cloud.warehouse.db import make_engine, migrate
from dash_app.config import DashboardConfig
from dash_app.sample import fill
from dash_app.services import Services
from dash_app.warehouse import Reader
from protocol.config import HomeConfig
from protocol.settings import EXAMPLE_CONFIG, load_settings

DAYS = 16  # two weeks and a bit: week-over-week change needs two full weeks


def example_home(home_id: str = "demo") -> HomeConfig:
    """The example home, under another id when a test needs its own topics."""
    home = load_settings(EXAMPLE_CONFIG, env={}).home
    return msgspec.structs.replace(home, home=msgspec.structs.replace(home.home, id=home_id))


def make_warehouse(path: Path, home: HomeConfig, now: float, **sizes: float) -> str:
    """Create, migrate and fill a SQLite warehouse; returns its URL."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    fill(engine, home, now, **sizes)  # type: ignore[arg-type]
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def sample_now() -> float:
    """The moment the sample warehouse ends."""
    return time.time()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory, sample_now: float) -> Path:
    """A filled warehouse file shared by the session (read-only tests use it as is; others copy it)."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    make_warehouse(path, example_home(), sample_now, days=DAYS, minute_days=7.2, minute_kinds={"power"})
    return path


@pytest.fixture
def writable_db(sample_db: Path, tmp_path: Path) -> Path:
    """A private copy of the sample warehouse a test may write to."""
    path = tmp_path / "warehouse.db"
    shutil.copy(sample_db, path)
    return path


def services(url: str, now: float, home: HomeConfig | None = None, **config: object) -> Services:
    """Services around a warehouse URL with a clock frozen at `now` and no broker."""
    return Services(home or example_home(), DashboardConfig(**config), Reader(url), None, lambda: now)  # type: ignore[arg-type]


@pytest.fixture
def svc(sample_db: Path, sample_now: float) -> Iterator[Services]:
    """Services reading the shared sample warehouse at its last moment."""
    made = services(f"sqlite:///{sample_db}", sample_now, gateway_metrics_url=None)
    yield made
    made.reader.close()
