# The fake HAL for MicroPython's unix port: the same functions as lib/hal.py, driven by the "sim" section
# of config.json (the board ignores it). Virtual time runs `speed` times faster than the wall clock
# (ticks only: sleep_ms sleeps real milliseconds, ts stays wall-clock epoch), and a timeline moves the
# inputs: {"t": 3, "pin": 14, "value": 1}, {"t": 4, "power": 2000}, {"t": 5, "adc": 34, "value": 900},
# {"t": 6, "dht": "timeout"}, {"t": 7, "dht": {"temperature": 22.5, "humidity": 41}}.
# {"toggle": [pin, every_ms, 0]} flips an input for ever (benchmarks).
# {"power_ramp": W} raises the load by W every virtual second (wrapping at 3 kW) without an event list.
# Output pins are printed ("P 12 1") so a test sees the relay move; {"run_for_s": N} ends the run.
# Kept small on purpose: it shares the 64 KiB heap with the firmware it stands under.
import json
import os
import sys
import time

IRQ_RISING = 1
IRQ_FALLING = 2
ticks_diff = time.ticks_diff
ticks_add = time.ticks_add
_t0 = time.ticks_ms()
_s = {"speed": 1, "events": [], "adc": {}, "pins": {}, "ntp": True}  # the sim section
_dht = {"temperature": 21.0, "humidity": 45.0, "fail": None}
_mains = {"power": 0.0, "volts": 230.0}
_pins = {}
_pulses = {}  # counter pin -> pulses so far (float)
_at = [0.0]  # virtual time the pulse counts were last brought up to date
_wdt = [None, 0]  # timeout, last feed


def ticks_ms():
    return ticks_add(_t0, int(ticks_diff(time.ticks_ms(), _t0) * _s["speed"]))


def now_s():
    return ticks_diff(ticks_ms(), _t0) / 1000


def sleep_ms(ms):
    time.sleep_ms(ms)
    t = now_s()
    while _s["events"] and _s["events"][0]["t"] <= t:
        ev = _s["events"].pop(0)
        _settle()
        if "pin" in ev:
            _drive(ev["pin"], ev["value"])
        elif "adc" in ev:
            _s["adc"][str(ev["adc"])] = ev["value"]
        elif "dht" in ev:
            _dht["fail"] = None if isinstance(ev["dht"], dict) else ev["dht"]
            if _dht["fail"] is None:
                _dht.update(ev["dht"])
        else:
            _mains.update(ev)
    if "toggle" in _s and t * 1000 >= _s["toggle"][2]:  # [pin, every_ms, next_ms]: a door flapping, for benches
        _s["toggle"][2] = t * 1000 + _s["toggle"][1]
        _drive(_s["toggle"][0], 1 - _pin(_s["toggle"][0]).v)
    if _wdt[0] and ticks_diff(ticks_ms(), _wdt[1]) > _wdt[0]:
        print("E watchdog: loop stalled for more than %d ms, the board would reset" % _wdt[0])
        sys.exit(3)
    if t >= _s.get("run_for_s", 1e9):
        print("X run_for_s reached")
        sys.exit(0)


def epoch_ms():
    return time.time_ns() // 1000000 if _s["ntp"] else None


# Set up at import (run.py has already moved into the work folder): top-level code is freed after
# import, a setup() function would stay in the heap for nothing.
with open("config.json") as _f:
    _s.update(json.load(_f).get("sim", {}))
_s["events"].sort(key=lambda e: e["t"])
_dht.update(_s.get("dht", {}))
_mains.update(_s.get("mains", {}))
if "meter" in _s:
    _pulses[_s["meter"]["cf"]] = _pulses[_s["meter"]["cf1"]] = 0.0


def _settle():
    """Bring the BL0937 pulse counts up to now at the rates of the current load and SEL pin."""
    m = _s.get("meter")
    t = now_s()
    if m:
        watts, volts = float(_mains["power"]), float(_mains["volts"])
        current_mode = _pin(m["sel"]).v == m.get("sel_current", 1)
        _pulses[m["cf"]] += watts / m["w_per_hz"] * (t - _at[0])
        _pulses[m["cf1"]] += (watts / volts / m["a_per_hz"] if current_mode else volts / m["v_per_hz"]) * (t - _at[0])
    _at[0] = t
    if "power_ramp" in _s:  # W more every virtual second, wrapping at 3 kW: always something to report
        _mains["power"] = _s["power_ramp"] * int(t) % 3000


class Pin:
    """A pin, and also the ADC, PWM, DHT22, pulse counter and watchdog that sit on one (fewer classes,
    less heap)."""

    def __init__(self, no):
        self.no = no
        self.v = _s["pins"].get(str(no), 0)
        self.handler = None
        self.trigger = 0

    def value(self, v=None):
        if v is None:
            if self.no in _pulses:
                _settle()
                return int(_pulses[self.no])
            return self.v
        _settle()  # the SEL pin changes what CF1 counts
        self.v = 1 if v else 0
        print("P", self.no, self.v)

    def irq(self, handler, trigger, hard=False):
        self.handler, self.trigger = handler, trigger

    def read_u16(self):
        return _s["adc"].get(str(self.no), 0)

    def duty_u16(self, d):
        print("B", self.no, d)

    def measure(self):
        if _dht["fail"] == "timeout":
            raise OSError(110)  # ETIMEDOUT, as dht_readinto raises
        if _dht["fail"]:
            raise Exception("checksum error")

    def temperature(self):
        return _dht["temperature"]

    def humidity(self):
        return _dht["humidity"]

    def feed(self):
        _wdt[1] = ticks_ms()


def _drive(no, v):
    """An input changes from outside: fire the interrupt as the board would."""
    p = _pin(no)
    old, p.v = p.v, 1 if v else 0
    edge = IRQ_RISING if p.v > old else IRQ_FALLING if p.v < old else 0
    if p.handler and edge & p.trigger:
        p.handler(p)


def _pin(no, *_):
    if no not in _pins:
        _pins[no] = Pin(no)
    return _pins[no]


def pin_out(no, value=0):
    _pin(no).value(value)
    return _pins[no]


pin_in = adc = counter = dht22 = pwm = _pin


def wdt(timeout_ms):
    _wdt[0], _wdt[1] = timeout_ms, ticks_ms()
    return Pin(-1)


def rand_hex(nbytes):
    return "".join("%02x" % b for b in os.urandom(nbytes))


def net_up():
    return True  # the unix port has the host's network


def ntp_once(host):
    return _s["ntp"]


def halt(msg):
    print("E", msg)
    sys.exit(78)  # EX_CONFIG, as the CPython services exit on a bad config


def reset():
    sys.exit(3)


def wifi_start(*_):
    pass


net_kick = wifi_start
