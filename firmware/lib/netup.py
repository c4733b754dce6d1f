# Network bring-up for boot.py: Wi-Fi with retries and backoff, then a first NTP sync. boot.py drops
# this module (and config) from memory afterwards; the node keeps its own clock policy (node.Clock).
import random
import hal
import config
from log import log

WIFI_TRIES = 6
WIFI_WAIT_MS = 10000  # a WPA2 join with DHCP usually takes 2-5 s; 10 s covers a busy access point


def wifi(ssid, password):
    """Join Wi-Fi, retrying with exponential backoff and jitter; False if every try failed."""
    delay = 1000
    hal.wifi_start(ssid, password)
    for attempt in range(WIFI_TRIES):
        start = hal.ticks_ms()
        while hal.ticks_diff(hal.ticks_ms(), start) < WIFI_WAIT_MS:
            if hal.net_up():
                log("I", "wifi up")
                return True
            hal.sleep_ms(100)
        log("W", "wifi: no connection to %r (try %d of %d)" % (ssid, attempt + 1, WIFI_TRIES))
        hal.sleep_ms(delay + random.getrandbits(10))
        delay = min(delay * 2, 30000)
        hal.net_kick()
    return False


def boot(path):
    """What boot.py does: Wi-Fi, then the clock. A bad config is left for main.py to report."""
    try:
        cfg = config.load(path)
    except config.ConfigError:
        return
    if cfg["wifi"]["ssid"]:
        wifi(cfg["wifi"]["ssid"], cfg["wifi"]["password"])
    if hal.net_up():
        log("I" if hal.ntp_once(cfg["ntp_host"]) else "W", "ntp at boot")
