"""When to publish each device's durable watermark: after a commit moved it, at most once per interval."""

from __future__ import annotations


class WatermarkSchedule:
    """Remembers what was published per device and says which watermarks are due now."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._sent: dict[str, tuple[str, int]] = {}
        self._sent_at: dict[str, float] = {}
        self._pending: dict[str, tuple[str, int]] = {}

    def update(self, device: str, boot: str, seq: int) -> None:
        """A commit moved the device's watermark (or may have)."""
        if self._sent.get(device) != (boot, seq):
            self._pending[device] = (boot, seq)

    def due(self, now: float) -> list[tuple[str, str, int]]:
        """(device, boot, seq) to publish now; the rest wait until their interval has passed."""
        ready = [d for d in self._pending if now - self._sent_at.get(d, float("-inf")) >= self.interval]
        out = []
        for device in ready:
            boot, seq = self._pending.pop(device)
            self._sent[device] = (boot, seq)
            self._sent_at[device] = now
            out.append((device, boot, seq))
        return out

    def resend_all(self) -> None:
        """After a reconnect of the edge broker, publish every known watermark again."""
        for device, value in self._sent.items():
            self._pending.setdefault(device, value)
        self._sent_at.clear()
