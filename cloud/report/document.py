"""The report's sections, laid out from the gathered figures, the charts and the bench results."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from cloud.report import perf
from cloud.report.data import KIND_LABELS, ReportData
from cloud.report.pdf import Document
from cloud.report.summary import kwh, pct

Charts = dict[str, bytes]
BREACHES_SHOWN = 15


def _num(value: Any, fmt: str, empty: str = "—") -> str:
    """A number formatted, or a dash when it is missing."""
    return empty if value is None or pd.isna(value) else fmt.format(value)


def _when(t: float, tz: str, fmt: str = "%a %d %b %H:%M") -> str:
    """Epoch seconds as local time in the home's zone."""
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime(fmt)


def cover(doc: Document, data: ReportData, lines: list[str], generated: float) -> None:
    """The first page's title block and the summary."""
    home = data.home.home
    doc.add_page()
    doc.title_block([f"{home.name} (home '{home.id}') · {data.period.label()} · {data.period.days} day(s), "
                     f"times in {home.timezone}",
                     f"Generated {_when(generated, home.timezone, '%Y-%m-%d %H:%M')} from the warehouse "
                     f"({data.raw_readings:,} raw readings in the period)"])
    doc.heading("Summary")
    doc.bullets(lines)


def no_data(doc: Document, data: ReportData) -> None:
    """The clear "no data" page for an empty period."""
    doc.heading("No data for this period")
    if data.raw_readings:
        doc.para(f"The warehouse holds {data.raw_readings:,} raw readings for {data.period.label()}, but the ETL "
                 "has not summarised them yet. Run `iotpipe etl`, then build the report again.")
    else:
        doc.para(f"The warehouse holds no readings for {data.period.label()}. Choose another period (--from/--to "
                 "or --days), or start the demo (`iotpipe demo`) and let the ETL run before building the report.")


def energy(doc: Document, data: ReportData, charts: Charts) -> None:
    """Consumption per day and appliance, hogs, standby, peak hours, threshold breaches."""
    e, currency = data.energy, data.home.home.currency
    doc.add_page()  # the first page is the summary's alone
    doc.heading("Energy")
    doc.para(f"Total {kwh(e.total_kwh)}, {e.total_cost:,.2f} {currency}; standby {kwh(e.standby_kwh)}. Daily figures "
             "come from the ETL's energy_daily table; the per-appliance table is the dashboard's hogs table for the "
             "same days.", muted=True)
    if "daily" in charts:
        doc.picture(charts["daily"])
    if "appliances" in charts:
        doc.picture(charts["appliances"])
    rows = [[str(r.appliance) + (" (hog)" if r.hog_days else ""), _num(r.kwh, "{:,.2f}"), pct(r.share),
             _num(r.cost, "{:,.2f}"), _num(r.standby_kwh, "{:,.3f}"), _num(r.on_hours, "{:,.1f}"),
             _num(r.week_over_week * 100 if pd.notna(r.week_over_week) else None, "{:+.0f}%"),
             _num(r.coverage_pct, "{:.0f}%")] for r in e.appliances.itertuples()]
    doc.heading("Per appliance", 2)
    doc.grid(["Appliance", "kWh", "Share", f"Cost ({currency})", "Standby kWh", "On hours",
              f"vs previous {data.period.days} d",
              "Complete"], rows, [52, 18, 16, 20, 22, 18, 20, 18])
    if "hourly" in charts:
        doc.picture(charts["hourly"])
    doc.heading(f"Above {e.threshold_w:,.0f} W (whole home, one-minute means)", 2)
    if e.breaches.empty:
        doc.para("Never for a whole minute.")
        return
    shown = e.breaches.sort_values(["minutes", "peak"], ascending=False).head(BREACHES_SHOWN).sort_values("start")
    doc.grid(["From", "Minutes", "Peak W"], [[_when(r.start, data.period.tz), str(r.minutes), f"{r.peak:,.0f}"]
                                             for r in shown.itertuples()], [60, 30, 30])
    if len(e.breaches) > BREACHES_SHOWN:
        doc.para(f"The {BREACHES_SHOWN} longest of {len(e.breaches)}, in time order.", muted=True)


def security(doc: Document, data: ReportData, charts: Charts) -> None:
    """Events by kind and room, door openings while away, alerts and their response times."""
    s, tz = data.security, data.period.tz
    doc.heading("Security")
    if s.events.empty:
        doc.para("No security events in this period.")
    else:
        table = s.events.assign(room=s.events["room"].fillna("?"), active=s.events["value"].astype(bool),
                                kind=s.events["kind"].map(lambda k: KIND_LABELS.get(k, k)))
        counts = table.groupby(["room", "kind"]).agg(events=("t", "size"), active=("active", "sum")).reset_index()
        doc.grid(["Room", "Kind", "Events", "Of them open/active"], [
            [r.room, r.kind, str(r.events), str(int(r.active))] for r in counts.itertuples()], [50, 40, 30, 40], 2)
        doc.picture(charts["security"])
    doc.heading("Doors opened while away", 2)
    if s.away_doors.empty:
        doc.para("None." if s.events["mode"].notna().any() else "Unknown: no alarm mode was recorded with the events.")
    else:
        doc.grid(["When", "Door", "Room"], [[_when(r.t, tz), r.device, str(r.room)] for r in s.away_doors.itertuples()],
                 [50, 60, 60], 3)
    doc.heading("Alerts and response times", 2)
    if s.alerts.empty:
        doc.para("No alerts were raised.")
    else:
        doc.grid(["Raised", "Rule", "Severity", "Room", "Acknowledged after"], [
            [_when(r.raised, tz), r.rule, r.severity, str(r.room or "—"), _num(r.response_s, "{:,.0f} s", "never")]
            for r in s.alerts.head(40).itertuples()], [40, 50, 25, 30, 35], 4)


def climate(doc: Document, data: ReportData, charts: Charts) -> None:
    """Per room: ranges, comfort hours, anomalies."""
    c = data.climate
    doc.heading("Climate")
    if c.rooms.empty:
        doc.para("No climate figures in this period.")
        return
    doc.picture(charts["climate"])
    doc.grid(["Room", "T min", "T mean", "T max", "RH min", "RH mean", "RH max", "Comfort h", "Measured h",
              "Anomalies"], [[r.room, f"{r.t_min:.1f}", f"{r.t_mean:.1f}", f"{r.t_max:.1f}", f"{r.rh_min:.0f}",
                              f"{r.rh_mean:.0f}", f"{r.rh_max:.0f}", _num(r.comfort_h, "{:.1f}"),
                              _num(r.measured_h, "{:.1f}"), str(r.anomalies)] for r in c.rooms.itertuples()],
             [26, 16, 17, 16, 17, 18, 17, 20, 22, 21])
    if len(c.anomalies):
        kinds = c.anomalies.groupby(["room", "kind", "rule"]).size().reset_index(name="n")
        doc.heading("Anomalous readings", 2)
        doc.grid(["Room", "Kind", "Rule", "Readings"], [[str(r.room), r.kind, r.rule, str(r.n)]
                                                         for r in kinds.itertuples()], [50, 40, 40, 30], 3)


def availability(doc: Document, data: ReportData) -> None:
    """Per device: minutes reporting, messages, gaps, failures, duplicates."""
    a = data.availability
    doc.heading("Device availability")
    if a.devices.empty:
        doc.para("No data-quality figures in this period.")
        return
    doc.para("Online: share of the hours, from the home's first reading in the period, in which the device reported "
             "at least once. Gaps: silences longer than three heartbeats (from the ETL's data-quality table).",
             muted=True)
    doc.grid(["Device", "Online", "Messages", "Readings", "Failed", "Gaps", "Longest gap", "Duplicates", "Late"], [
        [r.device, _num(r.online_pct, "{:.1f}%"), f"{r.messages:,}", f"{r.readings:,}", str(r.failed), f"{r.gaps:,}",
         f"{r.max_gap_s:,.0f} s", str(r.duplicates), str(r.late)] for r in a.devices.itertuples()],
        [40, 18, 20, 20, 15, 17, 22, 20, 13])


def performance(doc: Document, data: ReportData) -> None:
    """Throughput, latencies, loss and duplicates end to end, memory: from the latest bench results."""
    doc.heading("System performance")
    a = data.availability
    doc.heading("Loss and duplicates, end to end (this period, from the warehouse)", 2)
    doc.grid(["What", "Count"], [["Duplicate messages removed (same identity key)", str(int(a.devices[
        "duplicates"].sum()) if len(a.devices) else 0)], ["Readings the gateway recorded as lost (unfillable gaps)",
        str(a.lost)], ["Rows dropped from a full gateway outbox", str(a.dropped)],
        ["Messages rejected by validation", str(a.rejected)]], [140, 40])
    if not data.bench:
        doc.para("No bench results: run `iotpipe bench` (or `iotpipe bench --quick`) and pass the file with --bench.")
        return
    doc.heading("Benchmarks", 2)
    doc.grid(["Figure", "Value", "From"], [list(r) for r in perf.headline_rows(data.bench)], [38, 104, 38], 3)
    machine, versions = data.bench.get("machine", {}), data.bench.get("versions", {})
    doc.para(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
             f"{machine.get('memory_gib', '?')} GiB; " + ", ".join(f"{k} {v}" for k, v in versions.items())
             + ". Quick runs use shorter windows and smaller loads than the full suite.", muted=True)
