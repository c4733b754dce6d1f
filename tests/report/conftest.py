"""Report fixtures: a warehouse filled once per module through `iotpipe etl`, from a sample with known truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.settings import EXAMPLE_CONFIG, Settings, load_settings
from tests.cloud.sample import Sample, make_sample

START = "2026-03-02"  # a Monday; the sample covers it and the next day
DAYS = 2


def iotpipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a child process, without the caller's IOTPIPE_* environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
    return subprocess.run([sys.executable, "-m", "iotpipe", *args], check=False, capture_output=True, text=True,
                          env=env, timeout=120)


@dataclass(frozen=True)
class Warehouse:
    """A filled warehouse: its settings, the CLI arguments that reach it, and the sample behind it."""

    settings: Settings
    args: tuple[str, ...]
    sample: Sample
    log: Path  # the sample as a Parquet log, and the gateway's mode events as JSON lines
    events: Path


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Two days of the example home (devices every 120 s, the sample's grid) loaded by `iotpipe etl`."""
    folder = tmp_path_factory.mktemp("report")
    config = folder / "home.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("[[devices]]\n", "[[devices]]\ninterval_s = 120.0\n"))
    settings = load_settings(config, db_url=f"sqlite:///{folder / 'warehouse.db'}", var=folder / "var", env={})
    smp = make_sample(settings.home, start=START, days=DAYS, step=120.0)
    log, events = folder / "sample.parquet", folder / "events.jsonl"
    smp.rows.to_parquet(log)
    events.write_text("".join(json.dumps(e) + "\n" for e in smp.mode_events))
    args = ("--config", str(config), "--db-url", settings.db_url, "--var", str(settings.var))
    out = iotpipe(*args, "etl", "--from", str(log), "--events", str(events), "--no-progress")
    assert out.returncode == 0, out.stderr
    return Warehouse(settings, args, smp, log, events)
