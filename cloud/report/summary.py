"""The report's summary: sentences written from the figures, each one only when its figures exist."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cloud.report.data import (
    COMFORT_C,
    COMFORT_RH,
    KIND_LABELS,
    Availability,
    Climate,
    Energy,
    ReportData,
    Security,
)
from cloud.warehouse.queries import UNTRACKED


def kwh(value: float) -> str:
    """Energy as printed everywhere in the report, so a reader (or a test) finds the same figure twice."""
    return f"{value:,.2f} kWh" if abs(value) >= 1 or value == 0 else f"{value:.3f} kWh"


def pct(share: float) -> str:
    """A share (0..1) as printed everywhere in the report."""
    return f"{share * 100:.1f}%"


def top_appliance(appliances: pd.DataFrame) -> pd.Series | None:
    """The largest tracked consumer (the meter's untracked remainder is not an appliance)."""
    tracked = appliances.loc[appliances["appliance"] != UNTRACKED] if len(appliances) else appliances
    return None if tracked.empty else tracked.iloc[0]


def energy_lines(e: Energy, days: int, currency: str, standby_w: float) -> list[str]:
    """Consumption, the top consumer, hogs, standby, the peak hour and threshold breaches."""
    if e.daily.empty:
        return ["No energy figures for this period: the ETL has not produced daily energy for these days."]
    source = "at the home meter" if e.metered else "summed over the appliances (no home meter)"
    lines = [f"The home used {kwh(e.total_kwh)} {source} over {days} day(s), {kwh(e.total_kwh / days)} a day, "
             f"costing {e.total_cost:,.2f} {currency}."]
    top = top_appliance(e.appliances)
    if top is None or top["kwh"] <= 0:
        lines.append("No appliance used a measurable amount of energy yet.")
    else:
        lines.append(f"The largest consumer was the {top['appliance']}: {kwh(top['kwh'])}, {pct(top['share'])} of "
                     f"the total, {top['cost']:,.2f} {currency}.")
    lines.append(_hogs(e))
    tracked = e.appliances.loc[e.appliances["appliance"] != UNTRACKED, "kwh"].sum() if len(e.appliances) else 0.0
    if tracked > 0:
        lines.append(f"Standby (under {standby_w:g} W) took {kwh(e.standby_kwh)}, {pct(e.standby_kwh / tracked)} of "
                     f"the appliances' energy.")
    return lines + _peaks(e)


def _hogs(e: Energy) -> str:
    """Which appliances ran above their usual level, or why that cannot be said yet."""
    if not e.hog_ready:
        return "Energy hogs are judged against 7 to 28 days of history; there is not enough before this period yet."
    hogs = e.appliances.loc[e.appliances["hog_days"] > 0]
    if hogs.empty:
        return "No appliance used more than its usual (95th percentile) daily energy."
    names = ", ".join(f"{r.appliance} ({int(r.hog_days)} day(s))" for r in hogs.itertuples())
    return f"Above their usual daily energy (hogs): {names}."


def _peaks(e: Energy) -> list[str]:
    """The peak hour of the day and the threshold breaches."""
    lines = []
    if len(e.hourly):
        peak = e.hourly.loc[e.hourly["watts"].idxmax()]
        quiet = float(e.hourly["watts"].min())
        ratio = f", {peak['watts'] / quiet:.1f}x the quietest hour" if quiet > 0 and len(e.hourly) > 1 else ""
        lines.append(f"Consumption peaks at {int(peak['hour']):02d}:00-{(int(peak['hour']) + 1) % 24:02d}:00 (mean "
                     f"{peak['watts']:,.0f} W{ratio}).")
    if e.breaches.empty:
        lines.append(f"Home power never stayed above {e.threshold_w:,.0f} W for a whole minute.")
    else:
        lines.append(f"Home power went above {e.threshold_w:,.0f} W {len(e.breaches)} time(s), "
                     f"{int(e.breaches['minutes'].sum())} minute(s) in all, peaking at "
                     f"{e.breaches['peak'].max():,.0f} W.")
    return lines


def security_lines(s: Security) -> list[str]:
    """Events by kind and room, doors opened while away, alerts and response times."""
    if s.events.empty:
        lines = ["No security events (doors, windows, motion, smoke) were recorded in this period."]
    else:
        kinds = s.events.groupby(s.events["kind"].map(lambda k: KIND_LABELS.get(k, k))).size().sort_values(
            ascending=False)
        rooms = s.events.groupby(s.events["room"].fillna("unknown room")).size().sort_values(ascending=False)
        lines = [f"{len(s.events)} security events: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
                 + f"; the busiest room was the {rooms.index[0]} ({rooms.iloc[0]})."]
        if s.events["mode"].isna().all():
            lines.append("The alarm mode is unknown for every event (no mode change reached the warehouse), so "
                         "door openings while away cannot be counted.")
        else:
            lines.append(f"{len(s.away_doors)} door opening(s) while the alarm was set to away.")
    return [*lines, _alerts(s.alerts)]


def _alerts(alerts: pd.DataFrame) -> str:
    """How many alerts, how many critical, how fast they were answered."""
    if alerts.empty:
        return "No alerts were raised."
    answered = alerts["response_s"].dropna()
    critical = int((alerts["severity"] == "critical").sum())
    speed = (f"; median response {answered.median():,.0f} s, slowest {answered.max():,.0f} s" if len(answered)
             else "; none was acknowledged")
    missing = len(alerts) - len(answered)
    return f"{len(alerts)} alert(s) raised ({critical} critical){speed}, {missing} not acknowledged."


def comfort_share(rooms: pd.DataFrame) -> pd.Series:
    """Per room, the share of measured hours in the comfort band."""
    return rooms["comfort_h"] / rooms["measured_h"]


def climate_lines(c: Climate) -> list[str]:
    """Temperature extremes, comfort hours, anomalies."""
    if c.rooms.empty:
        return ["No climate figures for this period."]
    rooms = c.rooms.set_index("room")
    lines = [f"Temperatures ranged from {rooms['t_min'].min():.1f} °C ({rooms['t_min'].idxmin()}) to "
             f"{rooms['t_max'].max():.1f} °C ({rooms['t_max'].idxmax()})."]
    if rooms["measured_h"].fillna(0).sum() > 0:
        share = comfort_share(rooms)
        if share.max() - share.min() < 0.0005:
            lines.append(f"Every room was in the comfort band ({COMFORT_C[0]:g}-{COMFORT_C[1]:g} °C, "
                         f"{COMFORT_RH[0]:g}-{COMFORT_RH[1]:g} % RH) for {pct(share.max())} of its measured hours.")
            return [*lines, *_anomaly_lines(c)]
        lines.append(f"In the comfort band ({COMFORT_C[0]:g}-{COMFORT_C[1]:g} °C, {COMFORT_RH[0]:g}-"
                     f"{COMFORT_RH[1]:g} % RH) longest: {share.idxmax()} ({rooms.loc[share.idxmax(), 'comfort_h']:.1f} "
                     f"h, {pct(share.max())}); shortest: {share.idxmin()} ({pct(share.min())}).")
    return [*lines, *_anomaly_lines(c)]


def _anomaly_lines(c: Climate) -> list[str]:
    """How many readings were flagged, and where most of them were."""
    if c.anomalies.empty:
        return []
    worst = c.anomalies.groupby("room").size().sort_values(ascending=False)
    return [f"{len(c.anomalies)} anomalous reading(s) flagged, most in the {worst.index[0]} ({worst.iloc[0]})."]


def availability_lines(a: Availability) -> list[str]:
    """Reporting devices, the least available one, duplicates, losses and rejections."""
    if a.devices.empty:
        return []
    online = a.devices.set_index("device")["online_pct"].fillna(0.0)
    spread = ("every one of them in every hour" if online.min() >= 99.95 else
              f"in {online.mean():.1f}% of the hours on average (lowest: {online.idxmin()} at "
              f"{online.min():.1f}%)")
    return [f"{len(online)} devices reported, {spread}; {int(a.devices['duplicates'].sum())} duplicate(s) "
            f"removed, {a.lost} reading(s) recorded lost by the gateway, {a.dropped} dropped from a full outbox, "
            f"{a.rejected} message(s) rejected."]


PERFORMANCE = (  # (bench, figure, how it reads in a sentence)
    ("gateway", "gateway_delivered_per_s", "the gateway moved {:,.0f} msg/s"),
    ("gateway", "node_red_delivered_per_s", "Node-RED {:,.0f} msg/s"),
    ("alerts", "alert_p99_ms", "edge alerts took {:.1f} ms at p99"),
    ("e2e", "e2e_p50_ms", "a reading reached the warehouse in {:,.0f} ms (p50)"),
    ("e2e", "missing_seqs", "{:,.0f} reading(s) went missing end to end"),
    ("etl", "whole_etl_rows_per_s", "the ETL ran at {:,.0f} rows/s"),
)


def performance_lines(bench: dict[str, Any]) -> list[str]:
    """One sentence from the latest bench results, naming their date and whether they were quick runs."""
    benches = bench.get("benches", {})
    parts = [text.format(benches[name]["figures"][key]) for name, key, text in PERFORMANCE
             if benches.get(name, {}).get("figures", {}).get(key) is not None]
    if not parts:
        return []
    quick = any(entry.get("quick") for entry in benches.values())
    when = str(bench.get("date", "?"))[:10]
    return [f"Latest benchmarks ({when}{', quick runs' if quick else ''}): " + "; ".join(parts) + "."]


def summary(data: ReportData, standby_w: float) -> list[str]:
    """Every sentence of the summary, in the order of the report's sections."""
    currency = data.home.home.currency
    return [*energy_lines(data.energy, data.period.days, currency, standby_w), *security_lines(data.security),
            *climate_lines(data.climate), *availability_lines(data.availability), *performance_lines(data.bench)]
