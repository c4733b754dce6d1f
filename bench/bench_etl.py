"""ETL benchmark: the whole ETL over ~1,000,000 readings into SQLite, raw load rate, and the transform beside DuckDB.

Run: `.venv/bin/python bench/bench_etl.py [--readings N]`. Prints seconds, rows/s and peak memory (RSS of a
forked child per measurement), with the machine's load average, since other work on the box skews every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import pandas as pd

from cloud.config import cloud_config
from cloud.etl import extract
from cloud.etl.context import Context
from cloud.etl.run import run as run_etl
from cloud.etl.transform import prepare, transform
from cloud.warehouse.db import make_engine, migrate
from protocol import KINDS
from protocol.settings import EXAMPLE_CONFIG, Settings, load_settings
from tests.cloud.sample import make_sample

READINGS_PER_INSTANT = 73  # readings the example home's devices send per grid instant (see tests/cloud/sample.py)

# The same transform in DuckDB SQL: dedup, bounds, rolling z-score, 1-minute and hourly means, energy per
# device-day from counters and from integrated power (no integration over gaps), completeness, security changes.
DUCKDB_TRANSFORM = """
CREATE OR REPLACE TEMP TABLE r AS
  SELECT *, coalesce(ts, received_at) AS t,
         (to_timestamp(coalesce(ts, received_at)) AT TIME ZONE '{tz}')::date AS day FROM raw;
CREATE OR REPLACE TEMP TABLE u AS
  SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY device, boot, seq, idx ORDER BY received_at) = 1;
CREATE OR REPLACE TEMP TABLE good AS
  SELECT u.* FROM u JOIN bounds b USING (kind) WHERE value IS NOT NULL AND value BETWEEN b.lo AND b.hi;
CREATE OR REPLACE TEMP TABLE zs AS
  SELECT home, device, kind, t, value FROM (
    SELECT *, avg(value) OVER w AS m, stddev_samp(value) OVER w AS s, count(value) OVER w AS n
    FROM good WHERE kind IN ('temperature', 'humidity', 'voltage')
    WINDOW w AS (PARTITION BY device, kind ORDER BY t ROWS BETWEEN {window} PRECEDING AND 1 PRECEDING))
  WHERE n = {window} AND abs(value - m) / greatest(s, 0.1) > {z};
CREATE OR REPLACE TEMP TABLE m1 AS
  SELECT home, device, kind, floor(t / 60) * 60 AS bucket, avg(value) AS mean, min(value) AS min,
         max(value) AS max, count(*) AS n FROM good GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE h1 AS
  SELECT home, device, kind, floor(t / 3600) * 3600 AS bucket, avg(value) AS mean, min(value) AS min,
         max(value) AS max, count(*) AS n FROM good GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE counter AS
  SELECT home, device, coalesce(prev_day, day) AS day,
         sum(CASE WHEN prev IS NULL THEN 0 WHEN value < prev THEN value ELSE value - prev END) AS kwh
  FROM (SELECT *, lag(value) OVER w AS prev, lag(day) OVER w AS prev_day FROM good WHERE kind = 'energy'
        WINDOW w AS (PARTITION BY home, device ORDER BY t)) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE power AS
  SELECT home, device, day, sum(value * dt) / 3.6e6 AS kwh,
         sum(CASE WHEN value > 0 AND value < {standby} THEN value * dt ELSE 0 END) / 3.6e6 AS standby_kwh,
         sum(CASE WHEN value >= {standby} THEN dt ELSE 0 END) / 3600 AS on_hours
  FROM (SELECT *, CASE WHEN lead(t) OVER w - t <= {gap} THEN lead(t) OVER w - t ELSE 0 END AS dt
        FROM good WHERE kind = 'power' WINDOW w AS (PARTITION BY home, device ORDER BY t)) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE quality AS
  SELECT home, device, day, count(*) AS messages, sum((received_at - ts > {late})::int) AS late,
         sum(least(coalesce(dt, 5), 10)) / 864 AS coverage_pct, sum((dt > 30)::int) AS gaps
  FROM (SELECT *, lead(t) OVER (PARTITION BY home, device ORDER BY t) - t AS dt FROM u WHERE idx = 0) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE security AS
  SELECT * FROM (SELECT *, lag(value) OVER (PARTITION BY home, device, kind ORDER BY t) AS prev FROM good
                 WHERE kind IN ('contact', 'motion', 'smoke'))
  WHERE (prev IS NULL AND value > 0) OR value <> prev;
"""


def peak_mb() -> float:
    """This process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `job` in a forked child so its peak memory is its own; returns what it measured plus `peak_mb`."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()

    def target() -> None:
        result = job()
        child.send({**result, "peak_mb": peak_mb()})

    proc = ctx.Process(target=target)
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


def fresh(folder: Path, name: str, base: Settings) -> Settings:
    """Settings pointing at a new, empty SQLite warehouse."""
    db = folder / f"{name}.db"
    for path in folder.glob(f"{name}.db*"):
        path.unlink()
    return load_settings(base.config_path, db_url=f"sqlite:///{db}", var=folder, env={})


def bench_raw_load(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """Raw load of the sample into `readings` (executemany, ON CONFLICT DO NOTHING, one transaction)."""
    engine = make_engine(settings.db_url)
    migrate(engine)
    start = time.perf_counter()
    rows = extract.load_raw(engine, frame)
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"rows": rows, "seconds": seconds}


def bench_bare_table(folder: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """The baseline the target comes from: executemany into a table with no index and no conflict clause."""
    import sqlite3

    path = folder / "bare.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    columns = list(frame.columns)
    con.execute(f"CREATE TABLE readings ({', '.join(columns)})")
    rows = list(zip(*(frame[c].tolist() for c in columns), strict=True))
    start = time.perf_counter()
    with con:
        con.executemany(f"INSERT INTO readings VALUES ({', '.join('?' * len(columns))})", rows)
    seconds = time.perf_counter() - start
    con.close()
    return {"rows": len(rows), "seconds": seconds}


def bench_whole_etl(settings: Settings, source: Path) -> dict[str, Any]:
    """`iotpipe etl --from` on an empty warehouse: load raw, extract, transform, load every derived table."""
    start = time.perf_counter()
    result = run_etl(settings, source=source, progress=False)
    return {"seconds": time.perf_counter() - start, "rows": result.rows_loaded, "timings": result.timings,
            "counts": result.counts}


def bench_pandas(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """The pandas transform alone, on the frame in memory (best of three)."""
    ctx = Context.from_home(settings.home, cloud_config(settings))
    events = pd.DataFrame(columns=["home", "type", "ts", "payload"])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        derived = transform(prepare(frame, ctx.tz), events, ctx)
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "counts": derived.counts()}


def bench_duckdb(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """The same transform as DuckDB SQL over the same frame (best of three)."""
    config = cloud_config(settings)
    bounds = pd.DataFrame([{"kind": k.value, "lo": s.minimum, "hi": 1.0 if s.boolean else s.maximum}
                           for k, s in KINDS.items()])
    sql = DUCKDB_TRANSFORM.format(tz=settings.home.home.timezone, window=config.zscore_window, z=config.zscore,
                                  standby=config.standby_w, gap=config.long_gap_s, late=config.late_s)
    con = duckdb.connect()
    con.register("raw", frame)
    con.register("bounds", bounds)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        con.execute(sql)
        times.append(time.perf_counter() - start)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
              for t in ("m1", "h1", "zs", "counter", "power", "quality", "security")}
    return {"seconds": min(times), "counts": counts}


def main() -> None:
    """Build the sample, run each measurement in its own child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args()
    base = load_settings(EXAMPLE_CONFIG, env={})
    step = 86400.0 * READINGS_PER_INSTANT / args.readings
    sample = make_sample(base.home, days=1, step=step).rows
    with tempfile.TemporaryDirectory(prefix="bench-etl-") as tmp:
        folder = Path(tmp)
        source = folder / "sample.parquet"
        sample.to_parquet(source)
        n = len(sample)
        print(f"bench_etl: {n:,} readings (1 day of the example home), load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        raw = in_child(lambda: bench_raw_load(fresh(folder, "raw", base), sample))
        print(f"  raw load, warehouse   {raw['seconds']:7.2f} s  {raw['rows'] / raw['seconds']:>10,.0f} rows/s"
              f"  peak {raw['peak_mb']:,.0f} MiB   (target >= 140,000 rows/s; executemany, never method='multi')")
        bare = in_child(lambda: bench_bare_table(folder, sample))
        print(f"  bare table, no index  {bare['seconds']:7.2f} s  {bare['rows'] / bare['seconds']:>10,.0f} rows/s"
              f"  (the same executemany into a table without the unique key and the two indexes)")
        whole = in_child(lambda: bench_whole_etl(fresh(folder, "etl", base), source))
        print(f"  whole ETL (SQLite)    {whole['seconds']:7.2f} s  {n / whole['seconds']:>10,.0f} rows/s"
              f"  peak {whole['peak_mb']:,.0f} MiB   steps: {whole['timings']}")
        pandas = in_child(lambda: bench_pandas(base, sample))
        duck = in_child(lambda: bench_duckdb(base, sample))
        for name, result in (("transform, pandas", pandas), ("transform, DuckDB SQL", duck)):
            print(f"  {name:<21} {result['seconds']:7.2f} s  {n / result['seconds']:>10,.0f} rows/s"
                  f"  peak {result['peak_mb']:,.0f} MiB")
        print(f"  pandas/DuckDB time ratio: {pandas['seconds'] / duck['seconds']:.2f} (target <= 1.00)")
        print(f"  rows out: pandas {pandas['counts']}\n            duckdb {duck['counts']}")
    if args.json:
        figures = {"readings": n, "raw_load_rows_per_s": raw["rows"] / raw["seconds"], "raw_load_peak_mib": raw[
            "peak_mb"], "pandas_duckdb_time_ratio": pandas["seconds"] / duck["seconds"]}
        for key, result in (("whole_etl", whole), ("transform_pandas", pandas), ("transform_duckdb", duck)):
            figures |= {f"{key}_rows_per_s": n / result["seconds"], f"{key}_peak_mib": result["peak_mb"]}
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
