"""The systemd unit: `systemd-analyze verify` accepts it and it says what the service relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.settings import REPO_ROOT

UNIT = REPO_ROOT / "deploy" / "systemd" / "iotpipe-gateway.service"
EXEC = "/opt/iotpipe/.venv/bin/iotpipe gateway run"


def directives(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_unit_declares_notify_watchdog_restart_policy_and_state() -> None:
    found = directives(UNIT.read_text())
    assert found["Type"] == "notify" and int(found["WatchdogSec"]) > 0
    assert found["Restart"] == "on-failure" and found["RestartPreventExitStatus"] == "78"
    assert found["StateDirectory"] == "iotpipe" and "Environment=IOTPIPE_VAR=%S/iotpipe" in UNIT.read_text()
    assert found["ExecStart"] == EXEC
    assert found["ProtectSystem"] == "strict" and found["NoNewPrivileges"] == "yes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent: apt-get install systemd")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this interpreter (the installed path is /opt/iotpipe).
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(EXEC, f"{sys.executable} -m gateway"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
