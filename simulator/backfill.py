"""Backfill: days of history for a home as sample logs (CSV and Parquet) in the reading-row layout of protocol.frame."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from protocol.config import Device, HomeConfig
from protocol.frame import READING_COLUMNS
from protocol.kinds import KINDS, Kind
from simulator.model import HomeModel, Ints
from simulator.readings import Values, complete, initial_counters
from simulator.signals import Floats, rng_for

logger = logging.getLogger(__name__)
DAY = 86400.0
ALL_KINDS = list(Kind)
SCHEMA = pa.schema([
    ("home", pa.string()), ("device", pa.string()), ("boot", pa.string()), ("seq", pa.int64()),
    ("idx", pa.int64()), ("ts", pa.float64()), ("received_at", pa.float64()), ("kind", pa.string()),
    ("value", pa.float64()), ("unit", pa.string()), ("err", pa.string()), ("room", pa.string()),
    ("appliance", pa.string()),
])
assert tuple(SCHEMA.names) == READING_COLUMNS, "the sample-log schema must follow protocol.frame"


@dataclass
class _Emitter:
    """One device's publishing state carried from window to window: seq, last change key, samples since sending."""

    device: Device
    boot: str
    phase: float
    seq: int = 0
    key: int | None = None
    since: int = 0


@dataclass
class Backfill:
    """A backfill run: which home, from when, how often devices report, and where the state is carried."""

    config: HomeConfig
    start: float
    seed: int = 42
    interval: float = 5.0
    step: float = 5.0
    intrusions: list[float] = field(default_factory=list)
    base_load_w: float = 90.0

    def __post_init__(self) -> None:
        if self.step <= 0 or self.interval < self.step:
            raise ValueError(f"need 0 < step <= interval, got step={self.step} interval={self.interval}")
        home = self.config.home.id
        self.model = HomeModel(self.config, self.seed, intrusions=list(self.intrusions), base_load_w=self.base_load_w)
        self.counters = initial_counters(self.config, self.seed, home)
        rng = rng_for(self.seed, home, "boots")
        self.emitters = [
            _Emitter(d, f"{int(rng.integers(0, 2**32)):08x}", float(rng.uniform(0, 0.5 * self.step)))
            for d in self.config.devices
        ]
        self.rng = rng_for(self.seed, home, "latency")

    def windows(self, days: float) -> Iterator[pa.Table]:
        """Reading rows (SCHEMA) one day at a time, in ts order."""
        total = round(days * DAY / self.step)
        per_window = int(DAY / self.step)
        for first in range(0, total, per_window):
            count = min(per_window, total - first)
            t = self.start + (first + np.arange(count)) * self.step
            values, keys = complete(self.config, self.model.frame(t), {}, self.counters, self.step)
            yield self._rows(t, values, keys)

    def _rows(self, t: Floats, values: dict[str, Values], keys: dict[str, Ints]) -> pa.Table:
        """The reading rows of every message the devices send in one window, sorted by (ts, device, idx)."""
        parts = [
            self._device_rows(n, e, t, values[e.device.id], keys[e.device.id]) for n, e in enumerate(self.emitters)
        ]
        cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        order = np.lexsort((cols["idx"], cols["device"], cols["ts"]))
        cols = {name: col[order] for name, col in cols.items()}
        devices = [e.device for e in self.emitters]
        kind_codes = cols["kind"]
        n = len(order)
        arrays = {
            "home": _labels(np.zeros(n, dtype=np.int32), [self.config.home.id]),
            "device": _labels(cols["device"], [d.id for d in devices]),
            "boot": _labels(cols["device"], [e.boot for e in self.emitters]),
            "seq": pa.array(cols["seq"]), "idx": pa.array(cols["idx"]), "ts": pa.array(cols["ts"]),
            "received_at": pa.array(cols["received_at"]),
            "kind": _labels(kind_codes, [k.value for k in ALL_KINDS]),
            "value": pa.array(cols["value"]),
            "unit": _labels(kind_codes, [KINDS[k].unit for k in ALL_KINDS]),
            "err": pa.nulls(n, pa.string()),
            "room": _labels(cols["device"], [d.room for d in devices]),
            "appliance": _labels(cols["device"], [d.appliance for d in devices]),
        }
        return pa.table(arrays, schema=SCHEMA)

    def _device_rows(self, number: int, e: _Emitter, t: Floats, values: Values, key: Ints) -> dict[str, np.ndarray]:
        """Columns of one device's rows: a message on every change and at least every `interval`."""
        sent = emissions(key, e.key, e.since, round(self.interval / self.step))
        e.key = int(key[-1])
        e.since = len(key) - int(sent[-1]) if len(sent) else e.since + len(key)
        kinds = e.device.kinds
        n, width = len(sent), len(kinds)
        ts = np.round(t[sent] + e.phase + self.rng.uniform(0.0, 0.2, n), 3)
        received = np.round(ts + np.minimum(self.rng.lognormal(np.log(0.02), 0.6, n), 2.0), 3)
        matrix = np.stack([np.round(np.asarray(values[k], dtype=float)[sent], KINDS[k].precision) for k in kinds], 1)
        seq = e.seq + np.arange(n)
        e.seq += n
        return {
            "device": np.full(n * width, number, dtype=np.int32),
            "seq": np.repeat(seq, width), "idx": np.tile(np.arange(width), n),
            "ts": np.repeat(ts, width), "received_at": np.repeat(received, width),
            "kind": np.tile(np.array([ALL_KINDS.index(k) for k in kinds], dtype=np.int32), n),
            "value": matrix.ravel(),
        }


def _labels(codes: np.ndarray, labels: list[str | None]) -> pa.Array:
    """A string column from integer codes into `labels` (None labels become nulls)."""
    dictionary = pa.array(labels, type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), dictionary).cast(pa.string())


def emissions(key: Ints, last_key: int | None, since: int, every: int) -> Ints:
    """Indexes at which a device sends: where its key changes, and `every` samples after its last message."""
    n = len(key)
    index = np.arange(n)
    change = np.empty(n, dtype=bool)
    change[0] = last_key is None or key[0] != last_key
    change[1:] = key[1:] != key[:-1]
    last = np.maximum.accumulate(np.where(change, index, -1))
    distance = np.where(last >= 0, index - last, index + since)
    sent: Ints = index[change | ((distance % every == 0) & (distance > 0))]
    return sent


def run_backfill(
    config: HomeConfig, start: float, days: float, out: Path, *, seed: int = 42, interval: float = 5.0,
    step: float = 5.0, formats: tuple[str, ...] = ("parquet", "csv"), intrusions: list[float] | None = None,
    base_load_w: float = 90.0,
) -> int:
    """Write `days` of history from `start` to `out`.parquet and/or `out`.csv.gz; returns the number of rows."""
    job = Backfill(config, start, seed, interval, step, intrusions or [], base_load_w)
    out.parent.mkdir(parents=True, exist_ok=True)
    parquet = pq.ParquetWriter(out.with_suffix(".parquet"), SCHEMA, compression="zstd") if "parquet" in formats else None  # noqa: E501
    # Python's zlib at a low level is several times faster than Arrow's gzip stream for the same size class.
    csv = gzip.open(out.with_suffix(".csv.gz"), "wb", compresslevel=3) if "csv" in formats else None  # noqa: SIM115
    rows = 0
    try:
        for frame in tqdm(job.windows(days), total=int(np.ceil(days)), unit="day", desc=config.home.id):
            if parquet is not None:
                parquet.write_table(frame)
            if csv is not None:
                pacsv.write_csv(frame, csv, pacsv.WriteOptions(include_header=rows == 0, quoting_style="needed"))
            rows += frame.num_rows
    finally:
        if parquet is not None:
            parquet.close()
        if csv is not None:
            csv.close()
    logger.info("backfill written home=%s days=%s rows=%d out=%s", config.home.id, days, rows, out)
    return rows
