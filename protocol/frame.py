"""The flat, one-row-per-reading layout shared by sample logs, the raw lake and the warehouse's raw table."""

from __future__ import annotations

from protocol.messages import Uplink

# (device, boot, seq) identifies a message; `idx` is the reading's position in it, so
# (device, boot, seq, idx) identifies a reading. Boolean kinds are stored as 1.0 / 0.0.
READING_COLUMNS: tuple[str, ...] = (
    "home", "device", "boot", "seq", "idx", "ts", "received_at", "kind", "value", "unit", "err", "room", "appliance",
)
ReadingRow = tuple[str, str, str, int, int, float | None, float, str, float | None, str | None, str | None,
                   str | None, str | None]


def rows(home: str, msg: Uplink) -> list[ReadingRow]:
    """Flatten one forwarded message into reading rows in READING_COLUMNS order."""
    return [
        (home, msg.device, msg.boot, msg.seq, idx, msg.ts, msg.received_at, r.kind.value,
         None if r.value is None else float(r.value), r.unit, r.err, msg.room, msg.appliance)
        for idx, r in enumerate(msg.readings)
    ]
