# The message contract on the device side: JSON built by hand and parsed with the json module.
# Built by hand because the ESP32 port has 32-bit floats: json.dumps(1764460000.125) would print
# 1.76446e+09, so `ts` is written from integer seconds and milliseconds instead.
import json
from kinds import KINDS, ERRORS

FW_VERSION = "1.0.0"
MAX_READINGS = 32  # protocol limit per message


def topic(home, device, channel):
    return "iot/" + home + "/" + device + "/" + channel


_FORMATS = ("%.0f", "%.1f", "%.2f", "%.3f")


def _value(kind, value, err):
    spec = KINDS[kind]
    if err or value is None:
        return "null"
    if spec[1] is None:
        return "true" if value else "false"
    return _FORMATS[spec[4]] % value


def reading(kind, value, err):
    """One reading as JSON text; a failed sensor gives "value": null with its "err" reason."""
    spec = KINDS[kind]
    unit = "null" if spec[1] is None else '"' + spec[1] + '"'
    text = '{"kind":"' + spec[0] + '","value":' + _value(kind, value, err) + ',"unit":' + unit
    if err or value is None:
        text += ',"err":"' + ERRORS[err or 7] + '"'
    return text + "}"


def ts_text(ts_s, ts_ms):
    """Epoch seconds with milliseconds, or null when the clock was never synced (ts_s == 0)."""
    return "%d.%03d" % (ts_s, ts_ms) if ts_s else "null"


def telemetry(device, boot, seq, ts_s, ts_ms, readings):
    """A telemetry message as UTF-8 bytes; `readings` yields (kind, value, err) triples."""
    parts = ['{"v":1,"device":"', device, '","boot":"', boot, '","seq":', str(seq), ',"ts":',
             ts_text(ts_s, ts_ms), ',"readings":[']
    first = True
    for kind, value, err in readings:
        if not first:
            parts.append(",")
        parts.append(reading(kind, value, err))
        first = False
    parts.append("]}")
    return "".join(parts).encode()


def status(boot, dropped, interval_s):
    """The retained status published on every connect."""
    return ('{"online":true,"fw":"%s","boot":"%s","dropped":%d,"interval":%d}'
            % (FW_VERSION, boot, dropped, interval_s)).encode()


LWT = b'{"online":false}'


def parse_ack(payload):
    """(boot, seq) from the gateway's watermark, or None when it is not one."""
    try:
        msg = json.loads(payload)
        boot, seq = msg["boot"], msg["seq"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(boot, str) or not isinstance(seq, int):
        return None
    return boot, seq


def parse_command(payload):
    """The requested relay state from a `set` command ({"switch": true}), or None when absent/invalid."""
    try:
        msg = json.loads(payload)
        value = msg.get("switch")
    except (ValueError, AttributeError):
        return None
    return value if value is True or value is False else None
