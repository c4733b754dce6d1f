"""Export the contract as JSON Schema for non-Python readers: `python -m protocol.schema` rewrites the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from protocol.messages import Alert, AlertAck, Command, ModeChange, ModeState, Status, Telemetry, Uplink, Watermark

SCHEMA_DIR = Path(__file__).parent / "schema"
MESSAGES: dict[str, type[msgspec.Struct]] = {
    "telemetry": Telemetry,
    "uplink": Uplink,
    "status": Status,
    "command": Command,
    "watermark": Watermark,
    "mode-change": ModeChange,
    "mode-state": ModeState,
    "alert": Alert,
    "alert-ack": AlertAck,
}


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every message type, by file stem."""
    return {name: msgspec.json.schema(kind) for name, kind in MESSAGES.items()}


def render(schema: dict[str, Any]) -> str:
    """Stable text for a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Rewrite `protocol/schema/*.schema.json` from the Python types."""
    for name, schema in schemas().items():
        (SCHEMA_DIR / f"{name}.schema.json").write_text(render(schema), encoding="utf-8")


if __name__ == "__main__":
    main()
