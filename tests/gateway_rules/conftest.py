"""Fixtures for the edge rules: a fake clock you advance, the example home, and a message builder."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from protocol import Kind, Reading, Uplink
from protocol.config import HomeConfig, load_home_config
from protocol.settings import EXAMPLE_CONFIG

T0 = 1_796_000_000.0


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new now."""
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def example_home() -> HomeConfig:
    return load_home_config(EXAMPLE_CONFIG)


def with_home(home: HomeConfig, home_id: str, **changes: Any) -> HomeConfig:
    """The example home under another id (and other rules or alarm settings)."""
    info = msgspec.structs.replace(home.home, id=home_id)
    return msgspec.structs.replace(home, home=info, **changes)


_SEQ = itertools.count(1)


def uplink(device: str, kind: str, value: bool | float | None, now: float, **extra: Any) -> Uplink:
    """One accepted message of one reading, received at `now` (ts = now unless given)."""
    unit = {"temperature": "°C", "humidity": "%", "light": "lx", "power": "W", "energy": "kWh"}.get(kind)
    reading = Reading(kind=Kind(kind), value=value, unit=unit, err=None if value is not None else "read failed")
    fields: dict[str, Any] = {"boot": "a1b2c3", "seq": next(_SEQ), "ts": now} | extra
    return Uplink(v=1, device=device, readings=(reading,), received_at=now, **fields)


def free_udp_port() -> int:
    """A UDP port nothing is bound to right now (CoAP listens on UDP)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
