"""Per-device bookkeeping the rules need: redelivered messages, and each device's learned reporting interval."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


class Redeliveries:
    """Remembers recent `(device, boot, seq)` keys so a redelivered message is recognised (bounded per device)."""

    def __init__(self, per_device: int = 4096) -> None:
        self._per_device = per_device
        self._seen: dict[str, tuple[str, set[int], deque[int]]] = {}
        self._newest: dict[str, int] = {}

    def first_time(self, device: str, boot: str, seq: int) -> bool:
        """True the first time a key is seen; False for a redelivery or replay."""
        known = self._seen.get(device)
        if known is None or known[0] != boot:
            known = self._seen[device] = (boot, set(), deque())
            self._newest[device] = -1
        _, seqs, order = known
        if seq in seqs:
            return False
        seqs.add(seq)
        order.append(seq)
        if len(order) > self._per_device:
            seqs.discard(order.popleft())
        self._newest[device] = max(self._newest[device], seq)
        return True

    def is_newest(self, device: str, seq: int) -> bool:
        """True when `seq` is the highest seen for the device's current boot (not a late resend)."""
        return self._newest.get(device, -1) == seq


@dataclass(slots=True)
class Cadence:
    """How often one device reports: the 90th percentile of its recent gaps, never below its configured heartbeat."""

    configured_s: float
    last_seen: float | None = None
    announced_s: float | None = None
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=32))

    def seen(self, now: float) -> None:
        """Note a message received at `now`."""
        if self.last_seen is not None and now > self.last_seen:
            self.gaps.append(now - self.last_seen)
        self.last_seen = now

    def usual_s(self) -> float:
        """The device's usual interval: learned once three gaps are known, else announced or configured."""
        floor = max(self.configured_s, self.announced_s or 0.0)
        if len(self.gaps) < 3:
            return floor
        ordered = sorted(self.gaps)
        return max(floor, ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))])

    def silent_for(self, now: float) -> float:
        """Seconds since the last message (0 before the first)."""
        return 0.0 if self.last_seen is None else now - self.last_seen
