"""The `[gateway]` section of home.toml, validated once at start; errors name the file and the key."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.config import section
from protocol.errors import ConfigError
from protocol.settings import Settings

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tuning knobs of the gateway; the defaults suit a Pi with a few dozen devices."""

    batch_size: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000  # messages per outbox commit
    batch_wait_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 2.0  # how long a commit waits to fill up
    outbox_max_rows: Annotated[int, msgspec.Meta(ge=10, le=100_000_000)] = 2_000_000
    uplink_batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200  # 1: one message per reading, no batch topic
    # Unacknowledged messages the edge broker may send us (MQTT 5 Receive Maximum): bounds memory when a
    # backlog arrives at once; two batches' worth keeps the writer busy while a commit is in flight.
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2000
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 64  # uplink messages awaiting PUBACK
    gap_timeout_s: Seconds = 60.0
    watermark_interval_s: Seconds = 1.0
    dedup_boots: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # boots per device remembered for dedup
    rejected_keep: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 10_000
    register_unknown: bool = False  # accept devices missing from home.toml (no room, no appliance)
    reject_log_interval_s: Seconds = 60.0
    metrics_host: str = "127.0.0.1"
    metrics_port: Port = 9108  # 0: any free port
    metrics: bool = True
    rules: bool = True  # run the edge rules, alarm, buzzer and HTTP/CoAP intake ([alarm], [[rules]]) in-process
    session_expiry_s: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 14 * 86400
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    backoff_min_s: Seconds = 0.5
    backoff_max_s: Seconds = 30.0
    drain_timeout_s: Seconds = 10.0  # SIGTERM waits this long for uplink PUBACKs


def gateway_config(settings: Settings) -> GatewayConfig:
    """Validate the home's `[gateway]` section; ConfigError reads `home.toml: gateway.batch_size: ...`."""
    config: GatewayConfig = section(settings.home.gateway, GatewayConfig, f"{settings.config_path}: gateway")
    if config.backoff_max_s < config.backoff_min_s:
        raise ConfigError(f"{settings.config_path}: gateway.backoff_max_s must be >= backoff_min_s")
    return config
