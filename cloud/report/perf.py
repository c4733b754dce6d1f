"""System performance from a bench results file: the headline rows shown by `iotpipe bench` and in the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud.report.errors import ReportInputError


@dataclass(frozen=True, slots=True)
class Part:
    """One figure of a headline: which key, how to print it, and the words around it."""

    key: str
    fmt: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Headline:
    """A row of the performance table, built from one bench's figures."""

    title: str
    bench: str
    parts: tuple[Part, ...]


def _p(key: str, fmt: str, label: str = "") -> Part:
    return Part(key, fmt, label)


HEADLINES: tuple[Headline, ...] = (
    Headline("Simulator capacity", "simulator", (
        _p("live_devices_sustained", "{:,.0f} devices at 1 s"), _p("live_msg_per_s", "{:,.0f} msg/s"),
        _p("backfill_generate_rows_per_s", "{:,.0f} rows/s", "backfill"))),
    Headline("Gateway throughput", "gateway", (
        _p("gateway_delivered_per_s", "{:,.0f} msg/s", "gateway"), _p("gw_burst_delivered_per_s", "{:,.0f} msg/s",
                                                                       "burst"),
        _p("node_red_delivered_per_s", "{:,.0f} msg/s", "Node-RED"), _p("nr_burst_delivered_per_s", "{:,.0f} msg/s",
                                                                        "Node-RED burst"))),
    Headline("Gateway loss / repeats", "gateway", (
        _p("gateway_lost", "{:,.0f} lost"), _p("gateway_repeats", "{:,.0f} repeats"),
        _p("gw_burst_lost", "{:,.0f} lost", "burst"), _p("gw_burst_repeats", "{:,.0f} repeats", "burst"))),
    Headline("Alert latency", "alerts", (
        _p("alert_p50_ms", "p50 {:.1f} ms"), _p("alert_p99_ms", "p99 {:.1f} ms"),
        _p("buzzer_p50_ms", "p50 {:.1f} ms", "buzzer"), _p("buzzer_p99_ms", "p99 {:.1f} ms", "buzzer"))),
    Headline("Device -> warehouse latency", "e2e", (
        _p("e2e_p50_ms", "p50 {:,.0f} ms"), _p("e2e_p95_ms", "p95 {:,.0f} ms"), _p("e2e_p99_ms", "p99 {:,.0f} ms"),
        _p("messages", "{:,.0f} messages", "over"))),
    Headline("Loss / duplicates end to end", "e2e", (
        _p("missing_seqs", "{:,.0f} readings missing"), _p("duplicate_messages", "{:,.0f} stored twice"))),
    Headline("Uplink -> warehouse latency", "ingest", (
        _p("sqlite_publish_to_row_p50_ms", "p50 {:,.0f} ms", "SQLite"),
        _p("sqlite_publish_to_row_p95_ms", "p95 {:,.0f} ms", "SQLite"),
        _p("sqlite_latency_seen", "{:,.0f} rows seen", "of those sent"),
        _p("sqlite_latency_sent", "{:,.0f} sent"),
        _p("postgresql_publish_to_row_p50_ms", "p50 {:,.0f} ms", "PostgreSQL"))),
    Headline("Ingest rate", "ingest", (
        _p("sqlite_1w_readings_per_s", "{:,.0f} readings/s", "SQLite 1 worker"),
        _p("sqlite_2w_readings_per_s", "{:,.0f}/s", "2 workers"),
        _p("postgresql_1w_readings_per_s", "{:,.0f}/s", "PostgreSQL 1 worker"),
        _p("postgresql_2w_readings_per_s", "{:,.0f}/s", "2 workers"))),
    Headline("ETL rows/s", "etl", (
        _p("whole_etl_rows_per_s", "{:,.0f} rows/s", "whole ETL"),
        _p("transform_pandas_rows_per_s", "{:,.0f}/s", "transform pandas"),
        _p("transform_duckdb_rows_per_s", "{:,.0f}/s", "DuckDB"), _p("raw_load_rows_per_s", "{:,.0f}/s", "raw load"))),
    Headline("Dashboard callbacks", "dash", (
        _p("callback_home_ms", "{:.0f} ms", "home"), _p("callback_energy_ms", "{:.0f} ms", "energy"),
        _p("callback_security_ms", "{:.0f} ms", "security"), _p("callback_system_ms", "{:.0f} ms", "system"))),
    Headline("Memory", "gateway", (
        _p("gateway_rss_peak_mib", "{:.0f} MiB", "gateway peak"), _p("gateway_rss_after_1h_mib", "{:.0f} MiB",
                                                                       "after 1 h"),
        _p("node_red_rss_peak_mib", "{:.0f} MiB", "Node-RED peak"))),
    Headline("Memory", "e2e", (_p("ingest_rss_peak_mib", "{:.0f} MiB", "ingest worker peak"),
                               _p("simulator_rss_peak_mib", "{:.0f} MiB", "simulator peak"),
                               _p("gateway_rss_peak_mib", "{:.0f} MiB", "gateway peak (live)"))),
    Headline("Memory", "dash", (_p("server_rss_peak_mib", "{:.0f} MiB", "dashboard peak"),)),
    Headline("Memory", "etl", (_p("whole_etl_peak_mib", "{:.0f} MiB", "ETL peak"),
                               _p("transform_duckdb_peak_mib", "{:.0f} MiB", "DuckDB peak"))),
    Headline("Firmware heap", "firmware", (
        _p("paced_heap_peak_b", "{:,.0f} B", "peak in use"), _p("paced_heap_free_b", "{:,.0f} B", "free"),
        _p("smallest_heap", "{}", "smallest heap"))),
)


def _value(figures: dict[str, Any], headline: Headline) -> str | None:
    """The headline's figures joined, or None when the bench gave none of them."""
    shown = [" ".join(filter(None, (part.label, part.fmt.format(figures[part.key]))))
             for part in headline.parts if figures.get(part.key) is not None]
    return "; ".join(shown) or None


def headline_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(title, value, source) per headline; "not measured" when the bench has not run or gave no figure."""
    benches = results.get("benches", {})
    rows = []
    for headline in HEADLINES:
        entry = benches.get(headline.bench)
        value = _value(entry.get("figures", {}), headline) if entry else None
        source = "—" if entry is None else f"{headline.bench}, {entry.get('date', '?')[:10]}" + (
            " (quick)" if entry.get("quick") else "")
        rows.append((headline.title, value or "not measured", source))
    return rows


def table(results: dict[str, Any]) -> str:
    """The headline rows as a plain-text table for the terminal."""
    rows = [("figure", "value", "from"), *headline_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{t:<{widths[0]}}  {v:<{widths[1]}}  {s}" for t, v, s in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any]:
    """A bench results file; ReportInputError names the file when it cannot be read."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: not a readable bench results file ({exc})") from exc
    if not isinstance(data.get("benches"), dict):
        raise ReportInputError(f"{path}: no 'benches' object; write it with `iotpipe bench`")
    return data
