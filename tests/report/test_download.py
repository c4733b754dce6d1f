"""The dashboard's report download: the PDF of the period on the Energy page, built from the same warehouse."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from dash_app import report_download
from dash_app.app import create_app
from dash_app.config import DashboardConfig
from dash_app.pages import energy
from dash_app.services import Services
from dash_app.warehouse import Reader
from tests.report.conftest import DAYS, Warehouse
from tests.report.test_report import FIRST, LAST, true_total_kwh


def services(w: Warehouse, url: str | None = None) -> Services:
    """The dashboard's services around a warehouse, its clock at noon of the sample's last day."""
    noon = dt.datetime.combine(LAST, dt.time(12), ZoneInfo(w.settings.home.home.timezone)).timestamp()
    return Services(w.settings.home, DashboardConfig(gateway_metrics_url=None), Reader(url or w.settings.db_url),
                    None, lambda: noon)


def ids_in(node: Any) -> set[str]:
    """Every component id in a layout tree."""
    found = {node.id} if isinstance(getattr(node, "id", None), str) else set()
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found |= ids_in(child)
    return found


def test_download_is_the_report_of_the_period_on_screen(warehouse: Warehouse) -> None:
    svc = services(warehouse)
    first, last = report_download.period_on_screen(svc, "day")
    assert (first, last) == (LAST - dt.timedelta(days=31), LAST)
    payload, status = report_download.report_file(svc, "day")
    svc.reader.close()
    assert payload is not None
    assert payload["filename"] == f"report-demo-{first:%Y%m%d}-{last:%Y%m%d}.pdf"
    assert payload["type"] == "application/pdf" and status.endswith("pages")
    pdf = PdfReader(io.BytesIO(base64.b64decode(payload["content"])))
    text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    assert f"The home used {true_total_kwh(warehouse):,.2f} kWh" in text  # the sample's days fall inside the period
    assert f"over {(last - first).days + 1} day(s)" in text and (last - FIRST).days + 1 >= DAYS


def test_download_from_an_unreadable_warehouse_says_why(warehouse: Warehouse, tmp_path: Path) -> None:
    svc = services(warehouse, f"sqlite:///{tmp_path / 'none.db'}")
    payload, status = report_download.report_file(svc, "week")
    svc.reader.close()
    assert payload is None and status.startswith("No report: warehouse")


def test_energy_page_offers_the_download(warehouse: Warehouse) -> None:
    svc = services(warehouse)
    assert {report_download.BUTTON, report_download.DOWNLOAD} <= ids_in(energy.layout(svc))
    app = create_app(svc, login=False)
    assert any(report_download.DOWNLOAD in output for output in app.callback_map)
    svc.reader.close()
