"""`iotpipe bench`: one cheap benchmark in quick form writes a valid results file and keeps the others' entries."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bench.runner import BENCHES, parse_dash
from cloud.report.perf import headline_rows, load
from iotpipe.bench_cmd import bench
from iotpipe.context import Context
from tests.report.conftest import iotpipe


def test_quick_alerts_bench_writes_a_results_file(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"benches": {"etl": {"date": "2026-11-29T00:00:00+00:00", "quick": False,
                                                   "figures": {"whole_etl_rows_per_s": 123456.0}}}}))
    done = iotpipe("--var", str(tmp_path), "bench", "--quick", "alerts", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    results = load(out)
    entry = results["benches"]["alerts"]
    assert entry["quick"] is True and entry["returncode"] == 0 and "error" not in entry
    assert {"alert_p50_ms", "alert_p99_ms", "buzzer_p50_ms"} <= set(entry["figures"])
    assert results["benches"]["etl"]["figures"] == {"whole_etl_rows_per_s": 123456.0}  # kept, not rerun
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu"]
    assert results["versions"]["python"].startswith("3.") and "pandas" in results["versions"]
    assert "date" in results
    assert "Alert latency" in done.stdout and "whole ETL 123,456 rows/s" in done.stdout
    rows = dict((title, value) for title, value, _source in headline_rows(results))
    assert rows["Gateway throughput"] == "not measured"


def test_unknown_bench_is_refused_with_the_known_names(tmp_path: Path) -> None:
    done = CliRunner().invoke(bench, ["nosuch", "--out", str(tmp_path / "r.json")], obj=Context(env={}))
    assert done.exit_code == 2
    assert "unknown benchmark(s) nosuch" in done.output and ", ".join(BENCHES) in done.output
    assert not (tmp_path / "r.json").exists()


def test_dash_home_page_callbacks_have_a_name() -> None:
    """The dashboard bench prints the home page as "/": its figures are filed under "home"."""
    figures = parse_dash("  /          heaviest: switches 59.9 ms (max 65.3 ms) ok\n"
                         "  /energy    heaviest: live 170.8 ms (max 276.9 ms) ok\n")
    assert figures == {"callback_home_ms": 59.9, "callback_home_max_ms": 65.3, "callback_energy_ms": 170.8,
                       "callback_energy_max_ms": 276.9}


def test_a_bench_past_its_timeout_is_stopped_and_recorded(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = CliRunner().invoke(bench, ["alerts", "--timeout", "1", "--out", str(out)], obj=Context(env={}))
    assert done.exit_code == 1
    assert "no figures or a failure from: alerts" in done.output
    entry = load(out)["benches"]["alerts"]
    assert entry["returncode"] == -1 and entry["error"] == "timed out after 1 s" and entry["figures"] == {}
