"""The raw lake: reading rows appended as Parquet files, partitioned `date=YYYY-MM-DD/home=ID` (UTC dates)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cloud.ingest.route import ROW_COLUMNS

logger = logging.getLogger(__name__)
LAKE_SCHEMA = pa.schema([
    ("home", pa.string()), ("device", pa.string()), ("boot", pa.string()), ("seq", pa.int64()),
    ("idx", pa.int16()), ("ts", pa.float64()), ("received_at", pa.float64()), ("kind", pa.string()),
    ("value", pa.float64()), ("unit", pa.string()), ("err", pa.string()), ("room", pa.string()),
    ("appliance", pa.string()), ("t", pa.float64()), ("ingested_at", pa.float64()),
])
assert tuple(LAKE_SCHEMA.names) == ROW_COLUMNS


class LakeWriter:
    """Buffers committed rows; a background thread writes one Parquet file per partition every `flush_s` or when
    `max_rows` wait, so converting and compressing never holds up the ingest loop.

    The lake is at-least-once and raw: a redelivered message may appear twice (readers dedup on the key), and a
    crash loses the unflushed buffer from the lake only (the warehouse has it; acks never wait for the lake).
    """

    def __init__(self, root: Path, *, flush_s: float = 10.0, max_rows: int = 200_000) -> None:
        self.root = root
        self.flush_s = flush_s
        self.max_rows = max_rows
        self.files = 0
        self._rows: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lake", daemon=True)
        self._thread.start()

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Buffer rows (ROW_COLUMNS order); wake the writer when enough wait."""
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= self.max_rows
        if full:
            self._wake.set()

    def close(self) -> None:
        """Write what is buffered and stop the writer thread."""
        self._closed = True
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write the buffer now, one file per (date, home)."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, LAKE_SCHEMA, strict=True)]
        try:
            self.files += len(write_partitions(self.root, pa.Table.from_arrays(arrays, schema=LAKE_SCHEMA)))
        except (OSError, pa.ArrowException) as exc:  # the lake is a copy: a full disk must not stop the warehouse
            logger.error("lake write failed, rows=%d not in the lake (they are in the warehouse): %s", len(rows), exc)


def write_partitions(root: Path, table: pa.Table) -> list[Path]:
    """Append `table` to the lake under `root`, one new file per (UTC date, home) partition.

    Partition values live in the folder names only (Hive style), so `pyarrow.dataset` and DuckDB's
    `hive_partitioning` read `date` and `home` back as columns.
    """
    millis = pc.cast(pc.round(pc.multiply(table["t"], 1000.0)), pa.int64())
    dates = pc.strftime(pc.cast(millis, pa.timestamp("ms", tz="UTC")), format="%Y-%m-%d")
    table = table.append_column("date", dates)
    written = []
    for part in table.group_by(["date", "home"]).aggregate([]).to_pylist():
        mask = pc.and_(pc.equal(table["date"], part["date"]), pc.equal(table["home"], part["home"]))
        folder = root / f"date={part['date']}" / f"home={part['home']}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table.filter(mask).drop_columns(["date", "home"]), path)
        written.append(path)
    logger.debug("lake appended rows=%d files=%d", table.num_rows, len(written))
    return written
