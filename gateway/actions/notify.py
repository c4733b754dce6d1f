"""Notifications through Apprise URLs, sent from a worker thread so a slow or dead service never delays an alert."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import warnings
from collections.abc import Sequence

import apprise

with warnings.catch_warnings():
    # Apprise's e-mail plugin imports the standard library's imghdr, deprecated in 3.11 and gone in 3.13
    # (where Apprise installs a shim): import it once, quietly, so loading plugins later warns nothing.
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import imghdr  # noqa: F401

from protocol import Alert, AlertState, ModeState, Severity

logger = logging.getLogger(__name__)
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
_SPOKEN = (AlertState.PENDING, AlertState.TRIGGERED, AlertState.RAISED, AlertState.CLEARED)


class Notifier:
    """Sends each alert at or above `min_severity` to every Apprise URL; counts what it could not deliver."""

    def __init__(self, urls: Sequence[str], min_severity: Severity = Severity.WARNING, queue_size: int = 1000) -> None:
        self.apprise = apprise.Apprise()
        for url in urls:
            if not self.apprise.add(url):
                logger.warning("notify: Apprise does not understand a configured URL (scheme %s)", url.split(":")[0])
        self.min_rank = _RANK[min_severity]
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._down = False
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def on_alert(self, alert: Alert) -> None:
        """Queue the alert for sending (never blocks; a full queue drops and counts)."""
        if alert.state not in _SPOKEN or _RANK[alert.severity] < self.min_rank or not len(self.apprise):
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1

    def on_mode(self, state: ModeState) -> None:
        """Mode changes are not notified (they are in the alert log and on the uplink)."""

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            title = f"[{alert.severity.value}] {alert.rule} {alert.state.value}"
            ok = self.apprise.notify(body=alert.message, title=title, notify_type=_TYPES[alert.severity])
            if ok:
                self.sent += 1
                if self._down:
                    self._down = False
                    logger.info("notify: delivering again")
            else:
                self.failed += 1
                if not self._down:
                    self._down = True
                    logger.warning("notify: a notification could not be delivered (alert %s)", alert.id)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then stop the worker."""
        self._queue.put(None)
        self._thread.join(timeout)
