"""The alert rules as a pure state machine: messages and clock ticks in, alerts out; state is plain JSON."""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud.config import AlertRules
from protocol import Alert, AlertState, Kind, Severity, Uplink
from protocol.config import DeviceType, HomeConfig

ZSCORE_KINDS = frozenset({Kind.TEMPERATURE, Kind.HUMIDITY, Kind.VOLTAGE})
RESOLUTION = {Kind.TEMPERATURE: 0.1, Kind.HUMIDITY: 0.1, Kind.VOLTAGE: 0.1}  # std floor: the sensor's resolution
Fired = tuple[str, Alert]  # (home, alert)
MAX_STEP_S = 300.0  # power is integrated into a budget only over steps shorter than this (never across a gap)


@dataclass
class State:
    """Everything the rules remember; `to_json`/`from_json` carry it across a restart."""

    last_fired: dict[str, float] = field(default_factory=dict)  # alert key -> wall time it last fired
    last_seen: dict[str, float] = field(default_factory=dict)  # "home|device" -> wall time of its last message
    home_seen: dict[str, float] = field(default_factory=dict)  # home -> wall time of its last message
    silent: list[str] = field(default_factory=list)  # keys currently reported silent (fired once per silence)
    power: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # home -> [(t, home watts)]
    device_power: dict[str, list[float]] = field(default_factory=dict)  # "home|device" -> [t, watts, is_meter]
    budget: dict[str, dict[str, Any]] = field(default_factory=dict)  # "home|device" -> today's energy so far
    values: dict[str, list[float]] = field(default_factory=dict)  # "home|device|kind" -> recent values

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        """Rebuild from `to_json` output (unknown keys ignored, missing ones empty)."""
        fields = cls.__dataclass_fields__
        state = cls(**{k: v for k, v in data.items() if k in fields})
        state.power = {k: [(float(a), float(b)) for a, b in v] for k, v in state.power.items()}
        return state


class Rules:
    """Evaluate the cloud's alert rules for one configured home (others get defaults from what they send)."""

    def __init__(self, rules: AlertRules, home: HomeConfig, state: State | None = None) -> None:
        self.rules = rules
        self.state = state or State()
        self.tz = zoneinfo.ZoneInfo(home.home.timezone)
        self.meters = {d.id for d in home.devices if d.type is DeviceType.METER}
        self.labels = {d.id: d.appliance or d.label for d in home.devices}
        self.rooms = {d.id: d.room for d in home.devices}

    def observe(self, home: str, msg: Uplink, now: float) -> list[Fired]:
        """Feed one forwarded telemetry message received at wall time `now`."""
        key = f"{home}|{msg.device}"
        self.state.last_seen[key] = self.state.home_seen[home] = now
        fired = self._back(home, msg.device, key, now)
        t = msg.received_at if msg.ts is None else msg.ts
        for reading in msg.readings:
            if reading.value is None or isinstance(reading.value, bool):
                continue
            value = float(reading.value)
            if reading.kind is Kind.POWER:
                fired += self._power(home, msg.device, t, value, now)
            if reading.kind in (Kind.ENERGY, Kind.POWER):
                fired += self._budget(home, msg.device, reading.kind, t=t, value=value, now=now)
            if reading.kind in ZSCORE_KINDS:
                fired += self._zscore(home, msg.device, reading.kind, value, now)
        return fired

    def seen(self, home: str, now: float) -> None:
        """Any other message from a home's gateway (status, events, alerts) shows the gateway is alive."""
        self.state.home_seen[home] = now

    def tick(self, now: float) -> list[Fired]:
        """Clock-driven rules: devices and whole gateways that went silent."""
        fired = []
        for key, seen in list(self.state.last_seen.items()):
            home, device = key.split("|")
            if now - seen >= self.rules.silent_device_s and key not in self.state.silent:
                self.state.silent.append(key)
                text = f"{self.labels.get(device, device)} silent for {(now - seen) / 60:.0f} min"
                fired += self._fire(f"silent|{key}", "device_silent", home, now=now, severity=Severity.WARNING,
                                    message=text, device=device, value=now - seen, cooldown=False)
        for home, seen in list(self.state.home_seen.items()):
            if now - seen >= self.rules.silent_gateway_s and f"gw|{home}" not in self.state.silent:
                self.state.silent.append(f"gw|{home}")
                text = f"gateway of {home} silent for {(now - seen) / 60:.0f} min"
                fired += self._fire(f"silent|gw|{home}", "gateway_silent", home, now=now, severity=Severity.CRITICAL,
                                    message=text, value=now - seen, cooldown=False)
        return fired

    def _back(self, home: str, device: str, key: str, now: float) -> list[Fired]:
        """A silent device or gateway that speaks again clears its silence alert."""
        fired = []
        for silent, rule, subject in ((key, "device_silent", device), (f"gw|{home}", "gateway_silent", None)):
            if silent in self.state.silent:
                self.state.silent.remove(silent)
                fired += self._fire(f"silent|{silent}", rule, home, now=now, severity=Severity.INFO,
                                    message="heard again", device=subject, state=AlertState.CLEARED, cooldown=False)
        return fired

    def _power(self, home: str, device: str, t: float, watts: float, now: float) -> list[Fired]:
        """Home consumption: the meter when there is one, else the sum of the latest plug readings."""
        latest = self.state.device_power
        latest[f"{home}|{device}"] = [t, watts, 1.0 if device in self.meters else 0.0]
        mine = [v for k, v in latest.items() if k.startswith(f"{home}|")]
        meters = [w for (_t, w, m) in mine if m]
        total = sum(meters) if meters else sum(w for (_t, w, m) in mine if not m)
        window = self.state.power.setdefault(home, [])
        window.append((t, total))
        horizon = t - self.rules.home_power_window_s
        while window and window[0][0] < horizon:
            window.pop(0)
        covered = window[-1][0] - window[0][0] >= 0.9 * self.rules.home_power_window_s
        mean = sum(w for _t, w in window) / len(window)
        if not covered or mean <= self.rules.home_power_w:
            return []
        text = f"home drew {mean:.0f} W on average over {self.rules.home_power_window_s / 60:.0f} min"
        return self._fire(f"power|{home}", "home_power", home, now=now, severity=Severity.WARNING, message=text,
                          value=mean)

    def _budget(self, home: str, device: str, kind: Kind, *, t: float, value: float, now: float) -> list[Fired]:
        """Today's energy per appliance against its daily budget (counters preferred, else integrated power)."""
        label = self.labels.get(device, device)
        budget = self.rules.budget_kwh.get(label, self.rules.budget_kwh.get(device))
        if budget is None:
            return []
        key, day = f"{home}|{device}", datetime.fromtimestamp(t, self.tz).date().isoformat()
        entry = self.state.budget.get(key)
        if entry is None or entry["day"] != day:
            counter = entry["energy"][1] if entry and entry["energy"] else None  # carry the counter over midnight
            entry = self.state.budget[key] = {"day": day, "energy": None if counter is None else [0.0, counter],
                                              "power": None}
        if kind is Kind.ENERGY:
            acc = entry["energy"]
            if acc is None:
                entry["energy"] = [0.0, value]
            else:
                acc[0] += value if value < acc[1] else value - acc[1]  # after a reset the counter restarts at 0
                acc[1] = value
        else:
            acc = entry["power"]
            if acc is None:
                entry["power"] = [0.0, value, t]
            else:
                if 0 < t - acc[2] <= MAX_STEP_S:  # the previous power held until now; never across a gap
                    acc[0] += acc[1] * (t - acc[2]) / 3.6e6
                acc[1], acc[2] = value, t
        used = float((entry["energy"] or entry["power"])[0])
        if used <= budget:
            return []
        text = f"{label} used {used:.2f} kWh today, budget {budget:.2f} kWh"
        return self._fire(f"budget|{key}|{day}", "energy_budget", home, now=now, severity=Severity.WARNING,
                          message=text, device=device, value=used, cooldown=False)

    def _zscore(self, home: str, device: str, kind: Kind, value: float, now: float) -> list[Fired]:
        """A value far outside the recent spread of the same sensor."""
        recent = self.state.values.setdefault(f"{home}|{device}|{kind.value}", [])
        fired = []
        if len(recent) >= self.rules.zscore_window:
            mean = sum(recent) / len(recent)
            std = max(math.sqrt(sum((v - mean) ** 2 for v in recent) / (len(recent) - 1)), RESOLUTION[kind])
            if abs(value - mean) / std > self.rules.zscore:
                text = f"{self.labels.get(device, device)} {kind.value} {value:g} is far from its recent {mean:.1f}"
                fired = self._fire(f"anomaly|{home}|{device}|{kind.value}", "anomaly", home, now=now,
                                   severity=Severity.WARNING, message=text, device=device, value=value)
        recent.append(value)
        del recent[: max(0, len(recent) - self.rules.zscore_window)]
        return fired

    def _fire(self, key: str, rule: str, home: str, *, now: float, severity: Severity, message: str,
              device: str | None = None, value: float | None = None, state: AlertState = AlertState.RAISED,
              cooldown: bool = True) -> list[Fired]:
        """An alert unless the same key fired within the cooldown (keys without cooldown fire once by design)."""
        last = self.state.last_fired.get(key)
        if cooldown and last is not None and now - last < self.rules.cooldown_s:
            return []
        if key.startswith("budget|") and last is not None:
            return []  # a budget is exceeded once a day (the key carries the day)
        started = last if state is AlertState.CLEARED and last is not None else now  # one id per lifecycle
        self.state.last_fired[key] = now
        alert = Alert(id=f"cloud-{rule}-{home}-{device or 'home'}-{int(started)}"[:120], rule=rule, severity=severity,
                      state=state, ts=now, message=message[:500], device=device, room=self.rooms.get(device or ""),
                      value=value)
        return [(home, alert)]
