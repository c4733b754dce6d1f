"""`iotpipe simulate`: bad options and an absent broker are one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iotpipe.broker import free_port
from protocol.settings import EXAMPLE_CONFIG
from tests.simulator.conftest import example_text


def simulate(*args: str, config: Path = EXAMPLE_CONFIG) -> subprocess.CompletedProcess[str]:
    """Run `iotpipe --config CONFIG simulate ARGS` as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
    return subprocess.run([sys.executable, "-m", "iotpipe", "--config", str(config), *args], capture_output=True,
                          text=True, check=False, timeout=60, env=env)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--faults", "explode=0.1"), "--faults: 'explode=0.1' must be NAME=RATE"),
        (("--faults", "late=2"), "--faults: late rate must be 0..1"),
        (("--homes", "0"), "--homes must be at least 1"),
        (("--interval", "0"), "--interval and --speed must be positive"),
        (("--ledger", "/nonexistent/dir/ledger.csv"), "--ledger /nonexistent/dir/ledger.csv: cannot open"),
    ],
)
def test_bad_live_options_exit_78_with_one_line(args: tuple[str, ...], expected: str) -> None:
    out = simulate("--edge-url", f"mqtt://127.0.0.1:{free_port()}", "simulate", "live", *args)
    assert out.returncode == 78, out.stderr
    assert out.stderr.count("\n") == 1 and expected in out.stderr and "Traceback" not in out.stderr


def test_a_bad_simulator_section_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "home.toml"
    config.write_text(example_text("demo", "outbox_size = -5\n"))
    out = simulate("simulate", "backfill", "--days", "0.01", "--out", str(tmp_path / "x"), config=config)
    assert out.returncode == 78
    assert f"{config}: simulator.outbox_size" in out.stderr and out.stderr.count("\n") == 1


def test_an_absent_broker_is_one_line(tmp_path: Path) -> None:
    out = simulate("--edge-url", f"mqtt://127.0.0.1:{free_port()}", "simulate", "live")
    assert out.returncode == 1
    assert "is not reachable" in out.stderr and "Traceback" not in out.stderr


def test_bad_backfill_options_are_refused(tmp_path: Path) -> None:
    out = simulate("simulate", "backfill", "--days", "1", "--interval", "1", "--step", "5", "--out", str(tmp_path))
    assert out.returncode == 2 and "--step" in out.stderr and "Traceback" not in out.stderr
