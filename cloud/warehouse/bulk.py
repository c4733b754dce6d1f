"""Bulk writes that both backends do well: SQLite through the driver's executemany, PostgreSQL through COPY."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

Insert = Callable[[sa.Table], Any]


def insert_for(bind: sa.Engine | sa.Connection) -> Insert:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
    return sqlite.insert if bind.dialect.name == "sqlite" else postgresql.insert


def insert_tuples(conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                  conflict: Sequence[str] | None = None) -> None:
    """Insert rows (tuples in `columns` order); with `conflict`, a row whose key exists is skipped.

    SQLite: one prepared INSERT run by the driver's executemany (never a multi-VALUES statement, which SQLite
    parses slowly). PostgreSQL: COPY, through a temporary table when duplicates must be skipped, the final
    INSERT in key order so concurrent writers lock rows in the same order.
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        stmt = sqlite.insert(table)
        if conflict is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        ordered = [c.name for c in table.columns if c.name in columns]  # the compiled statement's column order
        if list(columns) != ordered:
            positions = [list(columns).index(c) for c in ordered]
            rows = [tuple(row[p] for p in positions) for row in rows]
        conn.exec_driver_sql(str(stmt.compile(dialect=conn.dialect, column_keys=ordered)), list(rows))
        return
    _copy(conn, table, columns, rows, conflict)


def _copy(conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
          conflict: Sequence[str] | None) -> None:
    """PostgreSQL COPY in the caller's transaction."""
    names = ", ".join(columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        target = table.name if conflict is None else f"copy_{uuid.uuid4().hex[:12]}"
        if conflict is not None:
            cursor.execute(f"CREATE TEMP TABLE {target} ON COMMIT DROP AS SELECT {names} FROM {table.name} "
                           "WITH NO DATA")
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if conflict is not None:
            keys = ", ".join(conflict)
            cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target} ORDER BY {keys} "
                           f"ON CONFLICT ({keys}) DO NOTHING")
            cursor.execute(f"DROP TABLE {target}")


def python_rows(frame: pd.DataFrame, *, nan_is_null: bool = False) -> list[tuple[Any, ...]]:
    """Rows as tuples of plain Python values (drivers reject numpy ints); NaN becomes None unless the driver
    already stores NaN as NULL (SQLite does), while PostgreSQL would keep a real NaN."""
    columns = []
    for name in frame.columns:
        values = frame[name].tolist()
        if not nan_is_null and frame[name].isna().any():
            values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]
        columns.append(values)
    return list(zip(*columns, strict=True))


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame,
                 conflict: Sequence[str] | None = None) -> None:
    """Insert a DataFrame whose columns are table columns."""
    if frame.empty:
        return
    rows = python_rows(frame, nan_is_null=conn.dialect.name == "sqlite")
    insert_tuples(conn, table, list(frame.columns), rows, conflict)
