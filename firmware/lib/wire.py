# The message contract on the device side. Messages are built as lists of small bytes chunks (bytes % str
# is MicroPython's, UTF-8) that the
# MQTT client copies straight into its packet buffer: no joined string, no encode() copy, no packet
# concatenation, which matters in a 64 KiB heap. `ts` is written from integer seconds and milliseconds
# because the ESP32 port has 32-bit floats (1764460000.125 would print as 1.76446e+09).
import json
from kinds import KINDS, ERRORS

FW_VERSION = "1.0.0"
MAX_READINGS = 32  # protocol limit per message
_FORMATS = (b"%.0f", b"%.1f", b"%.2f", b"%.3f")


def topic(home, device, channel):
    return "iot/" + home + "/" + device + "/" + channel


def reading(kind, value, err):
    """One reading as bytes; a failed sensor gives "value": null with its "err" reason."""
    name, unit = KINDS[kind][0], KINDS[kind][1]
    unit = b"null" if unit is None else b'"%s"' % unit
    if err or value is None:
        return b'{"kind":"%s","value":null,"unit":%s,"err":"%s"}' % (name, unit, ERRORS[err or 7])
    if KINDS[kind][1] is None:
        text = b"true" if value else b"false"
    else:
        text = _FORMATS[KINDS[kind][4]] % value
    return b'{"kind":"%s","value":%s,"unit":%s}' % (name, text, unit)


def telemetry(out, device, boot, seq, ts_s, ts_ms, readings):
    """Fill `out` (a list, cleared here) with a telemetry message; `readings` yields (kind, value, err)."""
    out.clear()
    out.append(b'{"v":1,"device":"%s","boot":"%s","seq":%d,"ts":' % (device, boot, seq))
    out.append(b"%d.%03d" % (ts_s, ts_ms) if ts_s else b"null")  # ts_s 0: the clock was never synced
    out.append(b',"readings":[')
    first = True
    for kind, value, err in readings:
        if not first:
            out.append(b",")
        out.append(reading(kind, value, err))
        first = False
    out.append(b"]}")
    return out


def status(boot, dropped, interval_s):
    """The retained status published on every connect."""
    return b'{"online":true,"fw":"%s","boot":"%s","dropped":%d,"interval":%d}' % (
        FW_VERSION, boot, dropped, interval_s)


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
