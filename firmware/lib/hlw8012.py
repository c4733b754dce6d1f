# HLW8012 / BL0937 power metering chip, read by counting pulses: CF pulses at a rate proportional to
# active power; CF1 to current or to voltage, chosen by the SEL pin. Multipliers are per board (shunt
# and divider values), so they come from config; calibrate with a known resistive load (hardware/).
import hal
from kinds import POWER, ENERGY, VOLTAGE, CURRENT, check, ERR_NO_SIGNAL
from log import log


class PowerMeter:
    WINDOW_MS = 2000  # at 2000 W a BL0937 gives ~1.5 kHz on CF; at 5 W ~4 Hz, so 2 s keeps noise < 15 %
    SAVE_EVERY_MS = 600000  # persist the energy total at most every 10 min: flash wear

    def __init__(self, cf, cf1, sel, sel_current=1, w_per_hz=1.0, v_per_hz=1.0, a_per_hz=1.0,
                 energy_file=None):
        self.cf = hal.counter(cf)
        self.cf1 = hal.counter(cf1)
        self.sel_current = sel_current
        self.sel = hal.pin_out(sel, sel_current)
        self.k_p, self.k_v, self.k_i = w_per_hz, v_per_hz, a_per_hz
        self.energy_file = energy_file
        self.base_kwh = self._load()
        self.start = hal.ticks_ms()
        self.cf0 = self.cf.value()  # pulses since this boot turn into energy on top of base_kwh
        self.last_cf = self.cf0
        self.last_cf1 = self.cf1.value()
        self.saved_at = self.start
        self.power = None
        self.volts = None
        self.amps = None

    def _load(self):
        if not self.energy_file:
            return 0.0
        try:
            with open(self.energy_file) as f:
                return float(f.read())
        except (OSError, ValueError):
            return 0.0  # first boot, or a torn write: the cloud sees a meter reset on the new boot id

    def energy(self):
        return self.base_kwh + (self.cf.value() - self.cf0) * self.k_p / 3600000.0  # W*s per pulse -> kWh

    def update(self, now):
        span = hal.ticks_diff(now, self.start)
        if span < self.WINDOW_MS:
            return
        cf, cf1 = self.cf.value(), self.cf1.value()
        self.power = (cf - self.last_cf) * 1000.0 / span * self.k_p  # no pulses in 2 s: 0 W, a real zero
        hz1 = (cf1 - self.last_cf1) * 1000.0 / span
        if self.sel.value() == self.sel_current:
            self.amps = hz1 * self.k_i
        else:
            self.volts = hz1 * self.k_v
            if hz1 == 0:
                log("W", "power meter: no CF1 pulses in voltage mode: check the CF1 wire")
        # Alternate CF1 between current and voltage each window (one window's pulses after a switch
        # are slightly off, the datasheet's settling; fine for a home meter).
        self.sel.value(1 - self.sel.value())
        self.start, self.last_cf, self.last_cf1 = now, cf, cf1
        if self.energy_file and hal.ticks_diff(now, self.saved_at) >= self.SAVE_EVERY_MS:
            self.save(now)

    def save(self, now):
        try:
            with open(self.energy_file, "w") as f:
                f.write("%.4f" % self.energy())
            self.saved_at = now
        except OSError as exc:
            log("W", "energy not saved: %r" % (exc,))

    def readings(self, now):
        if self.power is None:
            return ()
        out = [(POWER,) + check(POWER, self.power), (ENERGY,) + check(ENERGY, self.energy())]
        if self.volts is not None:
            v = check(VOLTAGE, self.volts) if self.volts else (None, ERR_NO_SIGNAL)
            out.append((VOLTAGE,) + v)
        if self.amps is not None:
            out.append((CURRENT,) + check(CURRENT, self.amps))
        return out
