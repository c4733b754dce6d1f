"""Settings shared by every service: the home config plus endpoints, overridden by environment and flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from protocol.config import HomeConfig, load_home_config
from protocol.endpoint import BrokerURL
from protocol.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO_ROOT / "deploy" / "home.example.toml"
DEFAULT_EDGE_URL = "mqtt://127.0.0.1:1883"
DEFAULT_CLOUD_URL = "mqtt://127.0.0.1:1884"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a service needs to start: the validated home and where its peers are."""

    config_path: Path
    home: HomeConfig
    edge_url: BrokerURL
    cloud_url: BrokerURL
    db_url: str
    var: Path

    @property
    def home_id(self) -> str:
        """The home's id, as used in topics."""
        return self.home.home.id


def default_config_path(env: Mapping[str, str]) -> Path:
    """`IOTPIPE_HOME_CONFIG`, else `./home.toml` when present, else the example home."""
    if env.get("IOTPIPE_HOME_CONFIG"):
        return Path(env["IOTPIPE_HOME_CONFIG"])
    local = Path("home.toml")
    return local if local.exists() else EXAMPLE_CONFIG


def load_settings(
    config_path: Path | None = None,
    *,
    edge_url: str | None = None,
    cloud_url: str | None = None,
    db_url: str | None = None,
    var: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: explicit argument (CLI flag) > environment > home.toml `[endpoints]` > default."""
    env = os.environ if env is None else env
    path = config_path or default_config_path(env)
    home = load_home_config(path)
    var_dir = (var or Path(env.get("IOTPIPE_VAR") or "var")).absolute()
    edge = edge_url or env.get("IOTPIPE_EDGE_URL") or home.endpoints.edge or DEFAULT_EDGE_URL
    cloud = cloud_url or env.get("IOTPIPE_CLOUD_URL") or home.endpoints.cloud or DEFAULT_CLOUD_URL
    db = db_url or env.get("IOTPIPE_DB_URL") or home.endpoints.db or f"sqlite:///{var_dir / 'warehouse.db'}"
    if not db.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError(f"database URL {db!r}: only sqlite:/// and postgresql:// are supported")
    return Settings(
        config_path=path,
        home=home,
        edge_url=BrokerURL.parse(edge, "edge broker URL (IOTPIPE_EDGE_URL)"),
        cloud_url=BrokerURL.parse(cloud, "cloud broker URL (IOTPIPE_CLOUD_URL)"),
        db_url=db,
        var=var_dir,
    )
