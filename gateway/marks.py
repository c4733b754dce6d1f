"""Per (device, boot) sequence marks: dedup, the durable watermark, and gaps recorded as lost after a timeout."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LOST_RANGES = 16  # recent lost ranges kept per boot, so a reading arriving after its gap was given up still counts


@dataclass(slots=True)
class Mark:
    """What the gateway has of one device boot: every seq <= `floor` is stored (or recorded lost)."""

    floor: int
    above: set[int] = field(default_factory=set)  # stored seqs beyond a hole at floor + 1
    gap_since: float | None = None  # wall time the hole at floor + 1 was first seen
    lost: list[tuple[int, int]] = field(default_factory=list)
    seen_at: float = 0.0

    @classmethod
    def first(cls, seq: int, now: float) -> Mark:
        """A new boot: devices count from 0 or 1, so a first seq of 0 or 1 leaves no hole below."""
        return cls(floor=-1 if seq == 0 else 0, seen_at=now)

    def observe(self, seq: int, now: float) -> bool:
        """Record `seq`; False when it is a repeat (already stored)."""
        self.seen_at = now
        if seq <= self.floor:
            return self._late(seq)
        if seq in self.above:
            return False
        if seq == self.floor + 1:
            self.floor = seq
            self._absorb(now)
        else:
            self.above.add(seq)
            if self.gap_since is None:
                self.gap_since = now
        return True

    def _late(self, seq: int) -> bool:
        """A seq at or below the floor is new only if it falls in a gap already recorded as lost."""
        for index, (low, high) in enumerate(self.lost):
            if low <= seq <= high:
                del self.lost[index]
                if low < seq:
                    self.lost.append((low, seq - 1))
                if seq < high:
                    self.lost.append((seq + 1, high))
                return True
        return False

    def _absorb(self, now: float) -> None:
        """Move the floor over stored seqs that became contiguous; restart the gap timer for a new hole."""
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)
        self.gap_since = now if self.above else None

    def expire(self, now: float, timeout: float) -> tuple[int, int] | None:
        """Give up the hole at floor + 1 when it is older than `timeout`: returns the lost range, or None."""
        if self.gap_since is None or now - self.gap_since < timeout or not self.above:
            return None
        low, high = self.floor + 1, min(self.above) - 1
        self.lost.append((low, high))
        del self.lost[:-MAX_LOST_RANGES]
        self.floor = high
        self._absorb(now)
        return (low, high)


class Marks:
    """All device boots' marks, with the latest boot per device (whose watermark is published)."""

    def __init__(self, boots_per_device: int) -> None:
        self.boots_per_device = boots_per_device
        self.by_key: dict[tuple[str, str], Mark] = {}
        self.latest: dict[str, str] = {}
        self.dirty: set[tuple[str, str]] = set()

    def observe(self, device: str, boot: str, seq: int, now: float) -> bool:
        """Record a message key; False for a repeat."""
        key = (device, boot)
        mark = self.by_key.get(key)
        if mark is None:
            mark = self.by_key[key] = Mark.first(seq, now)
            self.latest[device] = boot
        new = mark.observe(seq, now)
        if new:
            self.dirty.add(key)
        return new

    def load(self, device: str, boot: str, mark: Mark) -> None:
        """Restore a mark saved before a restart."""
        self.by_key[(device, boot)] = mark
        current = self.latest.get(device)
        if current is None or self.by_key[(device, current)].seen_at <= mark.seen_at:
            self.latest[device] = boot

    def expire(self, now: float, timeout: float) -> list[tuple[str, str, int, int]]:
        """Record every hole older than `timeout` as lost: (device, boot, first, last) per range."""
        lost = []
        for key, mark in self.by_key.items():
            gap = mark.expire(now, timeout)
            if gap is not None:
                lost.append((*key, *gap))
                self.dirty.add(key)
        return lost

    def stale_boots(self) -> list[tuple[str, str]]:
        """Boots beyond the newest `boots_per_device` of each device, to forget."""
        per_device: dict[str, list[tuple[float, str]]] = {}
        for (device, boot), mark in self.by_key.items():
            per_device.setdefault(device, []).append((mark.seen_at, boot))
        stale: list[tuple[str, str]] = []
        for device, boots in per_device.items():
            boots.sort(reverse=True)
            keep = {boot for _, boot in boots[: self.boots_per_device]} | {self.latest[device]}
            stale.extend((device, boot) for _, boot in boots if boot not in keep)
        for key in stale:
            del self.by_key[key]
        return stale

    def take_dirty(self) -> list[tuple[str, str, Mark]]:
        """The marks changed since the last call (to save with the commit)."""
        keys, self.dirty = self.dirty, set()
        return [(d, b, self.by_key[(d, b)]) for d, b in keys if (d, b) in self.by_key]

    def watermark(self, device: str) -> tuple[str, int] | None:
        """(boot, floor) of the device's latest boot, or None before anything below a hole is stored."""
        boot = self.latest.get(device)
        if boot is None:
            return None
        floor = self.by_key[(device, boot)].floor
        return (boot, floor) if floor >= 0 else None
