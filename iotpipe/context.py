"""The CLI's shared context: top-level options, and settings loaded on first use."""

from __future__ import annotations

from typing import Any

import click

from protocol.settings import Settings, load_settings


class Context:
    """What the top-level options say; settings are loaded on first use, so `--help` needs no config."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (a ConfigError becomes exit 78 in `iotpipe.cli.main`)."""
        if self._settings is None:
            self._settings = load_settings(**self.options)
        return self._settings


pass_context = click.make_pass_decorator(Context, ensure=True)
