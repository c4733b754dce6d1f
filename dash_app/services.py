"""What every page's callbacks share: the home, the dashboard config, the reader, the commander, a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dash_app.commands import Commander
from dash_app.config import DashboardConfig
from dash_app.warehouse import Reader
from protocol.config import Device, HomeConfig


@dataclass(frozen=True)
class Services:
    """Injected into each page's `register`; tests build one around a test warehouse and a fake clock."""

    home: HomeConfig
    config: DashboardConfig
    reader: Reader
    commander: Commander | None = None
    clock: Callable[[], float] = field(default=time.time)

    @property
    def home_id(self) -> str:
        """The home's id, as used in the warehouse and on topics."""
        return self.home.home.id

    @property
    def tz(self) -> str:
        """The home's time zone: every time on a page is shown in it."""
        return self.home.home.timezone

    def devices_of(self, *types: str) -> list[Device]:
        """Configured devices of the given types, in config order."""
        return [d for d in self.home.devices if d.type.value in types]

    def labels(self) -> dict[str, str]:
        """Device id -> human label."""
        return {d.id: d.label for d in self.home.devices}
