# The closed list of reading kinds, mirrored from protocol/kinds.py (tests/firmware keeps the two in step).
# Firmware shares no code with the CPython side, so the table is repeated here as data, once.
from micropython import const

TEMPERATURE = const(0)
HUMIDITY = const(1)
LIGHT = const(2)
MOTION = const(3)
CONTACT = const(4)
SMOKE = const(5)
SWITCH = const(6)
POWER = const(7)
ENERGY = const(8)
VOLTAGE = const(9)
CURRENT = const(10)

# (wire name, unit or None for booleans, minimum, maximum, decimals, deadband absolute, deadband relative)
# Whole numbers are written as ints on purpose: small ints cost no heap, floats do.
# A new value is "a change" when it moves more than max(absolute, relative * |old|) from the last one sent.
KINDS = (
    ("temperature", "\u00b0C", -50, 120, 1, 0.2, 0),  # DHT22 resolution is 0.1 degC, noise ~0.1
    ("humidity", "%", 0, 100, 1, 1, 0),  # DHT22 accuracy is +-2 %RH: smaller moves are noise
    ("light", "lx", 0, 200000, 0, 5, 0.2),  # an LDR is a rough meter; 20 % is a visible change
    ("motion", None, 0, 0, 0, 0, 0),
    ("contact", None, 0, 0, 0, 0, 0),
    ("smoke", None, 0, 0, 0, 0, 0),
    ("switch", None, 0, 0, 0, 0, 0),
    ("power", "W", 0, 50000, 1, 5, 0.05),  # a kettle switching on is 2000 W; 5 W is a phone charger
    ("energy", "kWh", 0, 10000000, 3, 0.01, 0),  # 10 Wh steps: a heartbeat carries the rest
    ("voltage", "V", 0, 500, 1, 2, 0),  # mains wanders by a volt or two all day
    ("current", "A", 0, 200, 2, 0.05, 0.05),
)

# Why a reading has no value; index 0 means "no error". Codes are stored in one byte in the outbox.
ERRORS = ("", "timeout", "checksum", "out_of_range", "not_finite", "saturated", "no_signal", "failed")
ERR_TIMEOUT = const(1)
ERR_CHECKSUM = const(2)
ERR_RANGE = const(3)
ERR_NOT_FINITE = const(4)
ERR_SATURATED = const(5)
ERR_NO_SIGNAL = const(6)
ERR_FAILED = const(7)


def check(kind, value):
    """Return (value, err): a value outside the physical range becomes no value with a reason."""
    if value is None or KINDS[kind][1] is None:
        return value, 0
    if value != value or value in (float("inf"), float("-inf")):
        return None, ERR_NOT_FINITE
    spec = KINDS[kind]
    if value < spec[2] or value > spec[3]:
        return None, ERR_RANGE
    return value, 0


def changed(kind, old, new):
    """True when `new` differs enough from `old` (each a (value, err) pair) to be worth a message."""
    if old is None or old[1] != new[1]:
        return True
    a, b = old[0], new[0]
    if a is None or b is None or KINDS[kind][1] is None:
        return a != b
    spec = KINDS[kind]
    band = spec[5]
    rel = spec[6] * abs(a)
    return abs(b - a) > (rel if rel > band else band)
