# Runs first at power-up: Wi-Fi (retries with backoff) and NTP; main.py runs the node afterwards.
import sys
import netup

netup.boot("config.json")
for _name in ("netup", "config"):  # needed once: give their heap back before main.py
    sys.modules.pop(_name, None)
del netup
