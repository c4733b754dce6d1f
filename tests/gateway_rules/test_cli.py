"""`iotpipe rules check|discovery`: the example home's rules listed, a bad rule named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iotpipe.context import Context
from iotpipe.rules_cmd import rules
from protocol import ConfigError
from protocol.config import load_home_config
from protocol.settings import EXAMPLE_CONFIG


def test_check_lists_the_example_rules() -> None:
    result = CliRunner().invoke(rules, ["check"], obj=Context(config_path=EXAMPLE_CONFIG, env={}))
    assert result.exit_code == 0, result.output
    assert "door-or-window: intrusion (critical)" in result.output
    assert "clock-skew: clock_skew (info)" in result.output


def test_check_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "home.toml"
    path.write_text(EXAMPLE_CONFIG.read_text() + '\n[[rules]]\ntype = "threshold"\nkind = "power"\nabove = -1x\n')
    result = CliRunner().invoke(rules, ["check"], obj=Context(config_path=path, env={}))
    assert isinstance(result.exception, ConfigError) and "not valid TOML" in str(result.exception)
    path.write_text(EXAMPLE_CONFIG.read_text() + '\n[[rules]]\ntype = "threshold"\nkind = "power"\n')
    result = CliRunner().invoke(rules, ["check"], obj=Context(config_path=path, env={}))
    with pytest.raises(ConfigError, match=r"rules\[8\]\.above: give exactly one"):
        raise result.exception  # type: ignore[misc]


def test_discovery_prints_one_config_per_entity() -> None:
    result = CliRunner().invoke(rules, ["discovery"], obj=Context(config_path=EXAMPLE_CONFIG, env={}))
    assert result.exit_code == 0
    home = load_home_config(EXAMPLE_CONFIG)
    entities = sum(len(d.kinds) for d in home.devices) + 1  # and the alarm panel
    assert sum(line.startswith("homeassistant/") for line in result.output.splitlines()) == entities
