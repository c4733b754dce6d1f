"""The `[[rules]]` array and the `[alarm]` section of home.toml, validated once at start with errors naming the key."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol import KINDS, AlarmMode, ConfigError, Kind, Severity
from protocol.config import HomeConfig, section

Id = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,40}$")]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
ARMED = (AlarmMode.AWAY, AlarmMode.NIGHT)


class _Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """Fields every rule has; `cooldown_s` holds a clear back so a flapping sensor makes one alert."""

    id: Id | None = None
    severity: Severity = Severity.WARNING
    cooldown_s: NonNegative = 60.0


class Threshold(_Rule, frozen=True, kw_only=True, tag="threshold"):
    """`kind` above/below a limit for `for_s` seconds; clears past the limit minus `hysteresis`."""

    kind: Kind
    above: float | None = None
    below: float | None = None
    hysteresis: NonNegative = 0.0
    for_s: NonNegative = 0.0
    devices: tuple[Id, ...] = ()
    rooms: tuple[Id, ...] = ()
    appliance: str | None = None


class HomePower(_Rule, frozen=True, kw_only=True, tag="home_power"):
    """Whole-home power (the meter, else the sum of every plug) above `above` W for `for_s` seconds."""

    above: Positive
    hysteresis: NonNegative = 0.0
    for_s: NonNegative = 0.0


class Smoke(_Rule, frozen=True, tag="smoke"):
    """Any smoke detector reporting smoke, in every mode."""

    severity: Severity = Severity.CRITICAL
    cooldown_s: NonNegative = 0.0


class Intrusion(_Rule, frozen=True, tag="intrusion"):
    """A contact opened (or motion seen) while the alarm is armed in one of `modes`; the alarm handles delays."""

    kind: Literal["contact", "motion"] = "contact"
    modes: tuple[AlarmMode, ...] = ARMED
    severity: Severity = Severity.CRITICAL


class Offline(_Rule, frozen=True, tag="offline"):
    """A device offline by its LWT, or silent for `silence_factor` times its own learned reporting interval."""

    silence_factor: Annotated[float, msgspec.Meta(gt=1)] = 3.0
    min_silence_s: NonNegative = 10.0
    devices: tuple[Id, ...] = ()
    cooldown_s: NonNegative = 0.0


class ClockSkew(_Rule, frozen=True, tag="clock_skew"):
    """A device whose `ts` is more than `max_skew_s` away from the gateway's `received_at`."""

    max_skew_s: Positive = 120.0
    severity: Severity = Severity.INFO
    cooldown_s: NonNegative = 0.0


Rule = Threshold | HomePower | Smoke | Intrusion | Offline | ClockSkew


class Buzzer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The piezo buzzer: BCM pin, and whether it sounds at all."""

    pin: Annotated[int, msgspec.Meta(ge=0, le=27)] = 18
    enabled: bool = True


class Notify(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Apprise URLs (secrets may come from IOTPIPE_NOTIFY_URLS instead) and the least severity worth a message."""

    urls: tuple[str, ...] = ()
    min_severity: Severity = Severity.WARNING


class Climate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An optional DHT22 on the Pi itself, reported as the configured climate device `device`."""

    device: Id
    pin: str = "D4"
    every_s: Annotated[float, msgspec.Meta(ge=2)] = 30.0  # a DHT22 needs >= 2 s between reads


class Intake(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the HTTP and CoAP intakes listen; a port of 0 turns that intake off."""

    host: str = "127.0.0.1"
    http_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    coap_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 5683


class AlarmSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The `[alarm]` section: delays, siren, buzzer, button, notifications, alert log, intake, Pi climate."""

    exit_delay_s: NonNegative = 30.0
    door_entry_delay_s: NonNegative = 30.0
    siren_max_s: Positive = 600.0
    button_pin: Annotated[int, msgspec.Meta(ge=0, le=27)] | None = None
    discovery_prefix: str = "homeassistant"
    log: str = "alerts.jsonl"
    buzzer: Buzzer = Buzzer()
    notify: Notify = Notify()
    intake: Intake = Intake()
    climate: Climate | None = None


def parse_rules(home: HomeConfig) -> tuple[Rule, ...]:
    """Validate `home.rules`; ConfigError names the key, e.g. `rules[3].above: ...`."""
    rules: list[Rule] = []
    for index, raw in enumerate(home.rules):
        rule: Rule = section(raw, Rule, f"rules[{index}]")  # type: ignore[arg-type]  # a Union is a valid target
        _check_rule(home, rule, f"rules[{index}]")
        rules.append(msgspec.structs.replace(rule, id=rule.id or f"{rule_type(rule).replace('_', '-')}-{index}"))
    ids = [r.id for r in rules]
    for index, rule_id in enumerate(ids):
        if rule_id in ids[:index]:
            raise ConfigError(f"rules[{index}].id: duplicate rule id {rule_id!r}")
    return tuple(rules)


def parse_alarm(home: HomeConfig) -> AlarmSettings:
    """Validate the `[alarm]` section; ConfigError names the key, e.g. `alarm.buzzer.pin: ...`."""
    settings = section(home.alarm, AlarmSettings, "alarm")
    if settings.climate is not None and home.device(settings.climate.device) is None:
        raise ConfigError(f"alarm.climate.device: unknown device {settings.climate.device!r}")
    return settings


def rule_type(rule: Rule) -> str:
    """The rule's `type` as written in the config."""
    return str(type(rule).__struct_config__.tag)


def _check_rule(home: HomeConfig, rule: Rule, where: str) -> None:
    """Cross-field checks msgspec cannot express: known devices and rooms, one limit per threshold."""
    devices: tuple[str, ...] = getattr(rule, "devices", ())
    for device in devices:
        if home.device(device) is None:
            raise ConfigError(f"{where}.devices: unknown device {device!r}")
    if isinstance(rule, Threshold):
        _check_threshold(home, rule, where)


def _check_threshold(home: HomeConfig, rule: Threshold, where: str) -> None:
    """A threshold watches a numeric kind and has exactly one of `above` and `below`."""
    if KINDS[rule.kind].boolean:
        raise ConfigError(f"{where}.kind: {rule.kind.value!r} is on/off; thresholds need a numeric kind")
    if (rule.above is None) == (rule.below is None):
        raise ConfigError(f"{where}.above: give exactly one of `above` and `below`")
    for room in rule.rooms:
        if home.room(room) is None:
            raise ConfigError(f"{where}.rooms: unknown room {room!r}")
    if rule.appliance is not None and not any(d.appliance == rule.appliance for d in home.devices):
        raise ConfigError(f"{where}.appliance: no device has appliance {rule.appliance!r}")
