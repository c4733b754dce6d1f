# config.json is checked once at start; an error names the file and the key, e.g.
# "config.json: mqtt.port must be 1..65535, got 0". firmware/config.example.json documents every key.
import json

ROLES = ("climate", "security", "plug")
DEFAULTS = {
    "interval_s": 5, "resend_s": 10, "outbox_readings": 200, "watchdog_s": 30, "loop_ms": 20,
    "ntp_host": "pool.ntp.org", "wifi": {"ssid": "", "password": ""},
}


class ConfigError(ValueError):
    pass


def _id_ok(s):
    if not isinstance(s, str) or not 1 <= len(s) <= 40:
        return False
    for c in s:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-"):
            return False
    return True


def _get(cfg, path):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class _Checker:
    def __init__(self, cfg, name):
        self.cfg = cfg
        self.name = name

    def fail(self, key, want, got):
        raise ConfigError("%s: %s must be %s, got %r" % (self.name, key, want, got))

    def num(self, key, lo, hi, required=True):
        v = _get(self.cfg, key)
        if v is None and not required:
            return None
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
            self.fail(key, "a number in %s..%s" % (lo, hi), v)
        return v

    def pin(self, key, required=True):
        return self.num(key, 0, 48, required)  # ESP32 GPIO 0..39; S3 up to 48


def parse_broker(url):
    """(host, port) from mqtt://host[:port]; TLS (mqtts) is not supported by this firmware."""
    if not isinstance(url, str) or not url.startswith("mqtt://"):
        return None
    rest = url[7:].rstrip("/")
    host, _, port = rest.partition(":")
    try:
        port = int(port) if port else 1883
    except ValueError:
        return None
    return (host, port) if host and 0 < port < 65536 else None


def check(cfg, name="config.json"):
    """Fill defaults and validate; returns the config dict or raises ConfigError naming the key."""
    if not isinstance(cfg, dict):
        raise ConfigError("%s: top level must be an object" % name)
    cfg.pop("sim", None)  # the unix-port fake HAL's section; never needed by the node itself
    for key in DEFAULTS:
        cfg.setdefault(key, DEFAULTS[key])
    c = _Checker(cfg, name)
    for key in ("home", "device"):
        if not _id_ok(cfg.get(key)):
            c.fail(key, "1-40 chars of a-z 0-9 -", cfg.get(key))
    mqtt = cfg.get("mqtt")
    broker = parse_broker(mqtt.get("broker")) if isinstance(mqtt, dict) else None
    if broker is None:
        c.fail("mqtt.broker", "a URL like mqtt://192.168.1.10:1883", _get(cfg, "mqtt.broker"))
    mqtt["host"], mqtt["port"] = broker
    c.num("mqtt.keepalive_s", 5, 3600, required=False)
    if cfg.get("role") not in ROLES:
        c.fail("role", " | ".join(ROLES), cfg.get("role"))
    c.num("interval_s", 1, 3600)
    c.num("resend_s", 1, 3600)
    c.num("outbox_readings", 10, 2000)
    c.num("watchdog_s", 10, 600)  # >= 2 socket timeouts of 5 s, so a slow connect never trips it
    c.num("loop_ms", 1, 1000)
    _check_role(c, cfg["role"])
    return cfg


def _check_role(c, role):
    if role == "climate":
        c.pin("climate.dht_pin")
        c.pin("climate.ldr_pin", required=False)
    elif role == "security":
        if c.pin("security.pir_pin", False) is None and c.pin("security.contact_pin", False) is None:
            c.fail("security.pir_pin", "set (or security.contact_pin)", None)
        c.num("security.pir_hold_s", 1, 3600, required=False)
        c.num("security.contact_open_level", 0, 1, required=False)
        c.pin("security.buzzer_pin", required=False)
    else:
        for key in ("relay_pin", "cf_pin", "cf1_pin", "sel_pin"):
            c.pin("plug." + key)
        for key in ("w_per_hz", "v_per_hz", "a_per_hz"):
            c.num("plug." + key, 1e-6, 1e4)


def load(path):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError:
        raise ConfigError("%s: cannot be read (copy config.example.json and edit it)" % path)
    except ValueError as exc:
        raise ConfigError("%s: not valid JSON (%s)" % (path, exc))
    return check(cfg, path)


def load_or_halt(path):
    """main.py's entry: the checked config, or a halt with one line naming the file and key."""
    try:
        return load(path)
    except ConfigError as exc:
        import hal
        hal.halt(str(exc))
