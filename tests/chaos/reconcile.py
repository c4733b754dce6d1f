"""Reconcile a chaos run: the simulator's ledger against the warehouse, the gateway's durable state and counters."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import protocol
from protocol.errors import ProtocolError

Key = tuple[str, str, str, int]  # home, device, boot, seq


def read_ledgers(paths: Iterable[Path]) -> list[Key]:
    """Every key the simulator generated, in the order it generated them (one CSV per simulator run)."""
    keys: list[Key] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as stream:
            keys.extend((r["home"], r["device"], r["boot"], int(r["seq"])) for r in csv.DictReader(stream))
    return keys


def keys_before(paths: Iterable[Path], wall: float) -> set[Key]:
    """Keys the devices generated at or before wall-clock time `wall` (the ledger's `ts`)."""
    found: set[Key] = set()
    for path in paths:
        with path.open(newline="", encoding="utf-8") as stream:
            found.update(
                (r["home"], r["device"], r["boot"], int(r["seq"]))
                for r in csv.DictReader(stream)
                if float(r["ts"]) <= wall
            )
    return found


def recovery_seconds(paths: Iterable[Path], warehouse: Path, fault: tuple[float, float] | None) -> float:
    """Seconds from the start of the last fault (start, end; wall clock) until the warehouse held every key
    generated before its end (by the warehouse's `ingested_at`); 0 without a fault, inf when some never arrived."""
    if fault is None:
        return 0.0
    start, end = fault
    wanted = keys_before(paths, end)
    with connect_ro(warehouse) as conn:
        rows = conn.execute("SELECT home, device, boot, seq, min(ingested_at) FROM readings GROUP BY 1, 2, 3, 4")
        arrived = {(h, d, b, int(s)): float(t) for h, d, b, s, t in rows}
    if not wanted <= arrived.keys():
        return float("inf")
    return max([0.0, *(arrived[k] - start for k in wanted)])


def connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection to a SQLite file (never creates or changes it)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of a SQLite file: 'ok' when sound."""
    try:
        with connect_ro(path) as conn:
            return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:  # too damaged to check at all
        return f"unreadable: {exc}"


def stored_rows(warehouse: Path) -> list[tuple[str, str, str, int, int]]:
    """(home, device, boot, seq, idx) of every reading row, in insertion order."""
    with connect_ro(warehouse) as conn:
        try:
            return list(conn.execute("SELECT home, device, boot, seq, idx FROM readings ORDER BY id"))
        except sqlite3.DatabaseError:  # not migrated yet, or damaged (the integrity check says which)
            return []


def stored_keys(warehouse: Path) -> set[Key]:
    """Message keys present in the warehouse (for polling while the pipeline drains)."""
    return {(h, d, b, s) for h, d, b, s, _ in stored_rows(warehouse)}


def quarantined_payloads(gateway_db: Path) -> list[bytes]:
    """Payloads of the messages the gateway refused (its durable `rejected` table)."""
    if not gateway_db.exists():
        return []
    with connect_ro(gateway_db) as conn:
        return [bytes(p) for (p,) in conn.execute("SELECT payload FROM rejected ORDER BY id")]


def payload_key(home: str, payload: bytes) -> Key | None:
    """The key of a refused payload when it still decodes as telemetry, else None (a malformed copy)."""
    try:
        message = protocol.decode_telemetry(payload)
    except (ProtocolError, ValueError):
        return None
    return home, message.device, message.boot, message.seq


@dataclass
class Counters:
    """The gateway's Prometheus counters, summed over every life of the process (a SIGKILL resets them)."""

    rejected: float = 0.0
    duplicates: float = 0.0
    dropped: float = 0.0
    lost: float = 0.0

    def add(self, other: Counters) -> None:
        """Fold in the last scrape of one gateway life."""
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.dropped += other.dropped
        self.lost += other.lost


def parse_metrics(text: str) -> Counters:
    """The counters reconciliation needs, from a /metrics page."""
    found = Counters()
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("gateway_rejected_total"):
            found.rejected += float(value)
        elif name == "gateway_duplicates_total":
            found.duplicates = float(value)
        elif name == "gateway_outbox_dropped_total":
            found.dropped = float(value)
        elif name == "gateway_lost_readings_total":
            found.lost = float(value)
    return found


@dataclass
class Reconciliation:
    """The figures of one run; `line()` is what a test prints, `problems()` what makes it fail."""

    name: str
    generated: int
    stored: int
    quarantined: int
    dropped_policy: int
    missing: int
    unexpected: int
    duplicates: int
    misordered: int
    recovery_s: float
    malformed_copies: int = 0
    counters: Counters = field(default_factory=Counters)
    integrity: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """One line: the issue's nine figures, then what explains them."""
        checks = " ".join(f"{name}={result}" for name, result in self.integrity.items())
        return (
            f"chaos {self.name}: generated={self.generated} stored={self.stored} quarantined={self.quarantined} "
            f"dropped_policy={self.dropped_policy} missing={self.missing} unexpected={self.unexpected} "
            f"duplicates={self.duplicates} misordered={self.misordered} recovery_time={self.recovery_s:.1f}s"
            f" | malformed_copies={self.malformed_copies} gateway_rejects={self.counters.rejected:.0f}"
            f" gateway_duplicates={self.counters.duplicates:.0f} gateway_lost={self.counters.lost:.0f}"
            f" integrity: {checks}"
        )

    def problems(self) -> list[str]:
        """Every way the run broke the guarantee (empty when it passed)."""
        found = []
        if self.generated != self.stored + self.quarantined + self.dropped_policy:
            found.append("generated != stored + quarantined + dropped_policy")
        found += [
            f"{n}={v}"
            for n, v in (("missing", self.missing), ("unexpected", self.unexpected), ("duplicates", self.duplicates))
            if v
        ]
        found += [f"integrity_check {n}: {r}" for n, r in self.integrity.items() if r != "ok"]
        return found


def misordered(rows: list[tuple[str, str, str, int, int]]) -> int:
    """Messages stored after a higher seq of the same device and boot (informational: order is not promised)."""
    highest: dict[tuple[str, str, str], int] = {}
    count = 0
    for home, device, boot, seq, idx in rows:
        if idx:
            continue
        stream = (home, device, boot)
        if seq < highest.get(stream, -1):
            count += 1
        highest[stream] = max(seq, highest.get(stream, -1))
    return count


def reconcile(
    name: str,
    ledgers: Iterable[Path],
    *,
    warehouse: Path,
    gateway_db: Path,
    counters: Counters,
    fault: tuple[float, float] | None,
) -> Reconciliation:
    """Compare what the devices generated with what the warehouse holds and the gateway refused or dropped."""
    ledgers = list(ledgers)
    generated = read_ledgers(ledgers)
    wanted = set(generated)
    home = generated[0][0] if generated else ""
    rows = stored_rows(warehouse)
    per_row: dict[tuple[str, str, str, int, int], int] = {}
    for row in rows:
        per_row[row] = per_row.get(row, 0) + 1
    keys = {(h, d, b, s) for h, d, b, s, _ in rows}
    refused = [payload_key(home, p) for p in quarantined_payloads(gateway_db)]
    quarantined = {k for k in refused if k is not None and k in wanted and k not in keys}
    dropped = int(counters.dropped)
    return Reconciliation(
        name=name,
        generated=len(generated),
        stored=len(keys & wanted),
        quarantined=len(quarantined),
        dropped_policy=dropped,
        missing=len(wanted - keys - quarantined) - dropped,
        unexpected=len(keys - wanted) + len(generated) - len(wanted),  # a key generated twice is unexpected too
        duplicates=sum(n - 1 for n in per_row.values()),
        misordered=misordered(rows),
        recovery_s=recovery_seconds(ledgers, warehouse, fault),
        malformed_copies=sum(k is None for k in refused),
        counters=counters,
        integrity={p.name: integrity(p) for p in (gateway_db, warehouse)},
    )
