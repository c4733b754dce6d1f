"""The `[cloud]` section: the example documents every key with its default, and a bad key names file and key."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import msgspec
import pytest

from cloud.config import AlertRules, CloudConfig, cloud_config
from protocol import ConfigError
from protocol.settings import EXAMPLE_CONFIG, load_settings


def test_the_example_documents_every_key_with_the_codes_default() -> None:
    example = tomllib.loads(EXAMPLE_CONFIG.read_text())["cloud"]
    alerts = example.pop("alerts")
    defaults = msgspec.structs.asdict(CloudConfig())
    defaults.pop("alerts")
    assert example == defaults
    rules = msgspec.structs.asdict(AlertRules())
    assert set(alerts) == set(rules)
    assert {k: v for k, v in alerts.items() if k not in ("budget_kwh", "notify")} == {
        k: v for k, v in rules.items() if k not in ("budget_kwh", "notify")}
    assert cloud_config(load_settings(EXAMPLE_CONFIG, env={})).alerts.budget_kwh["kettle"] == 1.5


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("[cloud]\nbatch_size = 0\n", "cloud.batch_size"),
        ("[cloud]\nbatchsize = 10\n", "cloud"),
        ("[cloud]\ngroup = \"Bad Group\"\n", "cloud.group"),
        ("[cloud]\nsecurity_retention_days = 30\n", "cloud.security_retention_days"),
        ("[cloud.alerts]\nhome_power_w = -1\n", "cloud.alerts.home_power_w"),
        ("[cloud.alerts]\nbudget_kwh = { kettle = \"lots\" }\n", "cloud.alerts.budget_kwh"),
    ],
)
def test_a_bad_cloud_key_is_named_with_the_file(section: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "home.toml"
    path.write_text(EXAMPLE_CONFIG.read_text().split("\n[cloud]")[0] + "\n" + section)
    with pytest.raises(ConfigError) as info:
        cloud_config(load_settings(path, env={}))
    assert str(info.value).startswith(f"{path}: {where}")


def test_the_cli_exits_78_with_one_line_on_a_bad_cloud_key(tmp_path: Path) -> None:
    path = tmp_path / "home.toml"
    path.write_text(EXAMPLE_CONFIG.read_text().split("\n[cloud]")[0] + "\n[cloud]\nbatch_size = 0\n")
    done = subprocess.run([sys.executable, "-m", "iotpipe", "--config", str(path), "--db-url",
                           f"sqlite:///{tmp_path / 'w.db'}", "etl", "--no-progress"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 78, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"iotpipe: config error: {path}: cloud.batch_size")
