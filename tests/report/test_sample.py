"""The committed sample report (docs/) says what the committed sample log holds: a stale PDF fails here."""

from __future__ import annotations

import pandas as pd
from pypdf import PdfReader

from protocol.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "samples" / "demo-1day.parquet"
PDF = REPO_ROOT / "docs" / "sample-report.pdf"


def test_sample_report_shows_the_sample_logs_meter_energy_and_heater_share() -> None:
    rows = pd.read_parquet(SAMPLE, columns=["device", "kind", "ts", "value"])
    energy = rows[rows["kind"] == "energy"].sort_values("ts")
    used = energy.groupby("device")["value"].agg(lambda v: float(v.iloc[-1] - v.iloc[0]))  # no meter resets that day
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(PDF).pages)
    assert f"The home used {used['meter-home']:,.2f} kWh at the home meter over 1 day(s)" in text
    share = used["plug-heater"] / used["meter-home"]
    assert f"The largest consumer was the space heater: {used['plug-heater']:,.2f} kWh, {share * 100:.1f}%" in text
    assert (REPO_ROOT / "docs" / "sample-report-page1.png").stat().st_size > 10_000
