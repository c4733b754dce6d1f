"""The CLI: bad config and bad URLs give one clear line and exit 78; nothing pretends to exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protocol.settings import EXAMPLE_CONFIG


def iotpipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a child process."""
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iotpipe", *args], check=False, capture_output=True, text=True, env=full_env, timeout=60
    )


def test_config_check_lists_every_device_of_the_example() -> None:
    out = iotpipe("--config", str(EXAMPLE_CONFIG), "config", "check")
    assert out.returncode == 0, out.stderr
    assert "27 devices" in out.stdout and "plug-heater" in out.stdout


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("floor = 1", 'floor = "one"'), "rooms[2].floor: Expected `int`, got `str`"),
        (('room = "utility"\nappliance', 'room = "attic"\nappliance'), "unknown room 'attic'"),
        (('type = "climate"', 'type = "thermostat"'), "devices[0].type: Invalid enum value 'thermostat'"),
        (('id = "climate-living"', 'id = "Climate Living"'), "devices[0].id: Expected `str` matching regex"),
        (('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), "home.timezone: unknown time zone"),
        (('[[rooms]]', '[[roms]]'), "unknown field `roms`"),
        (('[home]', '[home'), "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, mutation: tuple[str, str], expected: str) -> None:
    bad = tmp_path / "home.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text().replace(*mutation, 1))
    out = iotpipe("--config", str(bad), "config", "check")
    assert out.returncode == 78
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"iotpipe: config error: {bad}: ") and expected in out.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IOTPIPE_EDGE_URL", "http://127.0.0.1:1883", "must start with mqtt:// or mqtts://"),
        ("IOTPIPE_CLOUD_URL", "mqtt://127.0.0.1:99999", "not a valid URL"),
        ("IOTPIPE_CLOUD_URL", "mqtt://:1883", "has no host"),
        ("IOTPIPE_EDGE_URL", "mqtts://h?cafile=x", "unknown URL parameter"),
        ("IOTPIPE_DB_URL", "mysql://root@localhost/x", "only sqlite:/// and postgresql://"),
        ("IOTPIPE_HOME_CONFIG", "/nonexistent/home.toml", "cannot read home config"),
    ],
)
def test_bad_endpoint_is_one_line(variable: str, value: str, expected: str) -> None:
    out = iotpipe("config", "check", env={variable: value})
    assert out.returncode == 78 and expected in out.stderr and "Traceback" not in out.stderr


def test_environment_overrides_and_hides_passwords() -> None:
    out = iotpipe("config", "check", env={"IOTPIPE_EDGE_URL": "mqtt://gw:s3cret@10.0.0.2:1884"})
    assert out.returncode == 0, out.stderr
    assert "mqtt://gw@10.0.0.2:1884" in out.stdout and "s3cret" not in out.stdout


def test_every_subcommand_exists_or_says_which_issue_brings_it() -> None:
    from iotpipe.cli import COMMANDS

    listing = iotpipe("--help").stdout
    for name in COMMANDS:
        assert name in listing
        out = iotpipe(name, "--help")
        assert out.returncode in (0, 69), (name, out.stderr)
        if out.returncode == 69:
            assert "not built yet" in out.stderr and "issue" in out.stderr
