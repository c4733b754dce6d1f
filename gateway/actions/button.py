"""The arming button: a push button on a GPIO pin arms `away` when disarmed and disarms when armed."""

from __future__ import annotations

import logging
from typing import Any

from gpiozero import Button

from gateway.actions.buzzer import pin_factory
from gateway.rules.edge import EdgeRules
from protocol import AlarmMode

logger = logging.getLogger(__name__)


class ArmButton:
    """Toggles the alarm from a button (the Pi sits inside the home, so a press there may disarm)."""

    def __init__(self, pin: int, rules: EdgeRules, *, factory: Any = None) -> None:
        self.rules = rules
        self.button = Button(pin, pull_up=True, bounce_time=0.05, pin_factory=factory or pin_factory())
        self.button.when_pressed = self.pressed

    def pressed(self) -> None:
        """One press: arm away, or disarm."""
        armed = self.rules.mode.mode is not AlarmMode.DISARMED
        self.rules.set_mode(AlarmMode.DISARMED if armed else AlarmMode.AWAY, "button")

    def close(self) -> None:
        """Release the pin."""
        self.button.close()
