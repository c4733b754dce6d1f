"""The simulator's own settings: the `[simulator]` section of home.toml and the `--faults` rates."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

import msgspec

from protocol.config import HomeConfig, section
from protocol.errors import ConfigError


class SimulatorSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`[simulator]`: seed of the model, firmware label, outbox bound, resend timeout, unmetered base load."""

    seed: int = 42
    fw: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "sim-0.1.0"
    outbox_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    resend_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    base_load_w: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 90.0


def simulator_section(config: HomeConfig, source: str = "home.toml") -> SimulatorSection:
    """Validate the home's `[simulator]` section; ConfigError names the file and key."""
    try:
        return section(config.simulator, SimulatorSection, "simulator")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Faults:
    """Probabilities per generated message of each misbehaviour, for testing the gateway's defences."""

    duplicate: float = 0.0
    reorder: float = 0.0
    malformed: float = 0.0
    late: float = 0.0
    dropout: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        """Parse `duplicate=0.01,reorder=0.01,...`; ConfigError names the bad entry."""
        if not text:
            return cls()
        names = {f.name for f in fields(cls)}
        rates: dict[str, float] = {}
        for item in text.split(","):
            name, sep, value = item.strip().partition("=")
            if not sep or name not in names:
                raise ConfigError(f"--faults: {item.strip()!r} must be NAME=RATE with NAME one of {sorted(names)}")
            try:
                rate = float(value)
            except ValueError:
                raise ConfigError(f"--faults: {name} rate {value!r} is not a number") from None
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"--faults: {name} rate must be 0..1, got {rate}")
            rates[name] = rate
        return cls(**rates)

    @property
    def any(self) -> bool:
        """True when some fault is switched on."""
        return any(getattr(self, f.name) > 0 for f in fields(self))
