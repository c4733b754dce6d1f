"""The rule engine with a fake clock: each rule fires and clears as specified; bad rules name their key."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.rules.config import parse_alarm, parse_rules
from gateway.rules.engine import RuleEngine
from protocol import AlertState, ConfigError, Severity
from protocol.config import HomeConfig
from tests.gateway_rules.conftest import FakeClock, uplink


def engine(home: HomeConfig, clock: FakeClock, *rules: dict[str, Any]) -> RuleEngine:
    configured = msgspec.structs.replace(home, rules=rules)
    return RuleEngine(configured, parse_rules(configured), clock)


def states(alerts: list[Any]) -> list[tuple[str, str | None, AlertState]]:
    return [(a.rule, a.device, a.state) for a in alerts]


HOT = {
    "id": "hot",
    "type": "threshold",
    "kind": "temperature",
    "above": 30,
    "hysteresis": 1,
    "for_s": 60,
    "cooldown_s": 0,
}


def test_threshold_fires_after_its_duration_and_clears_past_the_hysteresis(
    example_home: HomeConfig, clock: FakeClock
) -> None:
    rules = engine(example_home, clock, HOT)
    assert rules.on_telemetry(uplink("climate-living", "temperature", 31.0, clock.now)) == []
    assert rules.tick(clock.advance(59)) == []
    raised = rules.tick(clock.advance(1))
    assert states(raised) == [("hot", "climate-living", AlertState.RAISED)]
    assert raised[0].severity is Severity.WARNING and raised[0].room == "living" and raised[0].value == 31.0
    assert rules.on_telemetry(uplink("climate-living", "temperature", 29.5, clock.advance(5))) == []  # in the band
    cleared = rules.on_telemetry(uplink("climate-living", "temperature", 28.9, clock.advance(5)))
    assert states(cleared) == [("hot", "climate-living", AlertState.CLEARED)]
    assert cleared[0].id == raised[0].id


def test_a_dip_below_the_limit_restarts_the_duration(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, HOT)
    rules.on_telemetry(uplink("climate-living", "temperature", 31.0, clock.now))
    rules.on_telemetry(uplink("climate-living", "temperature", 29.5, clock.advance(50)))
    rules.on_telemetry(uplink("climate-living", "temperature", 31.0, clock.advance(1)))
    assert rules.tick(clock.advance(59)) == []
    assert len(rules.tick(clock.advance(1))) == 1


def test_below_threshold_and_zero_is_a_value(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"type": "threshold", "kind": "temperature", "below": 5, "rooms": ["bedroom"]})
    assert rules.on_telemetry(uplink("climate-living", "temperature", 0.0, clock.now)) == []  # other room
    assert states(rules.on_telemetry(uplink("climate-bedroom", "temperature", 0.0, clock.now))) == [
        ("threshold-0", "climate-bedroom", AlertState.RAISED)
    ]


def test_a_failed_sensor_neither_raises_nor_clears(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, HOT | {"for_s": 0})
    assert len(rules.on_telemetry(uplink("climate-living", "temperature", 35.0, clock.now))) == 1
    assert rules.on_telemetry(uplink("climate-living", "temperature", None, clock.advance(1))) == []
    assert rules.book.is_raised(("hot", "climate-living"))


def test_appliance_power_over_a_duration(example_home: HomeConfig, clock: FakeClock) -> None:
    kettle = {
        "id": "kettle",
        "type": "threshold",
        "kind": "power",
        "appliance": "kettle",
        "above": 1000,
        "for_s": 600,
        "cooldown_s": 0,
    }
    rules = engine(example_home, clock, kettle)
    rules.on_telemetry(uplink("plug-heater", "power", 2000.0, clock.now))  # not the kettle
    rules.on_telemetry(uplink("plug-kettle", "power", 1800.0, clock.now))
    assert rules.tick(clock.advance(599)) == []
    assert states(rules.tick(clock.advance(1))) == [("kettle", "plug-kettle", AlertState.RAISED)]
    assert states(rules.on_telemetry(uplink("plug-kettle", "power", 0.0, clock.advance(1)))) == [
        ("kettle", "plug-kettle", AlertState.CLEARED)
    ]


def test_whole_home_power_uses_the_meter(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(
        example_home,
        clock,
        {"id": "home", "type": "home_power", "above": 7000, "hysteresis": 500, "for_s": 30, "cooldown_s": 0},
    )
    assert rules.on_telemetry(uplink("plug-kettle", "power", 9000.0, clock.now)) == []  # plugs are not the meter
    rules.on_telemetry(uplink("meter-home", "power", 7200.0, clock.now))
    raised = rules.tick(clock.advance(30))
    assert states(raised) == [("home", None, AlertState.RAISED)] and raised[0].value == 7200.0
    assert rules.on_telemetry(uplink("meter-home", "power", 6600.0, clock.advance(1))) == []
    assert states(rules.on_telemetry(uplink("meter-home", "power", 6400.0, clock.advance(1)))) == [
        ("home", None, AlertState.CLEARED)
    ]


def test_smoke_raises_at_once_critical(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "smoke", "type": "smoke"})
    raised = rules.on_telemetry(uplink("smoke-kitchen", "smoke", True, clock.now))
    assert states(raised) == [("smoke", "smoke-kitchen", AlertState.RAISED)]
    assert raised[0].severity is Severity.CRITICAL
    assert states(rules.on_telemetry(uplink("smoke-kitchen", "smoke", False, clock.advance(1)))) == [
        ("smoke", "smoke-kitchen", AlertState.CLEARED)
    ]


def test_a_redelivered_message_never_raises_twice(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "smoke", "type": "smoke"})
    first = uplink("smoke-kitchen", "smoke", True, clock.now)
    assert len(rules.on_telemetry(first)) == 1
    rules.on_telemetry(uplink("smoke-kitchen", "smoke", False, clock.advance(1)))
    assert rules.on_telemetry(msgspec.structs.replace(first, received_at=clock.advance(1))) == []
    assert not rules.book.is_raised(("smoke", "smoke-kitchen"))


def test_a_flapping_sensor_raises_one_alert_and_clears_after_the_cooldown(
    example_home: HomeConfig, clock: FakeClock
) -> None:
    rules = engine(example_home, clock, HOT | {"for_s": 0, "cooldown_s": 60})
    alerts = []
    for value in [31.0, 28.0] * 10:
        alerts += rules.on_telemetry(uplink("climate-living", "temperature", value, clock.advance(2)))
        alerts += rules.tick(clock.now)
    assert states(alerts) == [("hot", "climate-living", AlertState.RAISED)]
    assert rules.tick(clock.advance(59)) == []
    assert states(rules.tick(clock.advance(1))) == [("hot", "climate-living", AlertState.CLEARED)]


def test_offline_by_lwt_and_back(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "offline", "type": "offline"})
    assert states(rules.on_status("door-front", False, clock.now)) == [("offline", "door-front", AlertState.RAISED)]
    assert states(rules.on_status("door-front", True, clock.advance(1))) == [
        ("offline", "door-front", AlertState.CLEARED)
    ]
    assert rules.on_status("not-configured", False, clock.now) == []


def test_silence_is_judged_against_the_devices_own_learned_interval(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "offline", "type": "offline", "silence_factor": 3})
    for _ in range(5):  # a battery door sensor reporting every 20 s although the config says 5 s
        rules.on_telemetry(uplink("door-front", "contact", False, clock.advance(20)))
    assert rules.tick(clock.advance(59)) == []  # 3 x 20 s not yet over
    raised = rules.tick(clock.advance(2))
    assert states(raised) == [("offline", "door-front", AlertState.RAISED)]
    assert "usually every 20 s" in raised[0].message
    assert states(rules.on_telemetry(uplink("door-front", "contact", False, clock.advance(1)))) == [
        ("offline", "door-front", AlertState.CLEARED)
    ]


def test_coming_back_online_is_not_followed_by_a_silence_alert(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "offline", "type": "offline"})
    rules.on_telemetry(uplink("door-front", "contact", False, clock.now))
    assert [a.state for a in rules.on_status("door-front", False, clock.advance(100))] == [AlertState.RAISED]
    assert [a.state for a in rules.on_status("door-front", True, clock.advance(100))] == [AlertState.CLEARED]
    assert rules.tick(clock.advance(1)) == []


def test_a_never_seen_device_is_not_called_silent(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"type": "offline"})
    assert rules.tick(clock.advance(86400)) == []


def test_clock_skew_is_flagged_and_cleared(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"id": "skew", "type": "clock_skew", "max_skew_s": 120})
    raised = rules.on_telemetry(uplink("plug-tv", "power", 50.0, clock.now, ts=clock.now + 600))
    assert states(raised) == [("skew", "plug-tv", AlertState.RAISED)] and raised[0].value == 600.0
    assert raised[0].severity is Severity.INFO
    assert states(rules.on_telemetry(uplink("plug-tv", "power", 50.0, clock.advance(1)))) == [
        ("skew", "plug-tv", AlertState.CLEARED)
    ]


def test_a_late_resend_is_not_a_slow_clock(example_home: HomeConfig, clock: FakeClock) -> None:
    rules = engine(example_home, clock, {"type": "clock_skew", "max_skew_s": 120})
    rules.on_telemetry(uplink("plug-tv", "power", 50.0, clock.now, boot="b0b0", seq=10))
    late = uplink("plug-tv", "power", 50.0, clock.advance(600), boot="b0b0", seq=9, ts=clock.now - 600)
    assert rules.on_telemetry(late) == []
    slow = uplink("plug-tv", "power", 50.0, clock.now, boot="b0b0", seq=11, ts=clock.now - 600)
    assert len(rules.on_telemetry(slow)) == 1


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "threshold", "kind": "temperature"}, r"rules\[1\]\.above: give exactly one"),
        ({"type": "threshold", "kind": "temperature", "above": 1, "below": 0}, r"rules\[1\]\.above: give exactly"),
        ({"type": "threshold", "kind": "contact", "above": 1}, r"rules\[1\]\.kind: 'contact' is on/off"),
        ({"type": "threshold", "kind": "power", "above": "x"}, r"rules\[1\]\.above: Expected `float \| null`"),
        ({"type": "threshold", "kind": "heat", "above": 1}, r"rules\[1\]\.kind: Invalid enum value 'heat'"),
        ({"type": "threshold", "above": 1}, r"rules\[1\]: Object missing required field `kind`"),
        ({"type": "threshold", "kind": "power", "above": 1, "devices": ["nope"]}, r"rules\[1\]\.devices: unknown"),
        ({"type": "threshold", "kind": "power", "above": 1, "rooms": ["attic"]}, r"rules\[1\]\.rooms: unknown room"),
        ({"type": "threshold", "kind": "power", "above": 1, "appliance": "oven"}, r"rules\[1\]\.appliance: no device"),
        ({"type": "smok"}, r"rules\[1\]\.type: Invalid value 'smok'"),
        ({"type": "smoke", "severity": "loud"}, r"rules\[1\]\.severity: Invalid enum value 'loud'"),
        ({"type": "smoke", "colour": "red"}, r"rules\[1\]: Object contains unknown field `colour`"),
        ({"type": "offline", "silence_factor": 1}, r"rules\[1\]\.silence_factor: Expected `float` > 1"),
        ({"type": "intrusion", "modes": ["party"]}, r"rules\[1\]\.modes\[0\]: Invalid enum value 'party'"),
        ({"type": "smoke", "id": "smoke"}, r"rules\[1\]\.id: duplicate rule id 'smoke'"),
    ],
)
def test_bad_rules_name_their_key(example_home: HomeConfig, rule: dict[str, Any], message: str) -> None:
    home = msgspec.structs.replace(example_home, rules=({"type": "smoke", "id": "smoke"}, rule))
    with pytest.raises(ConfigError, match=message):
        parse_rules(home)


@pytest.mark.parametrize(
    ("alarm", "message"),
    [
        ({"exit_delay_s": -1}, r"^alarm\.exit_delay_s: Expected `float` >= 0"),
        ({"buzzer": {"pin": 40}}, r"^alarm\.buzzer\.pin: Expected `int` <= 27"),
        ({"notify": {"min_severity": "loud"}}, r"^alarm\.notify\.min_severity: Invalid enum value 'loud'"),
        ({"intake": {"http_port": 70000}}, r"^alarm\.intake\.http_port: Expected `int` <= 65535"),
        ({"climate": {"device": "climate-attic"}}, r"^alarm\.climate\.device: unknown device 'climate-attic'"),
        ({"climate": {"device": "climate-living", "every_s": 1}}, r"^alarm\.climate\.every_s: Expected `float` >= 2"),
        ({"siren": True}, r"^alarm: Object contains unknown field `siren`"),
    ],
)
def test_bad_alarm_settings_name_their_key(example_home: HomeConfig, alarm: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_alarm(msgspec.structs.replace(example_home, alarm=alarm))
