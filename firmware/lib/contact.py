# Reed contact on a door or window (several NC reeds in series make one zone: any open -> open).
# Wired to GND with the internal pull-up: closed = low. An interrupt marks a change; the state is
# accepted once the pin has been stable for the debounce time, since reeds bounce for a few ms.
import hal
from kinds import CONTACT


class Contact:
    def __init__(self, pin_no, open_level=1, debounce_ms=50):
        self.pin = hal.pin_in(pin_no, True)  # internal pull-up
        self.open_level = open_level
        self.debounce_ms = debounce_ms
        self.state = self.pin.value() == open_level
        self.changed_at = None
        self.pin.irq(self._edge, hal.IRQ_RISING | hal.IRQ_FALLING)

    def _edge(self, _pin):
        self.changed_at = hal.ticks_ms()

    def update(self, now):
        if self.changed_at is None:
            return
        if hal.ticks_diff(now, self.changed_at) >= self.debounce_ms:
            self.changed_at = None
            self.state = self.pin.value() == self.open_level

    def is_open(self):
        return self.state

    def readings(self, now):
        return ((CONTACT, self.state, 0),)
