"""Extract: sample logs (CSV/Parquet) loaded raw into the warehouse, and the incremental read by watermark."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from cloud.errors import EtlInputError
from cloud.etl.context import DAY_S
from cloud.ingest.route import ROW_COLUMNS, Seen, event_row
from cloud.ingest.store import upsert_devices
from cloud.warehouse import schema
from cloud.warehouse.bulk import insert_for, insert_frame
from cloud.warehouse.db import is_sqlite
from protocol import Kind
from protocol.frame import READING_COLUMNS

CHUNK = 100_000
_DTYPES = {"home": str, "device": str, "boot": str, "seq": "int64", "idx": "int64", "ts": "float64",
           "received_at": "float64", "kind": str, "value": "float64", "unit": str, "err": str, "room": str,
           "appliance": str}


def read_sample(path: Path) -> pd.DataFrame:
    """Read a sample log (`.parquet`, `.csv`, `.csv.gz`) in the reading-row layout; EtlInputError says what is wrong."""
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False, na_values={c: [""] for c in _DTYPES})
    except (OSError, ValueError) as exc:
        raise EtlInputError(f"{path}: cannot read sample log ({exc})") from exc
    missing = [c for c in READING_COLUMNS if c not in frame.columns]
    if missing:
        raise EtlInputError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(READING_COLUMNS)})")
    return frame[list(READING_COLUMNS)]


def load_raw(engine: sa.Engine, frame: pd.DataFrame, progress: Callable[[int], Any] = lambda _n: None) -> int:
    """Insert sample rows into `readings` (ON CONFLICT DO NOTHING); returns the rows newly stored."""
    frame = frame.assign(t=frame["ts"].fillna(frame["received_at"]), ingested_at=time.time())[list(ROW_COLUMNS)]
    # In key order the unique index grows at its end instead of splitting pages all over: ~1.5x faster.
    frame = frame.sort_values(["device", "boot", "seq", "idx"], kind="stable")
    before = _count(engine)
    with engine.begin() as conn:
        upsert_devices(conn, _seen(frame))
        for start in range(0, len(frame), CHUNK):
            chunk = frame.iloc[start:start + CHUNK]
            insert_rows(conn, schema.readings, chunk, conflict=["device", "boot", "seq", "idx"])
            progress(len(chunk))
    return _count(engine) - before


def _seen(frame: pd.DataFrame) -> dict[tuple[str, str], Seen]:
    """First and last receive time, room and appliance of every device in a sample log."""
    seen = frame.groupby(["home", "device"], observed=True).agg(
        first=("received_at", "min"), last=("received_at", "max"), room=("room", "first"),
        appliance=("appliance", "first"))
    return {(str(h), str(d)): Seen(float(r.first), float(r.last), _text(r.room), _text(r.appliance))
            for (h, d), r in seen.iterrows()}


def _text(value: object) -> str | None:
    """A string, or None for a missing value."""
    return value if isinstance(value, str) else None


def insert_rows(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, conflict: list[str] | None = None) -> None:
    """Bulk insert a frame (see `cloud.warehouse.bulk`)."""
    insert_frame(conn, table, frame, conflict)


def load_events(engine: sa.Engine, path: Path, home: str) -> int:
    """Load gateway events (JSON lines with `type` and `ts`, e.g. mode changes) for the security log's context."""
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise EtlInputError(f"{path}: cannot read gateway events ({exc})") from exc
    bad = next((n for n, e in enumerate(lines, 1) if not isinstance(e, dict) or "type" not in e or "ts" not in e), 0)
    if bad:
        raise EtlInputError(f"{path}: line {bad} is not an event object with `type` and `ts`")
    rows = [event_row(str(e.get("home", home)), e) for e in lines]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert_for(conn)(schema.gateway_events).on_conflict_do_nothing(), rows)
    return len(rows)


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.readings)).scalar_one())


TOUCH_BUCKET_S = 900  # every time zone's offset is a multiple of 15 minutes, so a bucket never straddles midnight


def touched(engine: sa.Engine, since: float | None, overlap_s: float) -> tuple[pd.DataFrame, float | None]:
    """(home, device, t) per 15-minute bucket holding rows ingested after the watermark (all when None),
    and the new watermark; the database does the grouping, so only a few rows travel.

    Rows ingested up to `overlap_s` before the watermark are read again: concurrent workers' commits may land
    slightly out of `ingested_at` order, and re-reading only recomputes partitions to the same values.
    """
    table = schema.readings
    bucket: sa.ColumnElement[Any]
    if is_sqlite(engine):  # t >= 0, so truncation is floor; PostgreSQL's CAST would round instead
        bucket = sa.cast(table.c.t / TOUCH_BUCKET_S, sa.Integer)
    else:
        bucket = sa.func.floor(table.c.t / TOUCH_BUCKET_S)
    query = sa.select(table.c.home, table.c.device, bucket.label("b"), sa.func.max(table.c.ingested_at).label("i"))
    if since is not None:
        query = query.where(table.c.ingested_at > since - overlap_s)
    with engine.connect() as conn:
        new = pd.read_sql(query.group_by(table.c.home, table.c.device, bucket), conn)
    watermark = float(new["i"].max()) if len(new) else since
    return new.assign(t=new["b"].astype(float) * TOUCH_BUCKET_S)[["home", "device", "t"]], watermark


KINDS = [k.value for k in Kind]


def extract(engine: sa.Engine, home: str, devices: list[str], t_from: float, t_to: float) -> pd.DataFrame:
    """Every stored reading of a home's `devices` with t in [t_from - 1 day, t_to): the touched days plus a day of
    context, in the columns the transform uses (place and appliance come from `placements`).

    The warehouse's unique key already removed duplicates, so neither boot nor seq is needed (a message is its
    `idx == 0` reading); device and kind travel as small integer codes, which the driver returns without
    building a string per row: the extract of a million readings is mostly float conversion.
    """
    table = schema.readings
    device_code = sa.case({d: i for i, d in enumerate(devices)}, value=table.c.device)
    kind_code = sa.case({k: i for i, k in enumerate(KINDS)}, value=table.c.kind)
    query = sa.select(device_code.label("device"), kind_code.label("kind"), table.c.idx, table.c.ts,
                      table.c.received_at, table.c.value).where(
        # Every kind listed, so the (home, device, kind, t) index serves the time range too.
        table.c.home == home, table.c.device.in_(devices), table.c.kind.in_(KINDS),
        table.c.t >= t_from - DAY_S, table.c.t < t_to)
    with engine.connect() as conn:
        frame = fetch_frame(conn, query)
    return frame.assign(home=pd.Categorical.from_codes([0] * len(frame), [home]),
                        device=pd.Categorical.from_codes(frame["device"].astype(int), devices),
                        kind=pd.Categorical.from_codes(frame["kind"].astype(int), KINDS))


def fetch_frame(conn: sa.Connection, query: sa.Select[Any]) -> pd.DataFrame:
    """Run a SELECT through the driver's own cursor: a million rows come back without a Row object each."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if compiled.positiontup is not None:
            cursor.execute(str(compiled), [compiled.params[name] for name in compiled.positiontup])
        else:
            cursor.execute(str(compiled), compiled.params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=[c[0] for c in cursor.description])
    finally:
        cursor.close()


def placements(engine: sa.Engine, home: str, devices: list[str]) -> pd.DataFrame:
    """Room and appliance per device as ingest recorded them (for devices the home config does not know)."""
    table = schema.devices
    query = sa.select(table.c.device, table.c.room, table.c.appliance).where(
        table.c.home == home, table.c.device.in_(devices))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def events(engine: sa.Engine) -> pd.DataFrame:
    """Gateway mode and presence events, the context of the security log."""
    table = schema.gateway_events
    query = sa.select(table.c.home, table.c.type, table.c.ts, table.c.payload).where(
        table.c.type.in_(["mode", "gateway_status"]))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
