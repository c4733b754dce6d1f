"""The alarm with a fake clock: exit and entry delays, bypass, disarm, acknowledgement, one alert per intrusion."""

from __future__ import annotations

import logging

import pytest

from gateway.rules.alarm import Alarm
from gateway.rules.config import parse_alarm, parse_rules
from protocol import AlarmMode, AlertState, Severity
from protocol.config import HomeConfig
from tests.gateway_rules.conftest import FakeClock, uplink


@pytest.fixture
def alarm(example_home: HomeConfig, clock: FakeClock) -> Alarm:
    return Alarm(example_home, parse_alarm(example_home), parse_rules(example_home), clock)


def arm(alarm: Alarm, clock: FakeClock, mode: AlarmMode = AlarmMode.AWAY) -> None:
    alarm.set_mode(mode, "mqtt", "anna")
    clock.advance(alarm.settings.exit_delay_s)


def test_front_door_pending_at_once_then_triggered_after_its_entry_delay(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    pending = alarm.on_telemetry(uplink("door-front", "contact", True, clock.now))
    assert [(a.state, a.severity, a.device) for a in pending] == [(AlertState.PENDING, Severity.WARNING, "door-front")]
    assert "siren in 30 s" in pending[0].message
    assert alarm.tick(clock.advance(29.9)) == []
    triggered = alarm.tick(clock.advance(0.1))
    assert [(a.state, a.severity, a.id) for a in triggered] == [
        (AlertState.TRIGGERED, Severity.CRITICAL, pending[0].id)
    ]
    assert alarm.tick(clock.advance(10)) == []


def test_disarming_in_the_entry_delay_clears_the_intrusion(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    pending = alarm.on_telemetry(uplink("door-front", "contact", True, clock.now))
    clock.advance(10)
    state, alerts = alarm.set_mode(AlarmMode.DISARMED, "http", "anna")
    assert state.mode is AlarmMode.DISARMED and state.source == "http" and state.by == "anna"
    assert [(a.state, a.id) for a in alerts] == [(AlertState.CLEARED, pending[0].id)]
    assert "anna via http" in alerts[0].message
    assert alarm.tick(clock.advance(60)) == []


@pytest.mark.parametrize("device", ["door-back", "window-bedroom"])
def test_windows_and_the_back_door_trigger_at_once(alarm: Alarm, clock: FakeClock, device: str) -> None:
    arm(alarm, clock)
    alerts = alarm.on_telemetry(uplink(device, "contact", True, clock.now))
    assert [a.state for a in alerts] == [AlertState.PENDING, AlertState.TRIGGERED]


def test_nothing_during_the_exit_delay(alarm: Alarm, clock: FakeClock) -> None:
    state, _ = alarm.set_mode(AlarmMode.AWAY, "button")
    assert state.armed_at == clock.now + 30
    assert alarm.on_telemetry(uplink("door-front", "contact", True, clock.advance(5))) == []
    assert alarm.on_telemetry(uplink("door-front", "contact", False, clock.advance(5))) == []
    clock.advance(20)
    assert len(alarm.on_telemetry(uplink("door-front", "contact", True, clock.now))) == 1


def test_a_window_open_at_arming_is_bypassed_until_it_closes(alarm: Alarm, clock: FakeClock) -> None:
    alarm.on_telemetry(uplink("window-living", "contact", True, clock.now))
    arm(alarm, clock)
    assert alarm.bypassed == {"window-living"}
    assert alarm.on_telemetry(uplink("window-living", "contact", True, clock.advance(5))) == []  # heartbeat, open
    assert alarm.on_telemetry(uplink("window-living", "contact", False, clock.advance(5))) == []
    assert alarm.bypassed == set()
    assert len(alarm.on_telemetry(uplink("window-living", "contact", True, clock.advance(5)))) == 2


def test_modes_choose_the_sensors(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock, AlarmMode.HOME)
    assert alarm.on_telemetry(uplink("door-back", "contact", True, clock.now)) == []
    arm(alarm, clock, AlarmMode.NIGHT)
    assert alarm.on_telemetry(uplink("motion-hallway", "motion", True, clock.now)) == []  # motion: away only
    assert len(alarm.on_telemetry(uplink("window-bedroom", "contact", True, clock.now))) == 2


def test_motion_during_the_entry_delay_follows_the_door(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    alarm.on_telemetry(uplink("door-front", "contact", True, clock.now))
    assert alarm.on_telemetry(uplink("motion-hallway", "motion", True, clock.advance(3))) == []
    assert alarm.tick(clock.advance(20)) == []


def test_a_flapping_door_raises_one_intrusion(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    alerts = []
    for opened in [True, False] * 10:
        alerts += alarm.on_telemetry(uplink("door-front", "contact", opened, clock.advance(1)))
        alerts += alarm.tick()
    alerts += alarm.tick(clock.advance(30))
    assert [a.state for a in alerts] == [AlertState.PENDING, AlertState.TRIGGERED]


def test_acknowledging_records_who_and_when(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    pending = alarm.on_telemetry(uplink("door-back", "contact", True, clock.now))
    assert alarm.acknowledge("no-such-alert", "anna", clock.now) is None
    acked = alarm.acknowledge(pending[0].id, "anna", clock.advance(4))
    assert acked is not None
    assert (acked.state, acked.ack_by, acked.ack_at) == (AlertState.ACKNOWLEDGED, "anna", clock.now)


def test_rearming_does_not_end_an_intrusion(alarm: Alarm, clock: FakeClock) -> None:
    arm(alarm, clock)
    alarm.on_telemetry(uplink("door-back", "contact", True, clock.now))
    _, alerts = alarm.set_mode(AlarmMode.NIGHT, "mqtt")
    assert alerts == [] and alarm.incident is not None


def test_every_change_is_logged_with_its_source(
    alarm: Alarm, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    alarm.on_telemetry(uplink("window-bedroom", "contact", True, clock.now))
    with caplog.at_level(logging.INFO, logger="gateway.rules.alarm"):
        alarm.set_mode(AlarmMode.NIGHT, "button")
        alarm.set_mode(AlarmMode.DISARMED, "http", "ben")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "alarm mode disarmed -> night source=button by=- exit_delay_s=30.0 bypassed=window-bedroom",
        "alarm mode night -> disarmed source=http by=ben exit_delay_s=0 bypassed=-",
    ]


def test_restore_keeps_the_retained_mode(alarm: Alarm, clock: FakeClock) -> None:
    state, _ = alarm.set_mode(AlarmMode.AWAY, "mqtt")
    fresh = Alarm(alarm.home, alarm.settings, alarm.rules, clock)
    fresh.restore(state)
    clock.advance(30)
    assert fresh.armed(clock.now)
    assert len(fresh.on_telemetry(uplink("door-back", "contact", True, clock.now))) == 2
