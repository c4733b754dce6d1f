"""A device's bounded outbox: messages kept until the gateway's watermark passes them, resent when overdue."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX_BACKOFF = 120.0  # s: without progress, a message is retried at most this rarely


@dataclass(slots=True)
class Pending:
    """One generated message: its seq, exact payload (resends are byte-identical), and when to send it next."""

    seq: int
    payload: bytes
    due: float
    attempts: int = 0
    sent: bool = False


class Outbox:
    """Messages of one boot in seq order; full means the oldest is dropped and counted."""

    def __init__(self, capacity: int, resend_timeout: float) -> None:
        self.capacity = capacity
        self.resend_timeout = resend_timeout
        self.dropped = 0
        self._items: deque[Pending] = deque()
        self._next_due = float("inf")  # a lower bound of every item's due time, so idle scans cost nothing

    def __len__(self) -> int:
        return len(self._items)

    def add(self, seq: int, payload: bytes, now: float, delay: float = 0.0) -> Pending:
        """Keep a new message; it is due for (re)sending `resend_timeout` s after `now`, plus `delay`."""
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        item = Pending(seq, payload, now + delay + self.resend_timeout)
        self._items.append(item)
        self._next_due = min(self._next_due, item.due)
        return item

    def ack(self, seq: int) -> int:
        """Forget every message with seq <= `seq` (the watermark); returns how many were freed."""
        freed = 0
        while self._items and self._items[0].seq <= seq:
            self._items.popleft()
            freed += 1
        return freed

    def overdue(self, now: float, limit: int, resend: bool = True) -> list[Pending]:
        """Up to `limit` messages whose time has come, oldest first; each is rescheduled with backoff.

        With `resend` false only messages never sent yet (held back on purpose) are returned.
        """
        if now < self._next_due:
            return []
        found: list[Pending] = []
        next_due = float("inf")
        for item in self._items:
            if len(found) >= limit:
                next_due = now
                break
            if item.due <= now and (resend or not item.sent):
                item.attempts += 1
                item.due = now + min(self.resend_timeout * 2**item.attempts, MAX_BACKOFF)
                found.append(item)
            next_due = min(next_due, item.due)
        self._next_due = next_due
        return found

    def everything(self, now: float) -> list[Pending]:
        """All kept messages, oldest first (to resend after a reconnect); their resend clocks restart."""
        for item in self._items:
            item.due = now + self.resend_timeout
        self._next_due = now + self.resend_timeout
        return list(self._items)

    @property
    def oldest_seq(self) -> int | None:
        """The seq of the oldest kept message."""
        return self._items[0].seq if self._items else None
