"""The reconciliation helper itself: each way a run can go wrong shows in its figures (small SQLite files)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from protocol import encode
from protocol.kinds import Kind
from protocol.messages import Reading, Telemetry
from tests.chaos.reconcile import Counters, Reconciliation, parse_metrics, reconcile

HOME = "h1"


def ledger(path: Path, seqs: range) -> Path:
    """A ledger of `seqs` for device d1, boot beef."""
    path.write_text("home,device,boot,seq,ts\n" + "".join(f"{HOME},d1,beef,{s},1.000\n" for s in seqs))
    return path


def warehouse(path: Path, rows: list[tuple[str, int, int]]) -> Path:
    """A warehouse `readings` table (without the unique key, so a doubled row can be represented)."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE readings (id INTEGER PRIMARY KEY, home, device, boot, seq, idx, ingested_at DEFAULT 3.0)"
        )
        conn.executemany(
            "INSERT INTO readings (home, device, boot, seq, idx) VALUES (?, 'd1', ?, ?, ?)",
            [(HOME, b, s, i) for b, s, i in rows],
        )
    conn.close()
    return path


def gateway_db(path: Path, payloads: list[bytes]) -> Path:
    """A gateway database with its `rejected` table."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE rejected (id INTEGER PRIMARY KEY, payload BLOB)")
        conn.executemany("INSERT INTO rejected (payload) VALUES (?)", [(p,) for p in payloads])
    conn.close()
    return path


def telemetry(seq: int) -> bytes:
    """A valid message of d1/beef with `seq`."""
    return encode(Telemetry(v=1, device="d1", boot="beef", seq=seq, ts=1.0, readings=(Reading(Kind.MOTION, True),)))


def run(
    tmp_path: Path, rows: list[tuple[str, int, int]], refused: Sequence[bytes] = (), dropped: float = 0
) -> Reconciliation:
    """Reconcile a ledger of seqs 0..4 against `rows` and `refused`."""
    return reconcile(
        "unit",
        [ledger(tmp_path / "ledger.csv", range(5))],
        warehouse=warehouse(tmp_path / "w.db", rows),
        gateway_db=gateway_db(tmp_path / "g.db", list(refused)),
        counters=Counters(dropped=dropped),
        fault=None,
    )


def test_everything_stored_once_passes(tmp_path: Path) -> None:
    result = run(tmp_path, [("beef", s, i) for s in range(5) for i in range(2)])
    assert (result.generated, result.stored, result.missing, result.duplicates) == (5, 5, 0, 0)
    assert result.problems() == [] and result.integrity == {"g.db": "ok", "w.db": "ok"}
    assert "generated=5 stored=5 quarantined=0 dropped_policy=0 missing=0" in result.line()


@pytest.mark.parametrize(
    ("rows", "figure"),
    [
        ([("beef", s, 0) for s in range(4)], "missing=1"),
        ([("beef", s, 0) for s in range(5)] + [("dead", 0, 0)], "unexpected=1"),
        ([("beef", s, 0) for s in range(5)] + [("beef", 3, 0)], "duplicates=1"),
    ],
    ids=["missing", "unexpected", "duplicate"],
)
def test_each_breach_fails_with_its_figure(tmp_path: Path, rows: list[tuple[str, int, int]], figure: str) -> None:
    result = run(tmp_path, rows)
    assert figure in result.problems() and figure in result.line()


def test_malformed_copies_are_not_ledger_keys_but_a_refused_key_is_quarantined(tmp_path: Path) -> None:
    result = run(tmp_path, [("beef", s, 0) for s in range(4)], refused=[b'{"v": 1, "dev', telemetry(4)])
    assert (result.quarantined, result.malformed_copies, result.missing) == (1, 1, 0)
    assert result.problems() == []


def test_policy_drops_balance_the_books(tmp_path: Path) -> None:
    result = run(tmp_path, [("beef", s, 0) for s in range(3)], dropped=2)
    assert (result.dropped_policy, result.missing, result.problems()) == (2, 0, [])


def test_misordered_arrivals_are_counted(tmp_path: Path) -> None:
    result = run(tmp_path, [("beef", s, 0) for s in (0, 2, 1, 3, 4)])
    assert result.misordered == 1 and result.problems() == []


def test_a_damaged_sqlite_file_fails_the_integrity_check(tmp_path: Path) -> None:
    good = run(tmp_path, [("beef", s, 0) for s in range(5)])
    assert good.problems() == []
    data = bytearray((tmp_path / "w.db").read_bytes())
    data[4096 : 4096 + 8] = b"\xff" * 8  # scribble over the header of the table's page
    (tmp_path / "w.db").write_bytes(bytes(data))
    damaged = reconcile(
        "unit",
        [tmp_path / "ledger.csv"],
        warehouse=tmp_path / "w.db",
        gateway_db=tmp_path / "g.db",
        counters=Counters(),
        fault=None,
    )
    assert any(p.startswith("integrity_check w.db") for p in damaged.problems()), damaged.line()


def test_recovery_runs_from_the_fault_start_until_everything_generated_before_its_end_is_stored(
    tmp_path: Path,
) -> None:
    run(tmp_path, [("beef", s, 0) for s in range(5)])
    figures = {"warehouse": tmp_path / "w.db", "gateway_db": tmp_path / "g.db", "counters": Counters()}
    result = reconcile("unit", [tmp_path / "ledger.csv"], fault=(0.5, 1.5), **figures)  # type: ignore[arg-type]
    assert result.recovery_s == 2.5  # ledger ts 1.0, ingested at 3.0
    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("DELETE FROM readings WHERE seq = 4")
    conn.close()
    never = reconcile("unit", [tmp_path / "ledger.csv"], fault=(0.5, 1.5), **figures)  # type: ignore[arg-type]
    assert never.recovery_s == float("inf") and "missing=1" in never.problems()


def test_metrics_page_counters_are_read_and_summed_over_lives() -> None:
    page = (
        'gateway_rejected_total{reason="bad_json"} 3.0\ngateway_rejected_total{reason="schema"} 2.0\n'
        "gateway_duplicates_total 7.0\ngateway_outbox_dropped_total 0.0\ngateway_lost_readings_total 1.0\n"
    )
    total = Counters()
    total.add(parse_metrics(page))
    total.add(parse_metrics(page))
    assert (total.rejected, total.duplicates, total.dropped, total.lost) == (10, 14, 0, 2)
