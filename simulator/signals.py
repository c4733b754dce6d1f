"""Vectorised building blocks of the model: interval masks, step functions, pulse trains and a seeded RNG."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Floats = npt.NDArray[np.floating[Any]]
Bools = npt.NDArray[np.bool_]


def rng_for(seed: int, *parts: str | int) -> np.random.Generator:
    """A generator fixed by the seed and a path of names/numbers, so any slice of time replays the same."""
    words = [seed & 0xFFFFFFFF] + [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    return np.random.default_rng(words)


def covered(t: Floats, starts: Floats, ends: Floats) -> Bools:
    """True where `t` lies inside any [start, end) interval; intervals may overlap."""
    if len(starts) == 0:
        return np.zeros(len(t), dtype=bool)
    open_ = np.searchsorted(np.sort(starts), t, side="right")
    closed = np.searchsorted(np.sort(ends), t, side="right")
    return (open_ - closed) > 0


def steps(t: Floats, starts: Floats, ends: Floats, levels: Floats) -> Floats:
    """The sum of `levels` of every [start, end) interval covering each `t` (a piecewise-constant signal)."""
    if len(starts) == 0:
        return np.zeros(len(t))
    up = np.argsort(starts)
    down = np.argsort(ends)
    rise = np.concatenate(([0.0], np.cumsum(levels[up])))
    fall = np.concatenate(([0.0], np.cumsum(levels[down])))
    return rise[np.searchsorted(starts[up], t, side="right")] - fall[np.searchsorted(ends[down], t, side="right")]


def pulses(t: Floats, triggers: Floats, hold: float) -> Bools:
    """True for `hold` seconds after each trigger (a PIR's hold time)."""
    if len(triggers) == 0:
        return np.zeros(len(t), dtype=bool)
    ordered = np.sort(triggers)
    last = np.searchsorted(ordered, t, side="right") - 1
    return (last >= 0) & (t - ordered[np.maximum(last, 0)] < hold)


def poisson_times(rng: np.random.Generator, starts: Floats, ends: Floats, rate: float) -> Floats:
    """Random event times at `rate` per second inside each [start, end) interval."""
    spans = np.maximum(ends - starts, 0.0)
    counts = rng.poisson(spans * rate)
    owner = np.repeat(np.arange(len(starts)), counts)
    return np.sort(starts[owner] + rng.random(len(owner)) * spans[owner])


def lag(t: Floats, target_t: Floats, target: Floats, tau: float) -> Floats:
    """A first-order lag (time constant `tau` s) of a target sampled on a regular grid, read at `t`."""
    step = float(target_t[1] - target_t[0]) if len(target_t) > 1 else 60.0
    alpha = 1.0 - float(np.exp(-step / tau))
    smooth = pd.Series(target).ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=float)
    return np.asarray(np.interp(t, target_t, smooth), dtype=np.float64)
