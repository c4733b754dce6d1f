"""`python -m gateway`: run the gateway service (settings from IOTPIPE_* variables and home.toml)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gateway.service import GatewayError, run
from protocol import ConfigError
from protocol.settings import load_settings

EX_CONFIG = 78


def main(argv: list[str] | None = None) -> int:
    """Parse flags, load settings, run; a bad config exits 78 with one line naming file and key."""
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", type=Path, help="home.toml (default: IOTPIPE_HOME_CONFIG, ./home.toml, example)")
    parser.add_argument("--metrics-port", type=int, help="override gateway.metrics_port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        run(load_settings(args.config), metrics_port=args.metrics_port)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except GatewayError as exc:
        logging.getLogger("gateway").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
