"""The `[cloud]` section of home.toml: ingest, ETL and alert settings, validated once at start."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.config import section
from protocol.settings import Settings

Positive = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class AlertRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Thresholds of the streaming alert rules and where notifications go (Apprise URLs)."""

    notify: tuple[str, ...] = ()
    cooldown_s: Positive = 900.0
    home_power_w: Positive = 6000.0
    home_power_window_s: Positive = 300.0
    budget_kwh: dict[str, Positive] = {}
    zscore: Positive = 6.0
    zscore_window: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 120
    silent_device_s: Positive = 600.0
    silent_gateway_s: Positive = 300.0
    tick_s: Positive = 5.0


class CloudConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings of the cloud services; every key has a default, so the section may be left out."""

    group: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{0,40}$")] = "ingest"  # "": one plain subscription
    batch_size: Count = 5000
    lake_flush_s: Positive = 10.0
    lake_max_rows: Count = 200_000
    retry_max_s: Positive = 30.0
    etl_overlap_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0  # re-read this much before the watermark
    long_gap_s: Positive = 300.0
    standby_w: Positive = 15.0
    late_s: Positive = 60.0
    zscore: Positive = 4.0
    zscore_window: Annotated[int, msgspec.Meta(ge=5, le=10_000)] = 60
    flat_line_s: Positive = 6 * 3600.0
    readings_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 400
    security_retention_days: Annotated[int, msgspec.Meta(ge=366)] = 730
    alerts: AlertRules = AlertRules()


def cloud_config(settings: Settings) -> CloudConfig:
    """Validate the home's `[cloud]` section; ConfigError names file and key."""
    return section(settings.home.cloud, CloudConfig, f"{settings.config_path}: cloud")
