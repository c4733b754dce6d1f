"""`iotpipe gateway replay-rejected` from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gateway.store import Store
from iotpipe.cli import cli
from tests.gateway.conftest import write_home


def test_replay_rejected_without_kept_rejections(tmp_path: Path) -> None:
    config = write_home(tmp_path / "home.toml", "h1")
    result = CliRunner().invoke(cli, ["--config", str(config), "--var", str(tmp_path), "gateway", "replay-rejected"])
    assert result.exit_code == 0 and "no kept rejections" in result.output


def test_replay_rejected_queues_for_a_stopped_gateway(tmp_path: Path) -> None:
    config = write_home(tmp_path / "home.toml", "h1")
    store = Store(tmp_path / "gateway" / "gateway.db")
    rejected = [(1.0, "iot/h1/ghost/telemetry", b"{}", "unknown_device", "not in the home config")] * 2
    store.commit([], [], [], rejected)
    store.close()
    args = ["--config", str(config), "--var", str(tmp_path), "gateway", "replay-rejected", "--wait", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 75, result.output
    assert "2 queued, 2 not yet processed" in result.output
