"""The piezo buzzer: a pattern per alert severity and state, through gpiozero (its mock pins off the Pi)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero import Buzzer as GpioBuzzer
from gpiozero.pins.mock import MockFactory

from protocol import AlarmMode, Alert, AlertState, ModeState, Severity

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pattern:
    """Beeps of `on_s` then `off_s`, `count` times (None: until stopped); a higher `rank` overrides a lower."""

    name: str
    on_s: float
    off_s: float
    count: int | None
    rank: int


# Declared once, as data: what each alert sounds like. Info alerts (clock skew, say) stay silent: a
# buzzer that chirps at night for a drifting clock gets unplugged.
SIREN = Pattern("siren", 0.5, 0.5, None, 3)  # intrusion triggered, smoke: until acknowledged, disarmed or siren_max_s
ENTRY = Pattern("entry", 0.1, 0.9, None, 2)  # entry delay running: one chirp a second, like a keypad
WARNING = Pattern("warning", 0.2, 0.2, 3, 1)  # three short beeps


def pattern_for(alert: Alert) -> Pattern | None:
    """The pattern an alert state sounds, or None for silence."""
    if alert.state is AlertState.PENDING:
        return ENTRY
    if alert.state is AlertState.TRIGGERED:
        return SIREN
    if alert.state is AlertState.RAISED:
        return {Severity.CRITICAL: SIREN, Severity.WARNING: WARNING}.get(alert.severity)
    return None


def on_a_pi() -> bool:
    """True on a Raspberry Pi (or when GPIOZERO_PIN_FACTORY names a real factory)."""
    if os.environ.get("GPIOZERO_PIN_FACTORY", "mock") != "mock":
        return True
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


def pin_factory() -> Any:
    """gpiozero's default factory on a Pi; its MockFactory elsewhere, whose pins record their history."""
    return None if on_a_pi() else MockFactory()


class Buzzer:
    """Sounds the pattern of the loudest live alert; acknowledging it, clearing it or disarming stops it."""

    def __init__(self, pin: int, *, factory: Any = None, siren_max_s: float = 600.0) -> None:
        self.device = GpioBuzzer(pin, pin_factory=factory if factory is not None else pin_factory())
        self.siren_max_s = siren_max_s
        self.sounding: tuple[str, Pattern] | None = None  # (alert id, pattern)

    @property
    def pin(self) -> Any:
        """The gpiozero pin (a MockPin off the Pi: `.states` is its history)."""
        return self.device.pin

    def on_alert(self, alert: Alert) -> None:
        """Start the alert's pattern unless a louder one sounds; stop when the sounding alert ends."""
        if alert.state in (AlertState.CLEARED, AlertState.ACKNOWLEDGED):
            if self.sounding is not None and self.sounding[0] == alert.id:
                self.stop(f"{alert.id} {alert.state.value}")
            return
        pattern = pattern_for(alert)
        if pattern is None:
            return
        if self.sounding is not None and self.sounding[1].rank > pattern.rank:
            return
        self.play(alert.id, pattern)

    def on_mode(self, state: ModeState) -> None:
        """Disarming silences everything."""
        if state.mode is AlarmMode.DISARMED and self.sounding is not None:
            self.stop("disarmed")

    def play(self, alert_id: str, pattern: Pattern) -> None:
        """Sound `pattern` in gpiozero's background thread (returns at once; the first beep starts now)."""
        count = pattern.count
        if count is None:
            count = max(1, round(self.siren_max_s / (pattern.on_s + pattern.off_s)))
        self.sounding = (alert_id, pattern)
        self.device.on()  # the first beep starts now, not when gpiozero's pattern thread gets going
        self.device.beep(on_time=pattern.on_s, off_time=pattern.off_s, n=count, background=True)
        logger.info("buzzer %s for %s", pattern.name, alert_id)

    def stop(self, why: str) -> None:
        """Silence the buzzer."""
        self.device.off()
        self.sounding = None
        logger.info("buzzer off (%s)", why)

    def close(self) -> None:
        """Release the pin."""
        self.device.close()
