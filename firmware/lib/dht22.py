# DHT22 (AM2302) temperature and humidity. measure() raises; a failed read keeps no fake value: the last
# good one is reported only while it is fresh (two read periods), after that "value": null with a reason.
import hal
from kinds import TEMPERATURE, HUMIDITY, ERR_TIMEOUT, ERR_CHECKSUM, check
from log import log


class DHT22:
    PERIOD_MS = 2500  # the DHT22 needs >= 2 s between reads
    MAX_AGE_MS = 5500  # two periods and a margin: older than this, the value is no longer current

    def __init__(self, pin_no):
        self.dev = hal.dht22(pin_no)
        self.pin_no = pin_no
        self.next_read = hal.ticks_ms()
        self.good_at = None
        self.temp = None
        self.hum = None
        self.err = 0
        self.tries = 0

    def update(self, now):
        if hal.ticks_diff(now, self.next_read) < 0:
            return
        self.next_read = hal.ticks_add(now, self.PERIOD_MS)
        self.tries += 1
        try:
            self.dev.measure()
            self.temp, self.hum = self.dev.temperature(), self.dev.humidity()
        except OSError:
            self._failed(now, ERR_TIMEOUT, "no answer: check the 10k pull-up and data pin %d" % self.pin_no)
            return
        except Exception:  # micropython-lib's dht raises a bare Exception("checksum error")
            self._failed(now, ERR_CHECKSUM, "checksum error: long or unshielded wire?")
            return
        if self.err:
            log("I", "dht22 recovered")
        self.err = 0
        self.good_at = now

    def _failed(self, now, err, hint):
        if not self.err:
            log("W", "dht22 " + hint)  # once per failure streak, not per read
        self.err = err

    def readings(self, now):
        if self.tries == 0:
            return ()
        if self.good_at is not None and hal.ticks_diff(now, self.good_at) <= self.MAX_AGE_MS:
            t, e1 = check(TEMPERATURE, self.temp)
            h, e2 = check(HUMIDITY, self.hum)
            return ((TEMPERATURE, t, e1), (HUMIDITY, h, e2))
        return ((TEMPERATURE, None, self.err), (HUMIDITY, None, self.err))
