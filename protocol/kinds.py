"""The closed list of reading kinds: unit, value type and physical range, declared once as data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a reading measures; the wire uses these exact strings."""

    TEMPERATURE = "temperature"
    HUMIDITY = "humidity"
    LIGHT = "light"
    MOTION = "motion"
    CONTACT = "contact"
    SMOKE = "smoke"
    SWITCH = "switch"
    POWER = "power"
    ENERGY = "energy"
    VOLTAGE = "voltage"
    CURRENT = "current"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one kind is carried: its unit (None for booleans), bounds and display precision."""

    unit: str | None
    boolean: bool = False
    minimum: float = 0.0
    maximum: float = 0.0
    precision: int = 0


# Ranges are physical limits of home sensors, not comfort limits: a value outside is a broken
# sensor or a forged message, never a reading (DHT22: -40..80 °C; a 32 A circuit at 250 V is 8 kW).
KINDS: dict[Kind, KindSpec] = {
    Kind.TEMPERATURE: KindSpec("°C", minimum=-50.0, maximum=120.0, precision=1),
    Kind.HUMIDITY: KindSpec("%", minimum=0.0, maximum=100.0, precision=1),
    Kind.LIGHT: KindSpec("lx", minimum=0.0, maximum=200_000.0, precision=0),
    Kind.MOTION: KindSpec(None, boolean=True),
    Kind.CONTACT: KindSpec(None, boolean=True),
    Kind.SMOKE: KindSpec(None, boolean=True),
    Kind.SWITCH: KindSpec(None, boolean=True),
    Kind.POWER: KindSpec("W", minimum=0.0, maximum=50_000.0, precision=1),
    Kind.ENERGY: KindSpec("kWh", minimum=0.0, maximum=10_000_000.0, precision=3),
    Kind.VOLTAGE: KindSpec("V", minimum=0.0, maximum=500.0, precision=1),
    Kind.CURRENT: KindSpec("A", minimum=0.0, maximum=200.0, precision=2),
}

BOOLEAN_KINDS = frozenset(k for k, s in KINDS.items() if s.boolean)
SECURITY_KINDS = frozenset({Kind.CONTACT, Kind.MOTION, Kind.SMOKE})
