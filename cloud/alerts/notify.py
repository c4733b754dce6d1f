"""Send alerts through Apprise (any of its URLs: json://, mailto://, ntfy://, ...)."""

from __future__ import annotations

import contextlib
import logging
import warnings

import apprise

from protocol import Alert, Severity

with warnings.catch_warnings():
    # Apprise's e-mail plugin imports the standard library's imghdr, deprecated in 3.11 and gone in 3.13
    # (where Apprise ships a shim): import it once, quietly, so loading plugins later warns nothing.
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import imghdr  # noqa: F401

logger = logging.getLogger(__name__)
_TYPES = {Severity.INFO: apprise.NotifyType.INFO, Severity.WARNING: apprise.NotifyType.WARNING,
          Severity.CRITICAL: apprise.NotifyType.FAILURE}


class Notifier:
    """Delivers alerts to every configured Apprise URL; a failure is logged once and reported, never raised."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.apprise = apprise.Apprise()
        self.enabled = bool(urls)
        for url in urls:
            if not self.apprise.add(url):
                logger.warning("notify URL not understood by Apprise, skipped: %s", url.split("://", 1)[0] + "://...")
        self._failing = False

    def send(self, alert: Alert) -> bool:
        """True when every target accepted the alert."""
        if not self.enabled:
            return False
        title = f"[{alert.severity.value}] {alert.rule} ({alert.state.value})"
        ok = bool(self.apprise.notify(title=title, body=alert.message, notify_type=_TYPES[alert.severity]))
        if not ok and not self._failing:
            logger.warning("alert notification failed rule=%s id=%s", alert.rule, alert.id)
        elif ok and self._failing:
            logger.info("alert notifications delivered again")
        self._failing = not ok
        return ok
