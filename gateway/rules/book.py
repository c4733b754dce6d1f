"""Each alert's lifecycle: raised once with a stable id, a clear held back for the rule's cooldown, acknowledged."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from protocol import Alert, AlertState, Severity

Key = tuple[str, str | None]  # (rule id, device id or None for the whole home)


@dataclass(slots=True)
class _Entry:
    """One raised alert and, while its condition is gone, when it went."""

    alert: Alert
    cooldown_s: float
    clear_since: float | None = None
    clear_message: str = ""


class AlertBook:
    """Raised alerts by (rule, device): a raise while raised is a no-op, and a clear only sticks after the cooldown."""

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}

    def raise_alert(
        self,
        key: Key,
        severity: Severity,
        now: float,
        message: str,
        *,
        cooldown_s: float = 0.0,
        room: str | None = None,
        value: bool | float | None = None,
    ) -> Alert | None:
        """The new alert, or None when it is already raised (a pending clear is called off: the sensor flapped)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.clear_since = None
            return None
        rule, device = key
        alert = Alert(
            id=f"{rule}-{device or 'home'}-{round(now * 1000)}",
            rule=rule,
            severity=severity,
            state=AlertState.RAISED,
            ts=now,
            message=message[:500],
            device=device,
            room=room,
            value=value,
        )
        self._entries[key] = _Entry(alert, cooldown_s)
        return alert

    def clear(self, key: Key, now: float, message: str) -> Alert | None:
        """The cleared alert at once when the rule has no cooldown; else None, and `tick` clears it later."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.clear_since is None:
            entry.clear_since, entry.clear_message = now, message
        return self._cleared(key, now) if now - entry.clear_since >= entry.cooldown_s else None

    def tick(self, now: float) -> list[Alert]:
        """Clear every alert whose condition stayed gone for its whole cooldown."""
        due = [k for k, e in self._entries.items() if e.clear_since is not None and now - e.clear_since >= e.cooldown_s]
        return [self._cleared(key, now) for key in due]

    def _cleared(self, key: Key, now: float) -> Alert:
        entry = self._entries.pop(key)
        return msgspec.structs.replace(entry.alert, state=AlertState.CLEARED, ts=now, message=entry.clear_message)

    def acknowledge(self, alert_id: str, by: str, now: float) -> Alert | None:
        """Record who acknowledged a raised alert; None when no raised alert has that id."""
        for entry in self._entries.values():
            if entry.alert.id == alert_id:
                entry.alert = msgspec.structs.replace(entry.alert, ack_by=by, ack_at=now)
                return msgspec.structs.replace(entry.alert, state=AlertState.ACKNOWLEDGED, ts=now)
        return None

    def is_raised(self, key: Key) -> bool:
        """True while the alert for `key` is raised (a clear held back by the cooldown still counts)."""
        return key in self._entries

    def raised(self) -> list[Alert]:
        """Every raised alert, oldest first."""
        return sorted((e.alert for e in self._entries.values()), key=lambda a: a.ts)
