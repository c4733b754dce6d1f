"""The `[dashboard]` section of home.toml (plus environment overrides), validated once at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated

import msgspec

from protocol import ConfigError
from protocol.config import section
from protocol.settings import Settings

Positive = Annotated[float, msgspec.Meta(gt=0)]
UserName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
HASH_METHODS = ("scrypt:", "pbkdf2:")  # what werkzeug.security.generate_password_hash produces
USERS_ENV = "IOTPIPE_DASH_USERS"  # "alice=<hash>;bob=<hash>": adds to / replaces users of the config
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
SECRET_ENV = "IOTPIPE_DASH_SECRET"  # signs the session cookie; a random one per process when unset


class DashboardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the dashboard needs beyond the home: who may log in, refresh pace, thresholds."""

    users: dict[UserName, str] = {}
    consumption_threshold_w: Positive = 3000.0
    refresh_s: Annotated[float, msgspec.Meta(ge=0.25, le=60)] = 1.0
    offline_after_s: Positive = 120.0
    gateway_metrics_url: str | None = "http://127.0.0.1:9108/metrics"
    login_max_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    login_lockout_s: Positive = 30.0
    session_hours: Positive = 12.0
    secret: str | None = None


def parse_users(text: str, where: str = USERS_ENV) -> dict[str, str]:
    """Parse `name=hash;name=hash` (hashes contain `:` and `$`, never `;` or `=` before the first `:`)."""
    users: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, hashed = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{where}: expected name=hash, got {item[:20]!r}...")
        if not _USER.fullmatch(name.strip()):
            raise ConfigError(f"{where}: user name {name.strip()[:64]!r} must match [A-Za-z0-9_.@-]{{1,64}}")
        users[name.strip()] = hashed.strip()
    return users


def check_hashes(users: Mapping[str, str], where: str) -> None:
    """Refuse a plain-text password where a hash belongs, naming the key."""
    for name, hashed in users.items():
        if not hashed.startswith(HASH_METHODS) or "$" not in hashed:
            raise ConfigError(
                f"{where}.users.{name}: not a password hash (make one with `iotpipe dash --hash-password`)"
            )


def dashboard_config(settings: Settings, env: Mapping[str, str] | None = None) -> DashboardConfig:
    """Validate `[dashboard]`, then apply IOTPIPE_DASH_USERS and IOTPIPE_DASH_SECRET from the environment."""
    env = os.environ if env is None else env
    where = f"{settings.config_path}: dashboard"
    config = section(settings.home.dashboard, DashboardConfig, where)
    users = {**config.users, **parse_users(env.get(USERS_ENV, ""))}
    check_hashes(users, where)
    secret = env.get(SECRET_ENV) or config.secret
    return msgspec.structs.replace(config, users=users, secret=secret)
