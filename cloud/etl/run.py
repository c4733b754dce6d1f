"""One ETL run: optional raw load of a sample log, incremental extract by watermark, transform, load, bookkeeping."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from cloud.config import cloud_config
from cloud.etl import extract, load
from cloud.etl.context import DAY_S, Context, day_bounds, local_day
from cloud.etl.transform import Derived, prepare, transform
from cloud.warehouse import schema
from cloud.warehouse.db import make_engine, migrate
from protocol.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class EtlResult:
    """What a run did: rows loaded and read, partitions touched, rows written per table, seconds per step."""

    run_id: int
    rows_loaded: int = 0
    rows_in: int = 0
    rows_clean: int = 0
    touched: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Times named steps and advances the progress bar."""

    def __init__(self, bar: tqdm[None]) -> None:
        self.bar = bar
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def step(self, name: str) -> None:
        """Record the time since the previous step under `name`."""
        now = time.perf_counter()
        self.timings[name] = round(now - self._t, 4)
        self._t = now
        self.bar.set_postfix_str(name)
        self.bar.update(1)


def run(settings: Settings, *, source: Path | None = None, events: Path | None = None, full: bool = False,
        progress: bool = True, engine: sa.Engine | None = None) -> EtlResult:
    """Run the ETL once over the warehouse (after loading `source` raw and `events`, when given)."""
    config = cloud_config(settings)
    ctx = Context.from_home(settings.home, config)
    own = engine is None
    engine = engine or make_engine(settings.db_url)
    migrate(engine)
    result = EtlResult(run_id=_open_run(engine, str(source or settings.db_url.split("://")[0])))
    try:
        if events is not None:
            extract.load_events(engine, events, settings.home_id)
        with tqdm(total=6, desc="etl", unit="step", disable=not progress) as bar:
            _steps(engine, ctx, source, result, _Clock(bar), full=full)
        _close_run(engine, result, None)
    except Exception as exc:
        _close_run(engine, result, f"{type(exc).__name__}: {exc}"[:500])
        raise
    finally:
        if own:
            engine.dispose()
    logger.info("etl run=%d loaded=%d read=%d touched=%d written=%s", result.run_id, result.rows_loaded,
                result.rows_in, result.touched, result.counts)
    return result


def _steps(engine: sa.Engine, ctx: Context, source: Path | None, result: EtlResult, clock: _Clock, *,
           full: bool) -> None:
    """Load, find what changed, extract it with context, transform, load the touched partitions, prune."""
    if source is not None:
        result.rows_loaded = extract.load_raw(engine, extract.read_sample(source))
    clock.step("load_raw")
    new, watermark = extract.touched(engine, None if full else _watermark(engine), ctx.config.etl_overlap_s)
    keys = _touched_keys(new, ctx.tz)
    result.touched, result.timings = len(keys), clock.timings
    _set_watermark(engine, result.run_id, watermark)
    clock.step("find_touched")
    if keys.empty:
        return
    raw, places = _extract(engine, keys, ctx.tz)
    result.rows_in = len(raw)
    clock.step("extract")
    derived = transform(raw, extract.events(engine), ctx, places)
    result.rows_clean = derived.rows_clean
    clock.step("transform")
    result.counts = _load(engine, derived, keys, ctx)
    clock.step("load")
    result.counts["pruned"] = _prune(engine, ctx)
    clock.step("prune")


def _extract(engine: sa.Engine, keys: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The readings of every touched home's devices over the touched days (plus context), and their placements."""
    frames, places = [], []
    for home, part in keys.groupby("home"):
        start, end = day_bounds(pd.Series([part["day"].min(), part["day"].max()]), tz)
        devices = sorted(part["device"].astype(str).unique())
        frames.append(extract.extract(engine, str(home), devices, float(start.iloc[0]), float(end.iloc[1])))
        places.append(extract.placements(engine, str(home), devices))
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return prepare(raw, tz), pd.concat(places, ignore_index=True)


def _touched_keys(new: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Distinct (home, device, local day) partitions that new rows fall in."""
    return new.assign(day=local_day(new["t"], tz))[["home", "device", "day"]].drop_duplicates().reset_index(drop=True)


def _load(engine: sa.Engine, derived: Derived, keys: pd.DataFrame, ctx: Context) -> dict[str, int]:
    """Replace touched partitions and refresh energy remainders and hog flags, all in one transaction."""
    with engine.begin() as conn:
        counts = load.load(conn, derived, keys, ctx.tz)
        counts["untracked"] = load.finish_energy(conn, keys, ctx.tariff)
    return counts


def _prune(engine: sa.Engine, ctx: Context) -> int:
    """Drop raw readings past telemetry retention and security events past theirs (kept a year or more)."""
    now = time.time()
    with engine.begin() as conn:
        readings = conn.execute(sa.delete(schema.readings).where(
            schema.readings.c.t < now - ctx.config.readings_retention_days * DAY_S)).rowcount
        cutoff = (pd.Timestamp(now, unit="s") - pd.Timedelta(days=ctx.config.security_retention_days)).date()
        security = conn.execute(sa.delete(schema.security_events).where(schema.security_events.c.day < cutoff)).rowcount
    return int(readings or 0) + int(security or 0)


def _watermark(engine: sa.Engine) -> float | None:
    """The watermark of the last successful run, None before the first."""
    runs = schema.etl_runs
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(runs.c.watermark_to)).where(runs.c.status == "ok")).scalar()


def _open_run(engine: sa.Engine, source: str) -> int:
    with engine.begin() as conn:
        row = conn.execute(sa.insert(schema.etl_runs).values(started_at=time.time(), source=source[:300],
                                                             status="running", watermark_from=None))
        key = row.inserted_primary_key
        assert key is not None
        return int(key[0])


def _set_watermark(engine: sa.Engine, run_id: int, watermark: float | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(schema.etl_runs).where(schema.etl_runs.c.id == run_id).values(watermark_to=watermark))


def _close_run(engine: sa.Engine, result: EtlResult, error: str | None) -> None:
    """Record the run's outcome; a failed run keeps its row (status `failed`) and moves no watermark."""
    with engine.begin() as conn:
        conn.execute(sa.update(schema.etl_runs).where(schema.etl_runs.c.id == result.run_id).values(
            finished_at=time.time(), status="failed" if error else "ok", error=error, rows_loaded=result.rows_loaded,
            rows_in=result.rows_in, rows_clean=result.rows_clean, touched=result.touched,
            counts=json.dumps(result.counts, sort_keys=True), timings=json.dumps(result.timings, sort_keys=True)))
