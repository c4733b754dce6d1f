"""Power profiles of the appliances behind smart plugs, picked by the plug's appliance name or id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.schedule import MINUTE, DayPlan, gather
from simulator.signals import Floats, covered, rng_for, steps

# Programs as (fraction of the run, share of rated power or fixed watts when > 1.5) phases: fill, heat, wash...
WASHER = ((0.03, 15.0), (0.15, 0.95), (0.57, 180.0), (0.05, 20.0), (0.10, 450.0), (0.10, 5.0))
DISHWASHER = ((0.05, 40.0), (0.15, 0.95), (0.30, 90.0), (0.10, 0.95), (0.40, 10.0))
STANDBY = {"fridge": 1.5, "kettle": 0.0, "washer": 1.0, "dishwasher": 0.8, "tv": 0.5, "pc": 2.0, "heater": 0.0,
           "generic": 1.0}
KEYWORDS = (("fridge", "fridge"), ("freezer", "fridge"), ("kettle", "kettle"), ("dish", "dishwasher"),
            ("wash", "washer"), ("tv", "tv"), ("television", "tv"), ("pc", "pc"), ("computer", "pc"),
            ("heater", "heater"))


@dataclass(frozen=True, slots=True)
class Context:
    """What a profile may look at: the grid, the day plans, the weather and where the plug is."""

    t: Floats
    plans: list[DayPlan]
    seed: int
    home: str
    device: str
    role: str
    rated: float
    outdoor_mean: Floats


def profile_of(appliance: str | None, device_id: str) -> str:
    """The profile name for a plug: the first keyword found in its appliance name, else in its id."""
    for text in (appliance, device_id):
        words = (text or "").lower().replace("-", " ").replace("_", " ")
        for key, profile in KEYWORDS:
            if key in words.split() or (len(key) > 3 and key in words):
                return profile
    return "generic"


def demand(profile: str, ctx: Context) -> Floats:
    """Watts the appliance draws at each instant when its plug is switched on."""
    active = PROFILES[profile](ctx)
    return np.where(active > 0, active, STANDBY[profile])


def _fridge(ctx: Context) -> Floats:
    """Compressor cycles: about 16 min on, 25 min off (a duty of ~40 %), drawing ~60 % of rated."""
    starts, ends = [], []
    for plan in ctx.plans:
        rng = rng_for(ctx.seed, ctx.home, ctx.device, "fridge", plan.date.toordinal())
        on = rng.uniform(13, 19, 48) * MINUTE
        off = rng.uniform(20, 30, 48) * MINUTE
        begin = plan.midnight - rng.uniform(0, 40 * MINUTE) + np.concatenate(([0.0], np.cumsum(on + off)[:-1]))
        keep = begin < plan.midnight + 24 * 3600
        starts.append(begin[keep])
        ends.append((begin + on)[keep])
    start, end = np.concatenate(starts), np.concatenate(ends)
    return steps(ctx.t, start, end, np.full(len(start), 0.6 * ctx.rated))


def _runs(ctx: Context, name: str, share: float) -> Floats:
    """A flat draw of `share` x rated during each interval called `name`."""
    starts, ends = gather(ctx.plans, name)
    return steps(ctx.t, starts, ends, np.full(len(starts), share * ctx.rated))


def _program(ctx: Context, name: str, phases: tuple[tuple[float, float], ...]) -> Floats:
    """A machine program: each run of `name` split into phases by fraction, each at its own level."""
    starts, ends = gather(ctx.plans, name)
    fractions = np.cumsum([0.0] + [f for f, _ in phases])
    levels = np.array([lv * ctx.rated if lv <= 1.5 else lv for _, lv in phases])
    span = ends - starts
    phase_start = (starts[:, None] + span[:, None] * fractions[None, :-1]).ravel()
    phase_end = (starts[:, None] + span[:, None] * fractions[None, 1:]).ravel()
    return steps(ctx.t, phase_start, phase_end, np.tile(levels, len(starts)))


def _heater(ctx: Context) -> Floats:
    """The energy hog: thermostat cycles at full power whenever someone is up at home in cold weather."""
    home = covered(ctx.t, *gather(ctx.plans, "home_awake"))
    duty = np.clip((16.0 - ctx.outdoor_mean) / 14.0, 0.0, 0.9)
    phase = rng_for(ctx.seed, ctx.home, ctx.device, "heater").uniform()
    cycle = np.mod(ctx.t / (20 * MINUTE) + phase, 1.0)
    return np.where(home & (cycle < duty) & (duty > 0.05), ctx.rated, 0.0)


def _generic(ctx: Context) -> Floats:
    """Anything else: half its rated power while its room is in use."""
    return _runs(ctx, f"room:{ctx.role}", 0.5)


PROFILES: dict[str, Callable[[Context], Floats]] = {
    "fridge": _fridge,
    "kettle": lambda ctx: _runs(ctx, "kettle", 0.98),
    "washer": lambda ctx: _program(ctx, "washer", WASHER),
    "dishwasher": lambda ctx: _program(ctx, "dishwasher", DISHWASHER),
    "tv": lambda ctx: _runs(ctx, "tv", 0.75),
    "pc": lambda ctx: _runs(ctx, "pc", 0.4),
    "heater": _heater,
    "generic": _generic,
}
