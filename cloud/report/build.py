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

from cloud.config import CloudConfig, cloud_config
from cloud.report import charts, document, perf
from cloud.report.data import DEFAULT_THRESHOLD_W, ReportData, gather
from cloud.report.errors import ReportInputError
from cloud.report.pdf import Document
from cloud.report.period import Period
from cloud.report.summary import performance_lines, summary
from cloud.warehouse.db import readonly_engine
from protocol.config import HomeConfig, section
from protocol.settings import Settings

logger = logging.getLogger(__name__)
STEPS = ("read the warehouse", "draw the charts", "lay out the pages", "write the PDF")


@dataclass(frozen=True, slots=True)
class Report:
    """What was built: how many pages, whether the period had data, and the summary's sentences."""

    pages: int
    empty: bool
    summary: tuple[str, ...]


def threshold(home: HomeConfig) -> float:
    """The dashboard's consumption threshold (its `[dashboard]` key), so both show the same breaches."""
    value = home.dashboard.get("consumption_threshold_w", DEFAULT_THRESHOLD_W)
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_THRESHOLD_W


def read(engine: sa.Engine, home: HomeConfig, period: Period, url: str) -> ReportData:
    """Gather the figures; a missing or unmigrated warehouse becomes a ReportInputError naming `url`."""
    try:
        with engine.connect() as conn:
            return gather(conn, home, period, threshold(home))
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        raise ReportInputError(f"warehouse {shown}: cannot read it ({exc.orig}); run `iotpipe etl` first") from exc


def draw(data: ReportData) -> dict[str, bytes]:
    """Every chart the figures allow."""
    e, out = data.energy, {}
    if len(e.daily) > 1 and len(e.by_day):
        out["daily"] = charts.daily(e.by_day)
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


def render(engine: sa.Engine, home: HomeConfig, period: Period, *, bench: dict[str, Any] | None = None,
           progress: bool = False, url: str | None = None,
           now: Callable[[], float] = time.time) -> tuple[bytes, Report]:
    """The report's PDF bytes and what it holds, read through `engine` (the dashboard calls this directly)."""
    standby_w = section(home.cloud, CloudConfig, "cloud").standby_w
    with tqdm(total=len(STEPS), desc="report", unit="step", disable=not progress) as bar:
        bar.set_postfix_str(STEPS[0])
        data = read(engine, home, period, url or engine.url.render_as_string(hide_password=True))
        data.bench = bench or {}
        bar.update(1)
        bar.set_postfix_str(STEPS[1])
        drawn = draw(data) if not data.empty else {}
        bar.update(1)
        bar.set_postfix_str(STEPS[2])
        lines = summary(data, standby_w) if not data.empty else [f"No data for {period.label()}.",
                                                                  *performance_lines(data.bench)]
        doc = lay_out(data, drawn, lines, now())
        bar.update(1)
        bar.set_postfix_str(STEPS[3])
        pdf = bytes(doc.output())
        bar.update(1)
    return pdf, Report(doc.pages_count, data.empty, tuple(lines))


def render_url(url: str, home: HomeConfig, period: Period, bench: dict[str, Any], now: float) -> tuple[bytes, Report]:
    """`render` through a fresh engine for `url`: what a child process runs for the dashboard, so matplotlib and
    fpdf2 (~60 MiB, more while drawing) never enter the lean dashboard server."""
    engine = sa.create_engine(url)
    try:
        return render(engine, home, period, bench=bench, url=url, now=lambda: now)
    finally:
        engine.dispose()


def build(settings: Settings, period: Period, out: Path, *, bench: Path | None = None, progress: bool = True,
          engine: sa.Engine | None = None, now: Callable[[], float] = time.time) -> Report:
    """Build the report for `period` into the file `out` (bench results from the file `bench` when given)."""
    results: dict[str, Any] = perf.load(bench) if bench is not None else {}
    cloud_config(settings)  # a bad [cloud] section names the config file
    own = engine is None
    engine = engine or readonly_engine(settings.db_url)
    try:
        pdf, report = render(engine, settings.home, period, bench=results, progress=progress, url=settings.db_url,
                             now=now)
    finally:
        if own:
            engine.dispose()
    _write(pdf, out)
    logger.info("report written path=%s pages=%d empty=%s", out, report.pages, report.empty)
    return report


def _write(pdf: bytes, out: Path) -> None:
    """Write the PDF next to its final name, then move it there, so a reader never sees half a file."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(pdf)
        tmp.replace(out)
    except OSError as exc:
        raise ReportInputError(f"--out {out}: cannot write ({exc.strerror or exc})") from exc
