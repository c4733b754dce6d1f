"""`python -m gateway.rules`: run the edge rules service with settings from the environment (as the demo may)."""

from __future__ import annotations

import logging
import sys

from gateway.rules.service import run
from protocol import ConfigError
from protocol.settings import load_settings

EX_CONFIG = 78  # sysexits.h; the systemd unit's RestartPreventExitStatus


def main() -> None:
    """Load settings (IOTPIPE_* environment), run until SIGTERM; a bad config exits 78 with one line."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    try:
        settings = load_settings()
        run(settings)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)


if __name__ == "__main__":
    main()
