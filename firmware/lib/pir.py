# PIR motion sensor (HC-SR501 / AM312): the output goes high on motion. An interrupt stamps the time;
# motion stays true until `hold` has passed since the last trigger, so a short pulse is never missed.
import hal
from kinds import MOTION


class PIR:
    def __init__(self, pin_no, hold_s=30):
        self.pin = hal.pin_in(pin_no)
        self.hold_ms = int(hold_s * 1000)
        self.last = None  # ticks of the last rising edge, written by the interrupt
        self.pin.irq(self._edge, hal.IRQ_RISING)

    def _edge(self, _pin):
        self.last = hal.ticks_ms()

    def update(self, now):
        if self.pin.value():
            self.last = now  # still high: a sensor whose own hold time outlasts ours keeps motion on

    def readings(self, now):
        on = self.last is not None and hal.ticks_diff(now, self.last) < self.hold_ms
        return ((MOTION, on, 0),)
