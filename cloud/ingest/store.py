"""Write one Batch in one transaction: idempotent on every table, so a redelivered message changes nothing."""

from __future__ import annotations

import operator
import time
from typing import Any

import sqlalchemy as sa

from cloud.errors import WarehouseUnavailableError
from cloud.ingest.route import ROW_COLUMNS, Batch, Seen
from cloud.warehouse import schema
from cloud.warehouse.bulk import insert_for, insert_tuples

KEY = ("device", "boot", "seq", "idx")
_BY_KEY = operator.itemgetter(*(ROW_COLUMNS.index(c) for c in KEY))


def insert_readings(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert reading rows (ROW_COLUMNS order); a key already stored is skipped (ON CONFLICT DO NOTHING)."""
    # Sorted by key so two workers inserting overlapping batches take row locks in the same order (no deadlock);
    # stamped now, not when the batch was taken: a batch retried through an outage must not commit "in the past",
    # behind the ETL's watermark.
    now = time.time()
    ordered = [(*row[:-1], now) for row in rows]
    ordered.sort(key=_BY_KEY)
    insert_tuples(conn, schema.readings, ROW_COLUMNS, ordered, KEY)


def upsert_devices(conn: sa.Connection, devices: dict[tuple[str, str], Seen]) -> None:
    """Upsert last-seen, place and presence; times only move forward, so batches may commit in any order."""
    if not devices:
        return
    table = schema.devices
    values = [
        {"home": h, "device": d, "room": s.room, "appliance": s.appliance, "first_seen": s.first, "last_seen": s.last,
         "online": s.online, "status_at": s.status_at, "fw": s.fw}
        for (h, d), s in sorted(devices.items())
    ]
    stmt = insert_for(conn)(table)
    new = stmt.excluded
    newer_status = sa.func.coalesce(new.status_at, -1.0) >= sa.func.coalesce(table.c.status_at, -1.0)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["home", "device"],
            set_={
                "room": sa.func.coalesce(new.room, table.c.room),
                "appliance": sa.func.coalesce(new.appliance, table.c.appliance),
                "first_seen": sa.case((new.first_seen < table.c.first_seen, new.first_seen), else_=table.c.first_seen),
                "last_seen": sa.case((new.last_seen > table.c.last_seen, new.last_seen), else_=table.c.last_seen),
                "online": sa.case((newer_status & new.online.is_not(None), new.online), else_=table.c.online),
                "status_at": sa.case((newer_status, new.status_at), else_=table.c.status_at),
                "fw": sa.func.coalesce(new.fw, table.c.fw),
            },
        ),
        values,
    )


def write(engine: sa.Engine, batch: Batch) -> None:
    """Commit the whole batch or nothing; database trouble becomes WarehouseUnavailableError."""
    try:
        with engine.begin() as conn:
            insert_readings(conn, batch.readings)
            upsert_devices(conn, batch.devices)
            if batch.rejected:
                conn.execute(sa.insert(schema.rejected), batch.rejected)
            insert = insert_for(conn)
            if batch.alerts:
                conn.execute(insert(schema.alerts).on_conflict_do_nothing(), batch.alerts)
            if batch.events:
                conn.execute(insert(schema.gateway_events).on_conflict_do_nothing(), batch.events)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # includes deadlocks and lost servers
        raise WarehouseUnavailableError(f"{type(exc.orig).__name__}: {str(exc.orig).strip()[:200]}") from exc
