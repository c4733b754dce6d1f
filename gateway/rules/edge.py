"""EdgeRules: the one object the gateway calls for every accepted message; it runs the rules and the alarm and
hands each alert to the actions at once, never waiting for the outbox or the cloud."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from gateway.rules.alarm import Alarm
from gateway.rules.config import AlarmSettings, Rule, parse_alarm, parse_rules
from gateway.rules.engine import RuleEngine
from gateway.rules.watch import Redeliveries
from protocol import AlarmMode, Alert, AlertAck, ModeState, Uplink
from protocol.config import HomeConfig

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


class AlertSink(Protocol):
    """An action: the buzzer, the alert topic, notifications, the alert log, the outbox."""

    def on_alert(self, alert: Alert) -> None:
        """Act on a new alert state; must not block (queue slow work)."""

    def on_mode(self, state: ModeState) -> None:
        """Act on a change of the alarm mode."""


class EdgeRules:
    """Rules + alarm behind one lock, fanning alerts out to the sinks in the order they happened."""

    def __init__(
        self,
        home: HomeConfig,
        sinks: Sequence[AlertSink] = (),
        clock: Clock = time.time,
        *,
        rules: Iterable[Rule] | None = None,
        settings: AlarmSettings | None = None,
    ) -> None:
        self.home = home
        self.clock = clock
        self.rules = tuple(parse_rules(home) if rules is None else rules)
        self.settings = parse_alarm(home) if settings is None else settings
        self.engine = RuleEngine(home, self.rules, clock)
        self.alarm = Alarm(home, self.settings, self.rules, clock)
        self.sinks = list(sinks)
        self._redeliveries = Redeliveries()
        self._failing: set[tuple[int, str]] = set()
        self._lock = threading.RLock()

    def on_telemetry(self, msg: Uplink) -> list[Alert]:
        """Run every rule on one accepted message; a redelivery (same device, boot, seq) is ignored."""
        with self._lock:
            if not self._redeliveries.first_time(msg.device, msg.boot, msg.seq):
                return []
            return self._emit(self.engine.on_telemetry(msg) + self.alarm.on_telemetry(msg))

    def on_status(self, device: str, online: bool, interval_s: float | None = None) -> list[Alert]:
        """A device's status message or LWT."""
        with self._lock:
            return self._emit(self.engine.on_status(device, online, self.clock(), interval_s))

    def tick(self) -> list[Alert]:
        """Advance time-driven rules (durations, silences, cooldowns, entry delays); call a few times a second."""
        with self._lock:
            now = self.clock()
            return self._emit(self.engine.tick(now) + self.alarm.tick(now))

    def set_mode(self, mode: AlarmMode, source: str, by: str | None = None) -> ModeState:
        """Change the alarm mode from `source` (mqtt, http, button); the sinks publish the retained state."""
        with self._lock:
            state, alerts = self.alarm.set_mode(mode, source, by)
            self._each(lambda sink: sink.on_mode(state))
            self._emit(alerts)
            return state

    def restore_mode(self, state: ModeState) -> None:
        """Take over the retained mode found on the broker at start."""
        with self._lock:
            self.alarm.restore(state)

    def acknowledge(self, ack: AlertAck) -> Alert | None:
        """Acknowledge a raised alert or the intrusion by id; the buzzer goes quiet. None for an unknown id."""
        with self._lock:
            now = self.clock()
            alert = self.alarm.acknowledge(ack.id, ack.by, now) or self.engine.book.acknowledge(ack.id, ack.by, now)
            if alert is None:
                logger.info("alert ack for unknown id=%s by=%s", ack.id, ack.by)
                return None
            return self._emit([alert])[0]

    @property
    def mode(self) -> ModeState:
        """The alarm's current mode state."""
        return self.alarm.state

    def raised(self) -> list[Alert]:
        """Every alert currently raised, the intrusion included."""
        with self._lock:
            incident = [self.alarm.incident.alert] if self.alarm.incident else []
            return incident + self.engine.book.raised()

    def _emit(self, alerts: list[Alert]) -> list[Alert]:
        for alert in alerts:
            logger.info("alert %s id=%s severity=%s: %s", alert.state, alert.id, alert.severity, alert.message)
            self._each(lambda sink, a=alert: sink.on_alert(a))  # type: ignore[misc]
        return alerts

    def _each(self, act: Callable[[AlertSink], None]) -> None:
        """Call every sink; one failing sink never stops the others (its failure logged once, and its recovery)."""
        for sink in self.sinks:
            key = (id(sink), type(sink).__name__)
            try:
                act(sink)
            except Exception as exc:  # a sink is foreign code (GPIO, network): contain it, keep alerting
                if key not in self._failing:
                    self._failing.add(key)
                    logger.warning("alert sink %s failed: %s", key[1], exc)
                continue
            if key in self._failing:
                self._failing.discard(key)
                logger.info("alert sink %s recovered", key[1])
