"""The protocol's one error type and its machine-readable reason codes."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message was refused; stable strings used in counters, dead-letter topics and tables."""

    MALFORMED_JSON = "malformed_json"
    NOT_UTF8 = "not_utf8"
    TOO_LARGE = "too_large"
    SCHEMA = "schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_MANY_READINGS = "too_many_readings"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    WRONG_UNIT = "wrong_unit"
    WRONG_TYPE = "wrong_type"
    TS_FUTURE = "ts_future"
    TS_ANCIENT = "ts_ancient"
    BAD_TOPIC = "bad_topic"
    IDENTITY_MISMATCH = "identity_mismatch"
    UNKNOWN_DEVICE = "unknown_device"


class ProtocolError(ValueError):
    """A message that breaks the contract: `reason` is a Reason code, `detail` a human sentence."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(Exception):
    """A bad configuration value; the message names the file and the key, fit for one log line."""
