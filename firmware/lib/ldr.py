# A light-dependent resistor (GL5528 class) in a divider on an ADC pin: 3V3 - LDR - pin - R_fixed - GND.
# Lux is approximate (+-50 %): lux = 10 * (R10 / R) ** (1 / gamma), from the datasheet's log-log line.
import hal
from kinds import LIGHT, ERR_SATURATED, check


class LDR:
    PERIOD_MS = 1000
    FULL_SCALE = 65535
    SATURATED = 65000  # the ESP32 ADC clips near 3.1 V at 11 dB: above this the LDR value is unknown

    def __init__(self, pin_no, fixed_ohm=10000, r10_ohm=10000, gamma=0.7):
        self.adc = hal.adc(pin_no)
        self.fixed = fixed_ohm
        self.r10 = r10_ohm
        self.gamma = gamma
        self.next_read = hal.ticks_ms()
        self.value = None
        self.err = 0

    def lux(self, raw):
        """(lux, err) for a raw 16-bit ADC reading."""
        if raw >= self.SATURATED:
            return None, ERR_SATURATED
        if raw <= 0:
            return 0.0, 0  # darker than the divider can tell: zero is a value
        r_ldr = self.fixed * (self.FULL_SCALE - raw) / raw
        return check(LIGHT, 10.0 * (self.r10 / r_ldr) ** (1.0 / self.gamma))

    def update(self, now):
        if hal.ticks_diff(now, self.next_read) >= 0:
            self.next_read = hal.ticks_add(now, self.PERIOD_MS)
            self.value, self.err = self.lux(self.adc.read_u16())

    def readings(self, now):
        if self.value is None and not self.err:
            return ()
        return ((LIGHT, self.value, self.err),)
