"""The piezo buzzer: a pattern per alert severity and state, through gpiozero (its mock pins off the Pi)."""

from __future__ import annotations

import logging
import os
import threading
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
    """Sounds the pattern of the loudest live alert; acknowledging it, clearing it or disarming stops it.

    The pattern plays on one long-lived thread of ours rather than gpiozero's `beep()`, which starts a thread
    per call and joins it on the next: the rules call us from the MQTT network thread, which must never wait.
    The first beep is switched on by the caller itself, so the pin goes high with the alert."""

    def __init__(self, pin: int, *, factory: Any = None, siren_max_s: float = 600.0) -> None:
        self.device = GpioBuzzer(pin, pin_factory=factory if factory is not None else pin_factory())
        self.siren_max_s = siren_max_s
        self.sounding: tuple[str, Pattern] | None = None  # (alert id, pattern)
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every play/stop: the player drops a pattern that is no longer wanted
        self._changed = threading.Event()
        self._closed = False
        self._player = threading.Thread(target=self._play_loop, name="buzzer", daemon=True)
        self._player.start()

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
        """Switch the buzzer on now and hand the rest of the pattern to the player thread (never blocks)."""
        with self._lock:
            self._generation += 1
            self.sounding = (alert_id, pattern)
            self.device.on()
        self._changed.set()
        logger.info("buzzer %s for %s", pattern.name, alert_id)

    def stop(self, why: str) -> None:
        """Silence the buzzer."""
        with self._lock:
            self._generation += 1
            self.sounding = None
            self.device.off()
        self._changed.set()
        logger.info("buzzer off (%s)", why)

    def close(self) -> None:
        """Stop the player and release the pin."""
        self._closed = True
        self._changed.set()
        self._player.join(5)
        self.device.close()

    def _play_loop(self) -> None:
        while not self._closed:
            self._changed.wait()
            self._changed.clear()
            with self._lock:
                generation, sounding = self._generation, self.sounding
            if sounding is not None:
                self._pattern(generation, sounding[1])

    def _pattern(self, generation: int, pattern: Pattern) -> None:
        """Play `pattern` (its first beep is already on) until done, replaced or stopped."""
        count = pattern.count or max(1, round(self.siren_max_s / (pattern.on_s + pattern.off_s)))
        for beep in range(count):
            if beep and not self._write(generation, on=True):
                return
            if self._changed.wait(pattern.on_s) or not self._write(generation, on=False):
                return
            if self._changed.wait(pattern.off_s):
                return

    def _write(self, generation: int, *, on: bool) -> bool:
        """Set the pin unless a newer play/stop took over; False when it did."""
        with self._lock:
            if generation != self._generation:
                return False
            self.device.value = on
            return True
