"""The home config (`home.toml`): rooms and devices, validated once at start with errors naming file and key."""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

from protocol.errors import ConfigError
from protocol.kinds import Kind
from protocol.topics import GATEWAY, ID_PATTERN

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
T = TypeVar("T")


class DeviceType(StrEnum):
    """What a device is; its type fixes the kinds it reports."""

    CLIMATE = "climate"
    MOTION = "motion"
    CONTACT = "contact"
    SMOKE = "smoke"
    LIGHT = "light"
    PLUG = "plug"
    METER = "meter"


DEVICE_KINDS: dict[DeviceType, tuple[Kind, ...]] = {
    DeviceType.CLIMATE: (Kind.TEMPERATURE, Kind.HUMIDITY, Kind.LIGHT),
    DeviceType.MOTION: (Kind.MOTION,),
    DeviceType.CONTACT: (Kind.CONTACT,),
    DeviceType.SMOKE: (Kind.SMOKE,),
    DeviceType.LIGHT: (Kind.SWITCH, Kind.POWER),
    DeviceType.PLUG: (Kind.SWITCH, Kind.POWER, Kind.ENERGY, Kind.VOLTAGE, Kind.CURRENT),
    DeviceType.METER: (Kind.POWER, Kind.ENERGY, Kind.VOLTAGE),
}
SWITCHABLE = frozenset({DeviceType.LIGHT, DeviceType.PLUG})


class Opening(StrEnum):
    """What a contact sensor guards; doors get an entry delay by default, windows none."""

    DOOR = "door"
    WINDOW = "window"


class HomeInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The home itself: id (used in topics), name, time zone for display, energy tariff."""

    id: Id
    name: Name
    timezone: str = "UTC"
    tariff_per_kwh: NonNegative = 0.30
    currency: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] = "EUR"


class Room(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A room of the home."""

    id: Id
    name: Name
    floor: int = 0


class Device(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A configured device: where it is, what it is, and what the gateway adds to its messages."""

    id: Id
    type: DeviceType
    room: Id
    name: Name | None = None
    appliance: Name | None = None
    rated_power_w: Positive | None = None
    opening: Opening | None = None
    entry_delay_s: NonNegative | None = None
    interval_s: Positive = 5.0

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The kinds this device reports."""
        return DEVICE_KINDS[self.type]

    @property
    def switchable(self) -> bool:
        """True when the device obeys `{"switch": ...}` commands."""
        return self.type in SWITCHABLE

    @property
    def label(self) -> str:
        """A human name: the configured name, else the appliance, else the id."""
        return self.name or self.appliance or self.id


class Endpoints(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the services meet; environment variables and CLI flags override these."""

    edge: str | None = None
    cloud: str | None = None
    db: str | None = None


class HomeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole of `home.toml`. Service sections are validated by the service that owns them."""

    home: HomeInfo
    rooms: tuple[Room, ...]
    devices: tuple[Device, ...]
    endpoints: Endpoints = Endpoints()
    gateway: dict[str, Any] = {}
    rules: tuple[dict[str, Any], ...] = ()
    alarm: dict[str, Any] = {}
    cloud: dict[str, Any] = {}
    dashboard: dict[str, Any] = {}
    simulator: dict[str, Any] = {}

    def device(self, device_id: str) -> Device | None:
        """The configured device with this id, or None."""
        return _device_index(self).get(device_id)

    def room(self, room_id: str) -> Room | None:
        """The configured room with this id, or None."""
        return next((r for r in self.rooms if r.id == room_id), None)


_INDEXES: dict[int, dict[str, Device]] = {}


def _device_index(config: HomeConfig) -> dict[str, Device]:
    """A cached id -> device map (configs are frozen, so the cache cannot go stale)."""
    index = _INDEXES.get(id(config))
    if index is None:
        index = _INDEXES[id(config)] = {d.id: d for d in config.devices}
    return index


def _where(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's `... - at `$.devices[3].room`` into `devices[3].room: ...`."""
    text = str(exc)
    match = re.search(r" - at `\$\.?(.*)`$", text)
    if not match:
        return text
    return f"{match.group(1) or '(top)'}: {text[: match.start()]}"


def _check_references(config: HomeConfig) -> None:
    """Cross-field checks msgspec cannot express: unique ids, known rooms, valid time zone."""
    rooms = [r.id for r in config.rooms]
    if len(set(rooms)) != len(rooms):
        raise ConfigError(f"rooms: duplicate room id {_first_duplicate(rooms)!r}")
    ids = [d.id for d in config.devices]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"devices: duplicate device id {_first_duplicate(ids)!r}")
    for index, device in enumerate(config.devices):
        if device.id == GATEWAY:
            raise ConfigError(f"devices[{index}].id: {GATEWAY!r} is reserved for the gateway")
        if device.room not in rooms:
            raise ConfigError(f"devices[{index}].room: unknown room {device.room!r} (rooms: {', '.join(rooms)})")
        if device.opening is not None and device.type is not DeviceType.CONTACT:
            raise ConfigError(f"devices[{index}].opening: only contact sensors have an opening")
    try:
        zoneinfo.ZoneInfo(config.home.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"home.timezone: unknown time zone {config.home.timezone!r}") from None


def _first_duplicate(values: list[str]) -> str:
    seen: set[str] = set()
    return next(v for v in values if v in seen or seen.add(v))  # type: ignore[func-returns-value]


def parse_home_config(text: str, source: str = "home.toml") -> HomeConfig:
    """Validate TOML text as a home config; ConfigError names `source` and the bad key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    try:
        config = msgspec.convert(raw, HomeConfig)
        _check_references(config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_where(exc)}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return config


def load_home_config(path: Path) -> HomeConfig:
    """Read and validate a home config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read home config ({exc.strerror})") from exc
    return parse_home_config(text, str(path))


def section(raw: dict[str, Any], kind: type[T], where: str) -> T:
    """Validate one service-owned section (e.g. `gateway`) as `kind`; errors read `gateway.batch_size: ...`."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        located = " - at `$" in str(exc)  # a missing field is reported without a path: it belongs to `where`
        raise ConfigError(f"{where}.{_where(exc)}" if located else f"{where}: {exc}") from exc
