"""Empty warehouse, a new install, an unreachable database: every page says so in words, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.warehouse.db import make_engine, migrate
from dash_app.app import banner
from dash_app.pages import energy, home, security, system
from dash_app.services import Services
from dash_app.warehouse import Reader, WarehouseDownError
from tests.dash_app.conftest import services
from tests.dash_app.test_pages import text

NOW = 1_800_000_000.0
VIEWS: dict[str, Callable[[Services], Any]] = {
    "rooms": home.room_cards,
    "switches": lambda svc: home.switch_view(svc, {}, ["light-living"])[0],
    "power now": energy.power_now,
    "live": energy.live_figure,
    "history": lambda svc: energy.history_figure(svc, "week")[0],
    "hogs": energy.hogs_view,
    "threshold": lambda svc: energy.threshold_view(svc, 3000.0),
    "events": lambda svc: security.events_view(svc, security.Form(), 1)[0],
    "climate": security.climate_view,
    "throughput": system.throughput_view,
    "devices": system.devices_view,
    "rejected": system.rejected_figure,
    "etl": system.etl_view,
}


def shown(result: Any) -> str:
    """What a view shows: the annotation of an empty figure, else the component text."""
    if isinstance(result, dict) and "layout" in result:
        assert not result["data"], "a figure without data must draw nothing"
        return " ".join(a["text"] for a in result["layout"]["annotations"])
    return text(result)


@pytest.fixture
def missing(tmp_path: Path) -> Iterator[Services]:
    """A new install: the warehouse file does not exist yet."""
    made = services(f"sqlite:///{tmp_path / 'nothing' / 'warehouse.db'}", NOW, gateway_metrics_url=None)
    yield made
    made.reader.close()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Services]:
    """A migrated warehouse with no rows."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    made = services(url, NOW, gateway_metrics_url=None)
    yield made
    made.reader.close()


@pytest.fixture
def unreachable() -> Iterator[Services]:
    """A PostgreSQL warehouse whose server does not answer (port 9 refuses)."""
    made = services("postgresql+psycopg://iotpipe@127.0.0.1:9/iotpipe", NOW, gateway_metrics_url=None)
    yield made
    made.reader.close()


@pytest.mark.parametrize("view", VIEWS)
def test_new_install_says_no_data_yet(missing: Services, view: str) -> None:
    words = shown(VIEWS[view](missing)).lower()
    assert "no data yet" in words and "traceback" not in words


@pytest.mark.parametrize("view", VIEWS)
def test_empty_warehouse_says_what_is_missing(empty: Services, view: str) -> None:
    words = shown(VIEWS[view](empty)).lower()
    said = ("no data yet", "no power", "no energy", "not run yet", "no security events", "no messages", "never seen",
            "no rejected", "no daily energy", "stayed under")
    assert any(w in words for w in said), words


@pytest.mark.parametrize("view", VIEWS)
def test_unreachable_database_says_reconnecting(unreachable: Services, view: str) -> None:
    words = shown(VIEWS[view](unreachable)).lower()
    assert "reconnecting" in words, words


def test_the_banner_stays_quiet_when_the_database_is_down(unreachable: Services, missing: Services) -> None:
    assert banner(unreachable, {}) == ([], []) and banner(missing, {}) == ([], [])


def test_an_outage_is_logged_once_and_its_recovery_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = Reader("postgresql+psycopg://iotpipe@127.0.0.1:9/iotpipe")
    caplog.set_level(logging.INFO, logger="dash_app.warehouse")
    for _ in range(3):
        with pytest.raises(WarehouseDownError):
            reader.frame(sa.text("SELECT 1"))
    url = f"sqlite:///{tmp_path / 'w.db'}"
    make_engine(url).dispose()
    with make_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    reader.engine = Reader(url).engine  # the database comes back
    reader.frame(sa.text("SELECT 1"))
    reader.frame(sa.text("SELECT 1"))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1 and sum("reachable again" in m for m in messages) == 1
    reader.close()
