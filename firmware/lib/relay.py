# The plug's relay (through a transistor or an opto-isolated module) and an optional piezo buzzer.
import hal
from kinds import SWITCH


class Relay:
    def __init__(self, pin_no, on=False, active_level=1):
        self.active = active_level  # many relay modules switch on a LOW input
        self.pin = hal.pin_out(pin_no, active_level if on else 1 - active_level)
        self.on = on

    def set(self, on):
        self.on = bool(on)
        self.pin.value(self.active if self.on else 1 - self.active)

    def update(self, now):
        pass

    def readings(self, now):
        return ((SWITCH, self.on, 0),)


class Buzzer:
    FREQ = 2700  # a typical piezo disc's resonance, where it is loudest

    def __init__(self, pin_no):
        self.pwm = hal.pwm(pin_no, self.FREQ, 0)
        self.until = None

    def beep(self, now, ms=150):
        self.pwm.duty_u16(32768)  # 50 % duty: the loudest square wave
        self.until = hal.ticks_add(now, ms)

    def update(self, now):
        if self.until is not None and hal.ticks_diff(now, self.until) >= 0:
            self.pwm.duty_u16(0)
            self.until = None
