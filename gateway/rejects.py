"""Rejected messages: counted by reason and logged at most once per reason per interval."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from protocol import Rejection

logger = logging.getLogger(__name__)


class RejectLog:
    """Counts rejections and logs the first of each reason, then a summary at most every `interval` s."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._quiet: Counter[str] = Counter()

    def record(self, rejection: Rejection) -> None:
        """Count one rejection; log it if this reason has not been logged within the interval."""
        reason = rejection.reason.value
        self.counts[reason] += 1
        now = self.clock()
        last = self._logged_at.get(reason)
        if last is not None and now - last < self.interval:
            self._quiet[reason] += 1
            return
        self._logged_at[reason] = now
        logger.warning(
            "rejected reason=%s topic=%s detail=%s (%d more of this reason not logged)",
            reason,
            rejection.topic,
            rejection.detail,
            self._quiet.pop(reason, 0),
        )
