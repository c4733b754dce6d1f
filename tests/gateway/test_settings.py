"""The [gateway] section: the example validates, and a bad key stops the start with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import GatewayConfig, gateway_config
from protocol import ConfigError
from protocol.settings import EXAMPLE_CONFIG, load_settings
from tests.gateway.conftest import write_home


def test_example_home_sets_every_default_it_documents() -> None:
    config = gateway_config(load_settings(EXAMPLE_CONFIG, env={}))
    assert config == GatewayConfig()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("batch_size = 0", "home.toml: gateway.batch_size: Expected `int` >= 1"),
        ("uplink_batch = 'many'", "home.toml: gateway.uplink_batch: Expected `int`, got `str`"),
        ("gap_timeout_s = -1", "home.toml: gateway.gap_timeout_s: Expected `float` > 0"),
        ("outbox_size = 5", "home.toml: gateway: Object contains unknown field `outbox_size`"),
        ("backoff_min_s = 5.0\nbackoff_max_s = 1.0", "home.toml: gateway.backoff_max_s must be >= backoff_min_s"),
    ],
)
def test_bad_gateway_key_names_file_and_key(tmp_path: Path, line: str, message: str) -> None:
    path = write_home(tmp_path / "home.toml", "h1", f"[gateway]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        gateway_config(load_settings(path, env={}))
    assert message in str(info.value)
