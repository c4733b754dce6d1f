"""The rule engine: thresholds with hysteresis and duration, home power, smoke, offline and clock skew."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from gateway.rules.book import AlertBook, Key
from gateway.rules.config import ClockSkew, HomePower, Offline, Rule, Smoke, Threshold
from gateway.rules.watch import Cadence, Redeliveries
from protocol import Alert, Kind, Uplink
from protocol.config import DeviceType, HomeConfig

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
Level = Threshold | HomePower


def _number(value: bool | float | None) -> float | None:
    """A numeric reading's value; None for a failed sensor (and for booleans)."""
    return None if value is None or isinstance(value, bool) else float(value)


class RuleEngine:
    """Evaluates the stateless and timed rules on every accepted message and on a clock tick."""

    def __init__(self, home: HomeConfig, rules: Iterable[Rule], clock: Clock) -> None:
        self.home = home
        self.clock = clock
        self.book = AlertBook()
        self.rules = tuple(r for r in rules if isinstance(r, Threshold | HomePower | Smoke | Offline | ClockSkew))
        self._redeliveries = Redeliveries()
        self._cadence = {d.id: Cadence(d.interval_s) for d in home.devices}
        self._since: dict[Key, float] = {}  # when each level rule's condition started
        self._level: dict[Key, float] = {}  # the value that started (or last fed) it
        self._power: dict[str, float] = {}
        self._meters = {d.id for d in home.devices if d.type is DeviceType.METER}

    def on_telemetry(self, msg: Uplink) -> list[Alert]:
        """Alerts raised or cleared by one accepted message; a redelivered message changes nothing."""
        if not self._redeliveries.first_time(msg.device, msg.boot, msg.seq):
            return []
        now = msg.received_at
        alerts: list[Alert | None] = []
        cadence = self._cadence.get(msg.device)
        if cadence is not None:
            cadence.seen(now)
        for rule in self.rules:
            alerts.extend(self._evaluate(rule, msg, now))
        return [a for a in alerts if a is not None]

    def on_status(self, device: str, online: bool, now: float, interval_s: float | None = None) -> list[Alert]:
        """A device's retained status or LWT: offline raises the offline rules at once, online clears them."""
        cadence = self._cadence.get(device)
        if cadence is None:
            return []
        cadence.announced_s = interval_s or cadence.announced_s
        if online and cadence.last_seen is not None:
            cadence.last_seen = max(cadence.last_seen, now)  # alive: no "silent" alert before its first reading
        alerts: list[Alert | None] = []
        for rule in self.rules:
            if isinstance(rule, Offline) and self._watches(rule, device):
                key = (str(rule.id), device)
                if online:
                    alerts.append(self.book.clear(key, now, f"{self._label(device)} is back online"))
                else:
                    alerts.append(self._raise(rule, device, now, f"{self._label(device)} went offline (LWT)"))
        return [a for a in alerts if a is not None]

    def tick(self, now: float | None = None) -> list[Alert]:
        """Time-driven changes: durations reached, devices gone silent, clears whose cooldown ran out."""
        now = self.clock() if now is None else now
        alerts: list[Alert | None] = []
        for rule in self.rules:
            if isinstance(rule, Threshold | HomePower):
                alerts.extend(self._durations(rule, now))
            elif isinstance(rule, Offline):
                alerts.extend(self._silences(rule, now))
        alerts.extend(self.book.tick(now))
        return [a for a in alerts if a is not None]

    def _evaluate(self, rule: Rule, msg: Uplink, now: float) -> list[Alert | None]:
        """Dispatch one rule over one message."""
        if isinstance(rule, Threshold):
            return self._threshold(rule, msg, now)
        if isinstance(rule, HomePower):
            return self._home_power(rule, msg, now)
        if isinstance(rule, Smoke):
            return self._smoke(rule, msg, now)
        if isinstance(rule, Offline):
            return self._back(rule, msg.device, now)
        if isinstance(rule, ClockSkew):
            return [self._skew(rule, msg, now)]
        return []

    # --- level rules: thresholds and whole-home power ---

    def _threshold(self, rule: Threshold, msg: Uplink, now: float) -> list[Alert | None]:
        if not self._selects(rule, msg.device):
            return []
        values = [_number(r.value) for r in msg.readings if r.kind is rule.kind]
        return [self._feed(rule, msg.device, v, now) for v in values if v is not None]

    def _home_power(self, rule: HomePower, msg: Uplink, now: float) -> list[Alert | None]:
        values = [_number(r.value) for r in msg.readings if r.kind is Kind.POWER]
        if not values or values[-1] is None:
            return []
        self._power[msg.device] = values[-1]
        metered = [w for d, w in self._power.items() if d in self._meters]
        total = sum(metered) if self._meters else sum(self._power.values())
        return [self._feed(rule, None, total, now)]

    def _feed(self, rule: Level, device: str | None, value: float, now: float) -> Alert | None:
        """One value for a level rule: start the clock on a breach, clear past the hysteresis band."""
        key = (str(rule.id), device)
        above, below = (rule.above, rule.below) if isinstance(rule, Threshold) else (rule.above, None)
        breach = value > above if above is not None else value < (below or 0.0)
        back = value <= above - rule.hysteresis if above is not None else value >= (below or 0.0) + rule.hysteresis
        if breach:
            self._since.setdefault(key, now)
            self._level[key] = value
            return self._due(rule, key, now)
        if back or not self.book.is_raised(key):
            self._since.pop(key, None)  # inside the band an unraised alert starts its duration afresh
        if back:
            return self.book.clear(key, now, f"{self._what(rule, device)} back to {value:g}")
        return None

    def _due(self, rule: Level, key: Key, now: float) -> Alert | None:
        """Raise a level rule whose condition has lasted its `for_s`."""
        since = self._since.get(key)
        if since is None or now - since < rule.for_s:
            return None
        device = key[1]
        limit = f"above {rule.above:g}" if rule.above is not None else f"below {getattr(rule, 'below', 0):g}"
        held = f" for {now - since:.0f} s" if rule.for_s else ""
        text = f"{self._what(rule, device)} is {self._level[key]:g}, {limit}{held}"
        return self._raise(rule, device, now, text, value=self._level[key])

    def _durations(self, rule: Level, now: float) -> list[Alert | None]:
        return [self._due(rule, key, now) for key in list(self._since) if key[0] == rule.id]

    # --- smoke, offline, clock skew ---

    def _smoke(self, rule: Smoke, msg: Uplink, now: float) -> list[Alert | None]:
        out: list[Alert | None] = []
        for reading in msg.readings:
            if reading.kind is Kind.SMOKE and isinstance(reading.value, bool):
                label = self._label(msg.device)
                if reading.value:
                    out.append(self._raise(rule, msg.device, now, f"smoke detected by {label}", value=True))
                else:
                    out.append(self.book.clear((str(rule.id), msg.device), now, f"{label}: smoke gone"))
        return out

    def _back(self, rule: Offline, device: str, now: float) -> list[Alert | None]:
        if not self._watches(rule, device):
            return []
        return [self.book.clear((str(rule.id), device), now, f"{self._label(device)} is reporting again")]

    def _silences(self, rule: Offline, now: float) -> list[Alert | None]:
        out: list[Alert | None] = []
        for device, cadence in self._cadence.items():
            limit = max(rule.min_silence_s, rule.silence_factor * cadence.usual_s())
            silent = cadence.silent_for(now)
            if silent > limit and self._watches(rule, device):
                text = f"{self._label(device)} silent for {silent:.0f} s (usually every {cadence.usual_s():.0f} s)"
                out.append(self._raise(rule, device, now, text))
        return out

    def _skew(self, rule: ClockSkew, msg: Uplink, now: float) -> Alert | None:
        if msg.ts is None:
            return None
        skew = msg.ts - msg.received_at
        key = (str(rule.id), msg.device)
        # A resend from a device's outbox is legitimately old: only the newest message can show a slow clock.
        if skew > rule.max_skew_s or (skew < -rule.max_skew_s and self._redeliveries.is_newest(msg.device, msg.seq)):
            text = f"{self._label(msg.device)} clock is {skew:+.0f} s off the gateway's"
            return self._raise(rule, msg.device, now, text, value=round(skew, 3))
        if abs(skew) <= rule.max_skew_s:
            return self.book.clear(key, now, f"{self._label(msg.device)} clock back in step ({skew:+.1f} s)")
        return None

    # --- helpers ---

    def _raise(self, rule: Rule, device: str | None, now: float, text: str, value: float | None = None) -> Alert | None:
        found = self.home.device(device) if device else None
        key = (str(rule.id), device)
        return self.book.raise_alert(
            key, rule.severity, now, text, cooldown_s=rule.cooldown_s, room=found.room if found else None, value=value
        )

    def _selects(self, rule: Threshold, device_id: str) -> bool:
        device = self.home.device(device_id)
        if device is None or rule.kind not in device.kinds:
            return False
        if rule.devices and device_id not in rule.devices:
            return False
        if rule.rooms and device.room not in rule.rooms:
            return False
        return rule.appliance is None or device.appliance == rule.appliance

    def _watches(self, rule: Offline, device: str) -> bool:
        return device in self._cadence and (not rule.devices or device in rule.devices)

    def _label(self, device: str) -> str:
        found = self.home.device(device)
        return found.label if found else device

    def _what(self, rule: Level, device: str | None) -> str:
        if device is None:
            return "home power (W)"
        kind = rule.kind.value if isinstance(rule, Threshold) else "power"
        return f"{self._label(device)} {kind}"
