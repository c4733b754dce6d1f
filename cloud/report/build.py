"""Build the PDF report: read the warehouse (read-only), draw the charts, lay out the pages, with a progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tqdm import tqdm

from cloud.config import cloud_config
from cloud.report import charts, document, perf
from cloud.report.data import DEFAULT_THRESHOLD_W, ReportData, gather
from cloud.report.errors import ReportInputError
from cloud.report.pdf import Document
from cloud.report.period import Period
from cloud.report.summary import summary
from cloud.warehouse.db import readonly_engine
from protocol.settings import Settings

logger = logging.getLogger(__name__)
STEPS = ("read the warehouse", "draw the charts", "lay out the pages", "write the PDF")


@dataclass(frozen=True, slots=True)
class Report:
    """What was built: where, how many pages, whether the period had data, and the summary's sentences."""

    path: Path
    pages: int
    empty: bool
    summary: tuple[str, ...]


def threshold(settings: Settings) -> float:
    """The dashboard's consumption threshold (its `[dashboard]` key), so both show the same breaches."""
    value = settings.home.dashboard.get("consumption_threshold_w", DEFAULT_THRESHOLD_W)
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_THRESHOLD_W


def read(engine: sa.Engine, settings: Settings, period: Period) -> ReportData:
    """Gather the figures; a missing or unmigrated warehouse becomes a ReportInputError naming it."""
    try:
        with engine.connect() as conn:
            return gather(conn, settings.home, period, threshold(settings))
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        url = sa.make_url(settings.db_url).render_as_string(hide_password=True)
        raise ReportInputError(f"warehouse {url}: cannot read it ({exc.orig}); run `iotpipe etl` first") from exc


def draw(data: ReportData) -> dict[str, bytes]:
    """Every chart the figures allow."""
    e, out = data.energy, {}
    if len(e.daily) > 1:
        out["daily"] = charts.daily(e.daily)
    if len(e.appliances):
        out["appliances"] = charts.appliances(e.appliances)
    if len(e.hourly):
        out["hourly"] = charts.hourly(e.hourly, int(e.hourly.loc[e.hourly["watts"].idxmax(), "hour"]))
    if len(data.security.events):
        out["security"] = charts.security(data.security.events)
    if len(data.climate.rooms):
        out["climate"] = charts.climate(data.climate.rooms)
    return out


def lay_out(data: ReportData, drawn: dict[str, bytes], lines: list[str], generated: float) -> Document:
    """The document: cover and summary, then each section (or the "no data" page), then performance."""
    doc = Document(f"Home report: {data.home.home.name}", data.period.label())
    document.cover(doc, data, lines, generated)
    if data.empty:
        document.no_data(doc, data)
    else:
        document.energy(doc, data, drawn)
        document.security(doc, data, drawn)
        document.climate(doc, data, drawn)
        document.availability(doc, data)
    document.performance(doc, data)
    return doc


def build(settings: Settings, period: Period, out: Path, *, bench: Path | None = None, progress: bool = True,
          engine: sa.Engine | None = None, now: Callable[[], float] = time.time) -> Report:
    """Build the report for `period` into `out` (bench results from `bench` when given)."""
    results: dict[str, Any] = perf.load(bench) if bench is not None else {}
    own = engine is None
    engine = engine or readonly_engine(settings.db_url)
    standby_w = cloud_config(settings).standby_w
    with tqdm(total=len(STEPS), desc="report", unit="step", disable=not progress) as bar:
        try:
            bar.set_postfix_str(STEPS[0])
            data = read(engine, settings, period)
        finally:
            if own:
                engine.dispose()
        data.bench = results
        bar.update(1)
        bar.set_postfix_str(STEPS[1])
        drawn = draw(data) if not data.empty else {}
        bar.update(1)
        bar.set_postfix_str(STEPS[2])
        lines = summary(data, standby_w) if not data.empty else [f"No data for {period.label()}."]
        doc = lay_out(data, drawn, lines, now())
        bar.update(1)
        bar.set_postfix_str(STEPS[3])
        _write(doc, out)
        bar.update(1)
    logger.info("report written path=%s pages=%d empty=%s", out, doc.pages_count, data.empty)
    return Report(out, doc.pages_count, data.empty, tuple(lines))


def _write(doc: Document, out: Path) -> None:
    """Write the PDF next to its final name, then move it there, so a reader never sees half a file."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        doc.output(str(tmp))
        tmp.replace(out)
    except OSError as exc:
        raise ReportInputError(f"--out {out}: cannot write ({exc.strerror or exc})") from exc
