# The board HAL: the only module that touches `machine`, `network`, `dht` and the clock. Tests put a
# fake `hal` module (firmware/unix/hal.py) first on sys.path, so everything above it runs unchanged.
import time
import machine
import network
import dht
import os

IRQ_RISING = machine.Pin.IRQ_RISING
IRQ_FALLING = machine.Pin.IRQ_FALLING
ticks_ms = time.ticks_ms
ticks_diff = time.ticks_diff
ticks_add = time.ticks_add
sleep_ms = time.sleep_ms
# Ports built before MicroPython 1.22 count from 2000-01-01; the wire wants Unix epoch seconds.
_EPOCH_OFFSET_MS = 946684800000 if time.gmtime(0)[0] == 2000 else 0
_synced = time.gmtime()[0] >= 2025  # the RTC survives a soft reset, so an earlier sync still counts


def epoch_ms():
    """Milliseconds since 1970 from the RTC, or None when NTP never set the clock."""
    if not _synced:
        return None
    return time.time_ns() // 1000000 + _EPOCH_OFFSET_MS


def pin_in(no, pull_up=False):
    return machine.Pin(no, machine.Pin.IN, machine.Pin.PULL_UP if pull_up else None)


def pin_out(no, value=0):
    return machine.Pin(no, machine.Pin.OUT, value=value)


def adc(no):
    a = machine.ADC(machine.Pin(no))
    a.atten(machine.ADC.ATTN_11DB)  # full 0..3.1 V range for the LDR divider
    return a


def pwm(no, freq, duty_u16=0):
    return machine.PWM(machine.Pin(no), freq=freq, duty_u16=duty_u16)


def dht22(no):
    return dht.DHT22(machine.Pin(no))


class _Counter:
    """Counts rising edges with a pin interrupt (a BL0937 CF pin stays under ~2 kHz at 16 A)."""

    def __init__(self, no):
        self.n = 0
        self.pin = machine.Pin(no, machine.Pin.IN)
        self.pin.irq(self._edge, machine.Pin.IRQ_RISING, hard=True)

    def _edge(self, _pin):
        self.n += 1

    def value(self):
        return self.n


def counter(no):
    return _Counter(no)


def wdt(timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def rand_hex(nbytes):
    return "".join("%02x" % b for b in os.urandom(nbytes))


def _sta():
    return network.WLAN(network.STA_IF)  # a singleton: boot.py and main.py get the same interface


def wifi_start(ssid, password):
    wlan = _sta()
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(ssid, password)


def net_up():
    return _sta().isconnected()


def net_kick():
    """Ask the Wi-Fi driver to join again with the last credentials (it also retries by itself)."""
    wlan = _sta()
    if not wlan.isconnected():
        try:
            wlan.disconnect()
            wlan.connect()
        except OSError:
            pass


def ntp_once(host):
    """One NTP query; True when the RTC was set."""
    global _synced
    import ntptime
    ntptime.host = host
    ntptime.timeout = 2
    try:
        ntptime.settime()
    except (OSError, OverflowError):
        return False
    _synced = True
    return True


def halt(msg):
    """A bad config: say why on the console, forever, without a reset loop (no watchdog yet)."""
    while True:
        print("E", msg)
        time.sleep(30)


def reset():
    machine.reset()
