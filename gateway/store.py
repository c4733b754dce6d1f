"""The gateway's SQLite file: outbox rows, dedup marks and kept rejections, in WAL mode with synchronous=FULL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gateway.marks import Mark, Marks

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused, the forwarder's cursor stays valid
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    keep INTEGER NOT NULL,                 -- 1: alerts, security readings, events; never dropped when full
    batchable INTEGER NOT NULL,            -- 1: telemetry that may travel in an up/{home}/batch array
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS marks (
    device TEXT NOT NULL, boot TEXT NOT NULL, floor INTEGER NOT NULL, above BLOB NOT NULL,
    gap_since REAL, lost BLOB NOT NULL, seen_at REAL NOT NULL, PRIMARY KEY (device, boot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    replay INTEGER NOT NULL DEFAULT 0      -- 1: `replay-rejected` asked the writer to run it through again
);
CREATE INDEX IF NOT EXISTS rejected_replay ON rejected (id) WHERE replay = 1;
"""


class StoreError(RuntimeError):
    """The gateway database cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Row:
    """One outbox row as the forwarder reads it."""

    id: int
    topic: str
    payload: bytes
    batchable: bool


def connect(path: Path, *, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    """Open the database in WAL mode; writers wait up to 30 s for each other instead of failing."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.executescript(SCHEMA)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open gateway database {path}: {exc}") from exc
    return conn


class Store:
    """Writes of the intake side: one transaction per batch, committed before anything is acknowledged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)

    def load_marks(self, marks: Marks) -> None:
        """Restore the dedup window and watermarks saved before a restart."""
        rows = self.conn.execute("SELECT device, boot, floor, above, gap_since, lost, seen_at FROM marks")
        for device, boot, floor, above, gap_since, lost, seen_at in rows:
            lost_ranges = [(a, b) for a, b in msgspec.json.decode(lost, type=list[tuple[int, int]])]
            mark = Mark(floor, set(msgspec.json.decode(above, type=list[int])), gap_since, lost_ranges, seen_at)
            marks.load(device, boot, mark)

    def commit(
        self,
        rows: Sequence[tuple[str, bytes, int, int, float]],
        marks: Iterable[tuple[str, str, Mark]],
        forget: Iterable[tuple[str, str]],
        rejected: Sequence[tuple[float, str, bytes, str, str]],
        replayed: Sequence[int] = (),
    ) -> None:
        """Store one batch durably: outbox rows, changed marks, forgotten boots, rejections; replayed ones go."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO outbox (topic, payload, keep, batchable, received_at) VALUES (?, ?, ?, ?, ?)", rows
            )
            conn.executemany(
                "INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(d, b, m.floor, _json(sorted(m.above)), m.gap_since, _json(m.lost), m.seen_at) for d, b, m in marks],
            )
            conn.executemany("DELETE FROM marks WHERE device = ? AND boot = ?", forget)
            if rejected:
                conn.executemany(
                    "INSERT INTO rejected (received_at, topic, payload, reason, detail) VALUES (?, ?, ?, ?, ?)",
                    rejected,
                )
            conn.executemany("DELETE FROM rejected WHERE id = ?", [(i,) for i in replayed])
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot write gateway database {self.path}: {exc}") from exc

    def replays(self, limit: int) -> list[tuple[int, str, bytes, float]]:
        """Kept rejections waiting to be run through again: (id, topic, payload, received_at), oldest first."""
        rows = self.conn.execute(
            "SELECT id, topic, payload, received_at FROM rejected WHERE replay = 1 ORDER BY id LIMIT ?", (limit,)
        )
        return [(i, t, bytes(p), r) for i, t, p, r in rows]

    def count(self) -> int:
        """Rows waiting in the outbox."""
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def drop_oldest(self, count: int) -> tuple[int, int]:
        """Delete the `count` oldest droppable rows (routine telemetry): returns (dropped, rows left)."""
        cur = self.conn.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE keep = 0 ORDER BY id LIMIT ?)", (count,)
        )
        left = self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return cur.rowcount, int(left)

    def trim_rejected(self, keep: int) -> int:
        """Keep only the newest `keep` rejections; returns how many were forgotten."""
        cur = self.conn.execute("DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ?", (keep,))
        return cur.rowcount

    def close(self) -> None:
        """Checkpoint and close."""
        self.conn.close()


def _json(value: object) -> bytes:
    return msgspec.json.encode(value)


class OutboxReader:
    """The forwarder's side: read rows in order, delete them once the cloud broker has acknowledged them."""

    def __init__(self, path: Path) -> None:
        # Deleting after PUBACK need not survive a power cut: a row that comes back is sent again and the
        # cloud drops it by its key, so NORMAL (durable on checkpoint) is enough here and spares an fsync.
        self.conn = connect(path, synchronous="NORMAL")
        self.lock = threading.Lock()

    def fetch(self, after: int, limit: int) -> list[Row]:
        """Up to `limit` rows with id > `after`, oldest first."""
        with self.lock:
            cur = self.conn.execute(
                "SELECT id, topic, payload, batchable FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            )
            return [Row(i, t, p, bool(b)) for i, t, p, b in cur]

    def delete(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Delete rows in the given inclusive id ranges; returns how many went."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            deleted = 0
            for low, high in ranges:
                deleted += self.conn.execute("DELETE FROM outbox WHERE id BETWEEN ? AND ?", (low, high)).rowcount
            self.conn.execute("COMMIT")
            return deleted

    def oldest(self) -> float | None:
        """received_at of the oldest row, or None when empty."""
        with self.lock:
            row = self.conn.execute("SELECT received_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()


def request_replay(path: Path, reason: str | None = None) -> tuple[int, int]:
    """Flag kept rejections (of one reason, or all) for the writer to run again: (rows flagged, highest id)."""
    conn = connect(path)
    try:
        sql = "UPDATE rejected SET replay = 1" + (" WHERE reason = ?" if reason else "")
        with conn:
            flagged = conn.execute(sql, (reason,) if reason else ()).rowcount
        top = conn.execute("SELECT coalesce(max(id), 0) FROM rejected").fetchone()[0]
    finally:
        conn.close()
    return flagged, int(top)


def replay_status(path: Path, after: int) -> tuple[int, dict[str, int]]:
    """Rows still waiting for replay, and rejections kept since id `after` (what a replay refused again)."""
    conn = connect(path)
    try:
        waiting = conn.execute("SELECT count(*) FROM rejected WHERE replay = 1").fetchone()[0]
        again = conn.execute("SELECT reason, count(*) FROM rejected WHERE id > ? GROUP BY reason", (after,))
        return int(waiting), {reason: int(n) for reason, n in again}
    finally:
        conn.close()
