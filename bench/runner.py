"""Run the scripts of `bench/`, collect their figures into one JSON results file, and show them as a table.

Each script stays a plain program that prints its figures. The runner reads them one of two ways: a script that
offers `--json PATH` writes a flat dict of figures there; for the others the runner parses the lines the script
prints (the patterns below), so a script whose wording changes shows up as "no figures" rather than as wrong ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("var/bench/results.json")
PACKAGES = ("paho-mqtt", "msgspec", "SQLAlchemy", "pandas", "pyarrow", "numpy", "dash", "duckdb", "psycopg",
            "matplotlib", "fpdf2")
Figures = dict[str, float | str]
NUMBER = r"([\d,]+(?:\.\d+)?)"


def _num(text: str) -> float:
    """A printed number ("12,345.6") as a float."""
    return float(text.replace(",", ""))


def _slug(text: str) -> str:
    """A figure-name-safe form of a label ("gw-burst" -> "gw_burst")."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def parse_simulator(out: str) -> Figures:
    """Sustained live devices, the best live rate under 1 % late ticks, backfill rows/s."""
    figures: Figures = {}
    rows = re.findall(rf"^\s*(\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+(\d+)\s", out, re.M)
    rates = [_num(rate) for _devices, late, rate, _cpu, _kept in rows if _num(late) < 1.0]
    if rates:
        figures["live_msg_per_s"] = max(rates)
    if m := re.search(r"sustained: (\d+) devices", out):
        figures["live_devices_sustained"] = _num(m[1])
    if m := re.search(rf"generate only: .*= {NUMBER} rows/s", out):
        figures["backfill_generate_rows_per_s"] = _num(m[1])
    if m := re.search(rf"written: .*= {NUMBER} rows/s", out):
        figures["backfill_written_rows_per_s"] = _num(m[1])
    return figures


GATEWAY_RUN = re.compile(
    rf"^(\S+)\s+(\d+) msgs\s+offered\s+{NUMBER}/s\s+delivered\s+{NUMBER}/s\s+lost (-?\d+)\s+repeats (\d+)\s+"
    rf"CPU\s+{NUMBER} µs/msg\s+RSS peak {NUMBER} MiB", re.M)


def parse_gateway(out: str) -> Figures:
    """Per run (gateway, gw-burst, node-red, nr-burst): delivered/s, lost, repeats, CPU µs/msg, peak RSS."""
    figures: Figures = {}
    for name, _sent, _offered, delivered, lost, repeats, cpu, rss in GATEWAY_RUN.findall(out):
        key = _slug(name)
        figures.update({f"{key}_delivered_per_s": _num(delivered), f"{key}_lost": _num(lost),
                        f"{key}_repeats": _num(repeats), f"{key}_cpu_us_per_msg": _num(cpu),
                        f"{key}_rss_peak_mib": _num(rss)})
    if m := re.search(rf"hour's worth.*?{NUMBER} MiB", out):
        figures["gateway_rss_after_1h_mib"] = _num(m[1])
    return figures


def parse_alerts(out: str) -> Figures:
    """Alert latency p50/p99/max: to a subscriber, to the buzzer pin, and the broker alone."""
    figures: Figures = {}
    for label, key in (("alert at a subscriber", "alert"), ("buzzer pin high", "buzzer"), ("broker alone", "broker")):
        if m := re.search(rf"{label}:\s+p50 {NUMBER} ms\s+p99 {NUMBER} ms\s+max {NUMBER} ms", out):
            figures.update({f"{key}_p50_ms": _num(m[1]), f"{key}_p99_ms": _num(m[2]), f"{key}_max_ms": _num(m[3])})
    return figures


def parse_firmware(out: str) -> Figures:
    """Paced and flat-out rate and latency, heap peak and free, bare client rate, smallest heap."""
    figures: Figures = {}
    runs = re.findall(rf"door every (20 ms|loop).*?(\d+) msg/s received.*?p50 {NUMBER} ms, p99 {NUMBER} ms.*?\n"
                      rf"\s+heap: peak (\d+) B in use.*?(\d+) B free", out)
    for which, rate, p50, p99, peak, free in runs:
        key = "paced" if which == "20 ms" else "flat_out"
        figures.update({f"{key}_msg_per_s": _num(rate), f"{key}_p50_ms": _num(p50), f"{key}_p99_ms": _num(p99),
                        f"{key}_heap_peak_b": _num(peak), f"{key}_heap_free_b": _num(free)})
    if m := re.search(rf"bare MQTT client: {NUMBER}", out):
        figures["bare_client_msg_per_s"] = _num(m[1])
    if m := re.search(r"smallest heap .*?: (.+)$", out, re.M):
        figures["smallest_heap"] = m[1].strip()
    return figures


def parse_ingest(out: str) -> Figures:
    """Readings/s stored per backend and worker count; publish->row latency p50/p95."""
    figures: Figures = {}
    for backend, workers, rate in re.findall(rf"(SQLite|PostgreSQL)\s+(\d) workers?\s+{NUMBER} readings/s", out):
        figures[f"{_slug(backend)}_{workers}w_readings_per_s"] = _num(rate)
    for backend, p50, p95 in re.findall(rf"(SQLite|PostgreSQL)\s+latency publish->row .*?p50 {NUMBER} ms, "
                                        rf"p95 {NUMBER} ms", out):
        figures[f"{_slug(backend)}_publish_to_row_p50_ms"] = _num(p50)
        figures[f"{_slug(backend)}_publish_to_row_p95_ms"] = _num(p95)
    return figures


def parse_etl(out: str) -> Figures:
    """Rows/s and peak MiB of the raw load, the whole ETL, and the transform in pandas and in DuckDB."""
    figures: Figures = {}
    steps = (("raw load into SQLite", "raw_load"), (r"whole ETL \(SQLite\)", "whole_etl"),
             ("transform, pandas", "transform_pandas"), ("transform, DuckDB SQL", "transform_duckdb"))
    for label, key in steps:
        if m := re.search(rf"{label}\s+{NUMBER} s\s+{NUMBER} rows/s\s+peak {NUMBER} MiB", out):
            figures.update({f"{key}_rows_per_s": _num(m[2]), f"{key}_peak_mib": _num(m[3])})
    if m := re.search(rf"^bench_etl: {NUMBER} readings", out, re.M):
        figures["readings"] = _num(m[1])
    if m := re.search(rf"pandas/DuckDB time ratio: {NUMBER}", out):
        figures["pandas_duckdb_time_ratio"] = _num(m[1])
    return figures


def parse_dash(out: str) -> Figures:
    """Each page's heaviest callback, page draw times in Chromium, the server's memory, the banner's delay."""
    figures: Figures = {}
    for page, _name, median, worst in re.findall(rf"^\s+(\S+)\s+heaviest: (\S+) {NUMBER} ms \(max {NUMBER} ms\)",
                                                 out, re.M):
        page_name = _slug(page) or "home"
        figures[f"callback_{page_name}_ms"] = _num(median)
        figures[f"callback_{page_name}_max_ms"] = _num(worst)
    for path, median in re.findall(rf"^\s+(/\S*)\s+drawn in {NUMBER} s", out, re.M):
        figures[f"page_{_slug(path) or 'home'}_s"] = _num(median)
    if m := re.search(rf"server memory .*RSS {NUMBER} MiB, peak {NUMBER} MiB", out):
        figures["server_rss_mib"], figures["server_rss_peak_mib"] = _num(m[1]), _num(m[2])
    if m := re.search(rf"banner shown {NUMBER} s", out):
        figures["banner_delay_s"] = _num(m[1])
    return figures


def parse_e2e(out: str) -> Figures:
    """Device -> warehouse latency percentiles, missing seqs and messages stored twice."""
    figures: Figures = {}
    if m := re.search(rf"device -> warehouse: p50 {NUMBER} ms\s+p95 {NUMBER} ms\s+p99 {NUMBER} ms\s+max {NUMBER} ms",
                      out):
        figures.update(e2e_p50_ms=_num(m[1]), e2e_p95_ms=_num(m[2]), e2e_p99_ms=_num(m[3]), e2e_max_ms=_num(m[4]))
    if m := re.search(rf"missing seqs .*?: {NUMBER}; messages stored twice: {NUMBER}", out):
        figures.update(missing_seqs=_num(m[1]), duplicate_messages=_num(m[2]))
    for name, mib in re.findall(rf"(\w+) {NUMBER} MiB", out.split("peak RSS:", 1)[-1] if "peak RSS:" in out else ""):
        figures[f"{name}_rss_peak_mib"] = _num(mib)
    return figures


@dataclass(frozen=True)
class Bench:
    """One benchmark script: how to run it in full and in quick form, and how to read what it prints."""

    name: str
    script: str
    parse: Callable[[str], Figures]
    quick: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def command(self, quick: bool, json_path: Path | None) -> list[str]:
        """The command line that runs it."""
        args = [sys.executable, str(REPO_ROOT / "bench" / self.script), *(self.quick if quick else self.full)]
        return args + (["--json", str(json_path)] if json_path else [])

    def takes_json(self) -> bool:
        """True when the script offers `--json PATH` (then its own figures win over parsed ones)."""
        return "--json" in (REPO_ROOT / "bench" / self.script).read_text()


def _gateway_quick() -> tuple[str, ...]:
    """Node-RED joins the quick run only once it is installed (installing it takes minutes)."""
    installed = (REPO_ROOT / "var" / "bench" / "node-red" / "node_modules").is_dir()
    return ("--messages", "5000", "--devices", "5", *(() if installed else ("--skip-node-red",)))


BENCHES: dict[str, Bench] = {b.name: b for b in (
    Bench("simulator", "bench_simulator.py", parse_simulator,
          ("--steps", "50,100", "--seconds", "3", "--days", "0.05")),
    Bench("gateway", "bench_gateway.py", parse_gateway, _gateway_quick()),
    Bench("alerts", "bench_alerts.py", parse_alerts, ("--samples", "50", "--rate", "200")),
    Bench("firmware", "bench_firmware.py", parse_firmware, ("--seconds", "1")),
    Bench("ingest", "bench_ingest.py", parse_ingest, ("--readings", "20000", "--no-pg")),
    Bench("etl", "bench_etl.py", parse_etl, ("--readings", "50000",)),
    Bench("dash", "bench_dash.py", parse_dash, ("--raw-hours", "1", "--runs", "2")),
    Bench("e2e", "bench_e2e.py", parse_e2e, ("--seconds", "20")),
)}


def machine() -> dict[str, Any]:
    """The machine the figures come from: CPU model, cores, memory, OS."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    return {"cpu": model[1].strip() if model else platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "memory_gib": round(int(mem[1]) / 2**20, 1) if mem else None,
            "os": platform.platform()}


def versions() -> dict[str, str]:
    """Python's and the key packages' versions."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def run_one(bench: Bench, *, quick: bool, timeout_s: float) -> dict[str, Any]:
    """Run one script; its figures (from `--json`, else parsed from its output), exit code, time and last lines."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        json_path = Path(tmp) / "figures.json" if bench.takes_json() else None
        command = bench.command(quick, json_path)
        started = time.monotonic()
        out, err, code = _run(command, timeout_s, {**os.environ, **bench.env})
        figures = bench.parse(out)
        if json_path is not None and json_path.exists():
            figures.update(json.loads(json_path.read_text()))
    entry: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "quick": quick,
                             "command": [Path(command[0]).name, *command[1:]], "seconds": round(
                                 time.monotonic() - started, 1), "returncode": code, "figures": figures,
                             "output": out.splitlines()[-40:]}
    if code != 0 or not figures:
        entry["error"] = (err.strip().splitlines() or ["no figures found in its output"])[-1][:300]
    return entry


def _run(command: list[str], timeout_s: float, env: dict[str, str]) -> tuple[str, str, int]:
    """Run a script in its own process group; on timeout the whole group (its brokers, services) is killed."""
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return out, err + f"\ntimed out after {timeout_s:.0f} s", -1
    return out, err, proc.returncode


def load_results(path: Path) -> dict[str, Any]:
    """A results file, or an empty one when there is none yet."""
    if not path.exists():
        return {"benches": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    data.setdefault("benches", {})
    return data


def run(names: Iterable[str], *, quick: bool, out: Path, timeout_s: float | None = None,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the named benchmarks (all when none) and merge their entries into the results file at `out`."""
    chosen = list(names) or list(BENCHES)
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        raise KeyError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    results = load_results(out)
    for name in chosen:
        echo(f"bench {name}{' (quick)' if quick else ''} ...")
        entry = run_one(BENCHES[name], quick=quick, timeout_s=timeout_s or (900.0 if quick else 3600.0))
        results["benches"][name] = entry
        echo(f"  {name}: {len(entry['figures'])} figures in {entry['seconds']} s"
             + (f"; problem: {entry['error']}" if "error" in entry else ""))
    results.update(date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), machine=machine(),
                   versions=versions())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
    tmp.replace(out)
    return results
