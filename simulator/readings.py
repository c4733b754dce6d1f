"""From a model frame to what each device reports: switch states applied, energy counters, the home meter."""

from __future__ import annotations

import numpy as np

from protocol.config import DeviceType, HomeConfig
from protocol.kinds import Kind
from simulator.model import Frame, Ints, change_key
from simulator.signals import Bools, Floats, rng_for

Values = dict[Kind, Floats | Bools]
WH_PER_KWH = 3_600_000.0  # joules in a kWh


def initial_counters(config: HomeConfig, seed: int, home: str) -> dict[str, float]:
    """Energy counters (kWh) as found at the start: plugs have run a while, the meter for years."""
    rng = rng_for(seed, home, "counters")
    counters = {}
    for device in config.devices:
        if device.type is DeviceType.PLUG:
            counters[device.id] = round(float(rng.uniform(5.0, 400.0)), 3)
        elif device.type is DeviceType.METER:
            counters[device.id] = round(float(rng.uniform(2_000.0, 20_000.0)), 3)
    return counters


def integrate(power: Floats, step: float, start: float) -> tuple[Floats, float]:
    """Cumulative kWh at each instant (left sums, so a reading counts energy up to its instant) and the carry."""
    used = np.cumsum(power) * (step / WH_PER_KWH)
    return start + np.concatenate(([0.0], used[:-1])), start + float(used[-1])


def complete(
    config: HomeConfig, frame: Frame, switches: dict[str, Bools], counters: dict[str, float], step: float
) -> tuple[dict[str, Values], dict[str, Ints]]:
    """Every device's readings and change keys; `switches` overrides switchable devices, `counters` is advanced."""
    values: dict[str, Values] = {}
    keys: dict[str, Ints] = {}
    drawn_clean = frame.unmetered.copy()
    for device in config.devices:
        if device.type in (DeviceType.PLUG, DeviceType.LIGHT):
            default = frame.values[device.id][Kind.SWITCH] if device.type is DeviceType.LIGHT else True
            on = np.broadcast_to(switches.get(device.id, default), frame.t.shape)
            clean = frame.power_on[device.id] * on
            power = clean * frame.jitter
            drawn_clean += clean
            values[device.id] = {Kind.SWITCH: on, Kind.POWER: power}
            keys[device.id] = change_key({Kind.SWITCH: on, Kind.POWER: clean})
            if device.type is DeviceType.PLUG:
                volts = frame.voltage + _offset(device.id)
                values[device.id][Kind.ENERGY], counters[device.id] = integrate(power, step, counters[device.id])
                values[device.id][Kind.VOLTAGE] = volts
                values[device.id][Kind.CURRENT] = power / volts
        elif device.id in frame.values:
            values[device.id] = frame.values[device.id]
            keys[device.id] = frame.keys[device.id]
    drawn = drawn_clean * frame.jitter  # the meter sees the same noisy sum the plugs report, plus the rest
    for device in config.devices:
        if device.type is DeviceType.METER:
            energy, counters[device.id] = integrate(drawn, step, counters[device.id])
            values[device.id] = {Kind.POWER: drawn, Kind.ENERGY: energy, Kind.VOLTAGE: frame.voltage}
            keys[device.id] = change_key({Kind.POWER: drawn_clean})
    return values, keys


def _offset(device_id: str) -> float:
    """A plug's fixed voltage reading offset (wiring and calibration), -0.5..0.5 V."""
    return (sum(device_id.encode()) % 101) / 100.0 - 0.5
