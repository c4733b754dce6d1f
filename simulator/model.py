"""The home model: every device's readings on a time grid, the same code for live and backfill."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from protocol.config import Device, DeviceType, HomeConfig, Opening
from protocol.kinds import Kind
from simulator import climate
from simulator.appliances import Context, demand, profile_of
from simulator.schedule import DayPlan, gather, local_dates, plan_day
from simulator.signals import Bools, Floats, covered, poisson_times, pulses, rng_for

Ints = npt.NDArray[np.int64]
ROLES = (("living", "living"), ("lounge", "living"), ("kitchen", "kitchen"), ("bed", "bedroom"),
         ("office", "office"), ("study", "office"), ("bath", "bathroom"), ("hall", "hallway"),
         ("entr", "hallway"), ("utility", "utility"), ("laundry", "utility"))
PIR_HOLD = 30.0  # s a PIR keeps reporting motion after the last movement
DARK_LUX = 60.0  # lx of daylight in a room below which people switch a lamp on
INTRUSION = 600.0  # s an injected intruder stays


# How far a reading must move before it is published ahead of the heartbeat; power and light on a log scale.
STEP = {Kind.TEMPERATURE: 0.2, Kind.HUMIDITY: 1.0, Kind.LIGHT: 0.25, Kind.POWER: 0.15, Kind.VOLTAGE: 5.0}


def change_key(values: dict[Kind, Floats | Bools]) -> Ints:
    """An integer per instant that changes when any reading changes by more than its STEP (booleans: any flip)."""
    key = np.zeros(len(next(iter(values.values()))), dtype=np.int64)
    for kind, arr in values.items():
        step = STEP.get(kind)
        if step is None:
            part = np.asarray(arr, dtype=np.int64)
        elif kind in (Kind.LIGHT, Kind.POWER):
            part = np.floor(np.log1p(np.asarray(arr, dtype=float)) / step).astype(np.int64)
        else:
            part = np.floor(np.asarray(arr, dtype=float) / step).astype(np.int64)
        key = key * 1_000_003 + part
    return key


def role_of(room_id: str, name: str) -> str:
    """What a room is used for, from keywords in its id or name (unknown rooms are `other`)."""
    text = f"{room_id} {name}".lower()
    return next((role for key, role in ROLES if key in text), "other")


@dataclass(frozen=True, slots=True)
class Frame:
    """Readings of every device of one home on a grid, before switch commands and energy counters.

    `power_on` is what a switchable device draws when on (noise-free), `jitter` its measurement noise factor;
    `keys` change when a reading changes enough to be published (computed from noise-free values).
    """

    t: Floats
    values: dict[str, dict[Kind, Floats | Bools]]
    keys: dict[str, Ints]
    power_on: dict[str, Floats]
    jitter: Floats
    unmetered: Floats
    voltage: Floats

    def at(self, index: int) -> Frame:
        """The one-instant frame at `index` (what live mode reads each tick)."""
        s = slice(index, index + 1)
        return Frame(
            self.t[s], {d: {k: v[s] for k, v in kv.items()} for d, kv in self.values.items()},
            {d: k[s] for d, k in self.keys.items()}, {d: p[s] for d, p in self.power_on.items()},
            self.jitter[s], self.unmetered[s], self.voltage[s],
        )


@dataclass
class HomeModel:
    """A seeded, deterministic model of one configured home; `frame(t)` evaluates it at any instants."""

    config: HomeConfig
    seed: int
    home: str = ""
    intrusions: list[float] = field(default_factory=list)
    base_load_w: float = 90.0

    def __post_init__(self) -> None:
        self.home = self.home or self.config.home.id
        rooms = {r.id: role_of(r.id, r.name) for r in self.config.rooms}
        self.roles = {d.id: rooms[d.room] for d in self.config.devices}
        self.lit_roles = {self.roles[d.id] for d in self.config.devices if d.type is DeviceType.LIGHT}

    def plans(self, start: float, end: float) -> list[DayPlan]:
        """The day plans covering [start, end] and the warm-up before it."""
        tz = self.config.home.timezone
        return [plan_day(self.seed, self.home, tz, d) for d in local_dates(start - climate.WARMUP, end, tz)]

    def frame(self, t: Floats) -> Frame:
        """Every device's readings (before switch overrides and energy counters) at the instants `t`."""
        plans = self.plans(float(t[0]), float(t[-1]))
        sky = climate.weather(t, plans, self.seed, self.home, self.config.home.timezone)
        rng = rng_for(self.seed, self.home, "noise", int(t[0]))
        motion = {d.id: self._motion(t, d, plans) for d in self.config.devices if d.type is DeviceType.MOTION}
        lights = self._lights(t, plans, sky.lux, motion)
        values: dict[str, dict[Kind, Floats | Bools]] = {}
        keys: dict[str, Ints] = {}
        power_on: dict[str, Floats] = {}
        for device in self.config.devices:
            if device.type is DeviceType.PLUG:
                power_on[device.id] = self._plug(t, device, plans, sky.daily_mean)
            elif device.type is DeviceType.LIGHT:
                power_on[device.id] = np.full(len(t), device.rated_power_w or 10.0)
                values[device.id] = {Kind.SWITCH: lights[self.roles[device.id]]}
            elif device.type is DeviceType.MOTION:
                values[device.id] = {Kind.MOTION: motion[device.id]}
            elif device.type is DeviceType.CONTACT:
                values[device.id] = {Kind.CONTACT: self._contact(t, device, plans)}
            elif device.type is DeviceType.SMOKE:
                values[device.id] = {Kind.SMOKE: self._smoke(t, device, plans)}
            if device.id in values:
                keys[device.id] = change_key(values[device.id])
        heater = self._heater_heat(t, power_on)
        for device in self.config.devices:
            if device.type is DeviceType.CLIMATE:
                values[device.id], keys[device.id] = self._climate(t, device, plans, lights, heater, rng=rng)
        unmetered = self._unmetered(t, plans, lights)
        voltage = 230.0 + 2.5 * np.sin(2 * np.pi * t / 86400.0) + 0.4 * rng.normal(size=len(t))
        jitter = 1.0 + 0.02 * rng.normal(size=len(t)).clip(-3, 3)
        return Frame(t, values, keys, power_on, jitter, unmetered, voltage)

    def _occupied(self, t: Floats, role: str, plans: list[DayPlan]) -> Bools:
        return covered(t, *gather(plans, f"room:{role}"))

    def _motion(self, t: Floats, device: Device, plans: list[DayPlan]) -> Bools:
        """PIR pulses while its room is in use (hallways also see passers-by); never while the home is away."""
        rng = rng_for(self.seed, self.home, device.id, "motion", int(t[0]))
        role = self.roles[device.id]
        triggers = [poisson_times(rng, *gather(plans, f"room:{role}"), 1 / 40)]
        if role == "hallway":
            triggers.append(poisson_times(rng, *gather(plans, "home_awake"), 1 / 900))
            triggers.append(poisson_times(rng, *gather(plans, "night"), 1 / 60))
            front, _ = gather(plans, "front")
            triggers.append(np.concatenate([front - 40.0, front + 15.0]))
        seen = pulses(t, np.concatenate(triggers), PIR_HOLD) & ~covered(t, *gather(plans, "away"))
        for start in self.intrusions:
            walk = poisson_times(rng, np.array([start + 10.0]), np.array([start + INTRUSION]), 1 / 20)
            seen |= pulses(t, walk, PIR_HOLD)
        return seen

    def _lights(self, t: Floats, plans: list[DayPlan], outdoor: Floats, motion: dict[str, Bools]) -> dict[str, Bools]:
        """Per room role: a lamp is on while the room is in use and daylight is too weak."""
        lamps: dict[str, Bools] = {}
        for role in {*self.roles.values()}:
            dark = outdoor * climate.WINDOW_FACTOR.get(role, 0.01) < DARK_LUX
            if role == "hallway":
                seen = [m for d, m in motion.items() if self.roles[d] == "hallway"]
                used = np.logical_or.reduce(seen) if seen else self._occupied(t, role, plans)
            else:
                used = self._occupied(t, role, plans)
            lamps[role] = dark & used
        return lamps

    def _door(self, device: Device) -> str:
        """Which door a contact guards: `front` or `back` (from its id or name; the first door is the front)."""
        text = f"{device.id} {device.name or ''}".lower()
        if "back" in text or "garden" in text:
            return "back"
        if "front" in text:
            return "front"
        doors = [d.id for d in self.config.devices if d.opening is Opening.DOOR]
        return "front" if doors and doors[0] == device.id else "back"

    def _contact(self, t: Floats, device: Device, plans: list[DayPlan]) -> Bools:
        """Open (true) during the door's or window's openings; an intruder comes in by the back door."""
        if device.opening is Opening.WINDOW:
            return covered(t, *gather(plans, f"window:{self.roles[device.id]}"))
        door = self._door(device)
        opened = covered(t, *gather(plans, door))
        if door == "back" and self.intrusions:
            starts = np.asarray(self.intrusions)
            opened |= covered(t, starts, starts + 20.0)
        return opened

    def _smoke(self, t: Floats, device: Device, plans: list[DayPlan]) -> Bools:
        """Rare tests of every alarm, and the month's real smoke in the kitchen (everywhere without one there)."""
        alarm = covered(t, *gather(plans, "smoke_test"))
        kitchen = [d for d in self.config.devices if d.type is DeviceType.SMOKE and self.roles[d.id] == "kitchen"]
        if not kitchen or self.roles[device.id] == "kitchen":
            alarm |= covered(t, *gather(plans, "smoke_real"))
        return alarm

    def _plug(self, t: Floats, device: Device, plans: list[DayPlan], outdoor: Floats) -> Floats:
        """Watts behind a plug when it is switched on (noise-free)."""
        profile = profile_of(device.appliance, device.id)
        rated = device.rated_power_w or 100.0
        ctx = Context(t, plans, self.seed, self.home, device.id, self.roles[device.id], rated, outdoor)
        return demand(profile, ctx)

    def _heater_heat(self, t: Floats, power_on: dict[str, Floats]) -> dict[str, Floats]:
        """Extra warmth per room from space heaters (a 2 kW heater warms a small room by ~3 °C)."""
        heat: dict[str, Floats] = {}
        for device in self.config.devices:
            if device.type is DeviceType.PLUG and profile_of(device.appliance, device.id) == "heater":
                role = self.roles[device.id]
                heat[role] = heat.get(role, np.zeros(len(t))) + 1.5e-3 * power_on[device.id]
        return heat

    def _climate(
        self, t: Floats, device: Device, plans: list[DayPlan], lights: dict[str, Bools], heat: dict[str, Floats], *,
        rng: np.random.Generator,
    ) -> tuple[dict[Kind, Floats | Bools], Ints]:
        """Temperature, humidity and light of the sensor's room with sensor noise, and their change key."""
        role = self.roles[device.id]
        lamp = lights.get(role, np.zeros(len(t), dtype=bool))
        tz = self.config.home.timezone
        temp, hum, lux = climate.room_climate(
            t, role, plans, heat.get(role), lamp, seed=self.seed, home=self.home, timezone=tz)
        clean: dict[Kind, Floats | Bools] = {
            Kind.TEMPERATURE: temp, Kind.HUMIDITY: hum, Kind.LIGHT: lux}
        noise = rng.normal(0.0, 1.0, (3, len(t)))
        noisy: dict[Kind, Floats | Bools] = {
            Kind.TEMPERATURE: temp + 0.05 * noise[0],
            Kind.HUMIDITY: np.clip(hum + 0.3 * noise[1], 0.0, 100.0),
            Kind.LIGHT: np.clip(lux * (1.0 + 0.02 * noise[2]), 0.0, None),
        }
        return noisy, change_key(clean)

    def _unmetered(self, t: Floats, plans: list[DayPlan], lights: dict[str, Bools]) -> Floats:
        """What the meter sees besides plugs and smart lights: base load, the stove, other lamps."""
        load = self.base_load_w + 2000.0 * covered(t, *gather(plans, "cook"))
        for role, lamp in lights.items():
            if role not in self.lit_roles:
                load = load + 10.0 * lamp
        return load
