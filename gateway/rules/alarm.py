"""The alarm: arming modes with an exit delay, per-sensor entry delays, bypass of open windows, acknowledgement."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from gateway.rules.config import AlarmSettings, Intrusion, Rule
from protocol import AlarmMode, Alert, AlertState, Kind, ModeState, Severity, Uplink
from protocol.config import HomeConfig, Opening

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


@dataclass(slots=True)
class Incident:
    """One intrusion per arming: its alert (pending, then triggered) and when the entry delay runs out."""

    alert: Alert
    deadline: float


class Alarm:
    """The alarm state machine; every method returns the alerts it raised so the caller can act on them."""

    def __init__(self, home: HomeConfig, settings: AlarmSettings, rules: Iterable[Rule], clock: Clock) -> None:
        self.home = home
        self.settings = settings
        self.clock = clock
        self.rules = tuple(r for r in rules if isinstance(r, Intrusion))
        self.state = ModeState(mode=AlarmMode.DISARMED, since=clock(), source="start")
        self.incident: Incident | None = None
        self.bypassed: set[str] = set()
        self._open: dict[str, bool] = {}

    def restore(self, state: ModeState) -> None:
        """Take over the retained mode after a restart, so a gateway restart never disarms the home."""
        self.state = state
        logger.info("alarm mode restored mode=%s source=%s by=%s", state.mode, state.source, state.by)

    def set_mode(self, mode: AlarmMode, source: str, by: str | None = None) -> tuple[ModeState, list[Alert]]:
        """Change the mode; arming starts the exit delay and bypasses open windows, disarming ends an intrusion."""
        now = self.clock()
        armed_at = now + self.settings.exit_delay_s if mode is not AlarmMode.DISARMED else None
        previous, self.state = self.state, ModeState(mode=mode, since=now, source=source, by=by, armed_at=armed_at)
        arming = armed_at is not None
        self.bypassed = {d for d, is_open in self._open.items() if is_open and self._is_window(d)} if arming else set()
        logger.info(
            "alarm mode %s -> %s source=%s by=%s exit_delay_s=%s bypassed=%s",
            previous.mode,
            mode,
            source,
            by or "-",
            self.settings.exit_delay_s if arming else 0,
            ",".join(sorted(self.bypassed)) or "-",
        )
        alerts: list[Alert] = []
        if self.incident is not None and not arming:  # only disarming ends an intrusion
            who = f"{by} via {source}" if by else source
            alerts.append(self._end(now, f"alarm set to {mode.value} by {who}"))
        return self.state, alerts

    def on_telemetry(self, msg: Uplink) -> list[Alert]:
        """Contacts opening and motion while armed start (or join) an intrusion."""
        alerts: list[Alert] = []
        for reading in msg.readings:
            if reading.kind is Kind.CONTACT and isinstance(reading.value, bool):
                opened = reading.value and not self._open.get(msg.device, False)
                self._open[msg.device] = reading.value
                if not reading.value and msg.device in self.bypassed:
                    self.bypassed.discard(msg.device)
                    logger.info("alarm bypass ended device=%s (closed)", msg.device)
                if opened:
                    alerts.extend(self._intrusion(msg.device, "contact", msg.received_at))
            elif reading.kind is Kind.MOTION and reading.value is True:
                alerts.extend(self._intrusion(msg.device, "motion", msg.received_at))
        return alerts

    def tick(self, now: float | None = None) -> list[Alert]:
        """The entry delay running out: a pending intrusion becomes `triggered`."""
        now = self.clock() if now is None else now
        incident = self.incident
        if incident is None or incident.alert.state is not AlertState.PENDING or now < incident.deadline:
            return []
        return [self._trigger(now)]

    def acknowledge(self, alert_id: str, by: str, now: float) -> Alert | None:
        """Record who acknowledged the intrusion (which silences the siren); None for another id."""
        if self.incident is None or self.incident.alert.id != alert_id:
            return None
        self.incident.alert = msgspec.structs.replace(self.incident.alert, ack_by=by, ack_at=now)
        logger.info("alarm intrusion acknowledged id=%s by=%s", alert_id, by)
        return msgspec.structs.replace(self.incident.alert, state=AlertState.ACKNOWLEDGED, ts=now)

    def armed(self, now: float) -> bool:
        """True when armed and past the exit delay."""
        armed_at = self.state.armed_at
        return self.state.mode is not AlarmMode.DISARMED and armed_at is not None and now >= armed_at

    def entry_delay_s(self, device_id: str) -> float:
        """A sensor's entry delay: its own setting, else the door default for doors, else none."""
        device = self.home.device(device_id)
        if device is None:
            return 0.0
        if device.entry_delay_s is not None:
            return device.entry_delay_s
        return self.settings.door_entry_delay_s if device.opening is Opening.DOOR else 0.0

    def _intrusion(self, device: str, kind: str, now: float) -> list[Alert]:
        """Open an incident (pending at once, triggered when the entry delay is zero); later sensors follow it."""
        mode = self.state.mode
        if not self.armed(now) or device in self.bypassed or self.incident is not None:
            return []
        rule = next((r for r in self.rules if r.kind == kind and mode in r.modes), None)
        if rule is None:
            return []
        found = self.home.device(device)
        delay = self.entry_delay_s(device)
        verb = "opened" if kind == "contact" else "saw motion"
        alert = Alert(
            id=f"{rule.id}-{device}-{round(now * 1000)}",
            rule=str(rule.id),
            severity=Severity.WARNING,
            state=AlertState.PENDING,
            ts=now,
            device=device,
            room=found.room if found else None,
            value=True,
            message=f"{found.label if found else device} {verb} while {mode.value}; siren in {delay:.0f} s",
        )
        self.incident = Incident(alert, now + delay)
        logger.warning("alarm intrusion pending id=%s device=%s entry_delay_s=%.0f", alert.id, device, delay)
        return [alert, self._trigger(now)] if delay <= 0 else [alert]

    def _trigger(self, now: float) -> Alert:
        assert self.incident is not None
        rule = next(r for r in self.rules if r.id == self.incident.alert.rule)
        alert = self.incident.alert
        self.incident.alert = msgspec.structs.replace(
            alert,
            state=AlertState.TRIGGERED,
            severity=rule.severity,
            ts=now,
            message=alert.message.split("; siren")[0] + "; not disarmed in time",
        )
        logger.warning("alarm triggered id=%s device=%s", alert.id, alert.device)
        return self.incident.alert

    def _end(self, now: float, why: str) -> Alert:
        assert self.incident is not None
        alert = msgspec.structs.replace(self.incident.alert, state=AlertState.CLEARED, ts=now, message=why)
        self.incident = None
        return alert

    def _is_window(self, device_id: str) -> bool:
        device = self.home.device(device_id)
        return device is not None and device.opening is Opening.WINDOW
