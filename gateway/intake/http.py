"""HTTP intake: `POST /v1/telemetry` (one message or a JSON array), and the alarm: `GET /v1/alarm`,
`POST /v1/alarm/mode` (a ModeChange), `POST /v1/alerts/ack` (an AlertAck).

The standard library's threading server is enough here: a few devices and webhooks on a home LAN, no
framework to keep patched on the Pi."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from gateway.intake.body import MAX_BODY, Answer, Committer, submit
from gateway.rules.edge import EdgeRules
from protocol import ProtocolError, decode_alert_ack, decode_mode_change, encode
from protocol.config import HomeConfig

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


def _error(status: int, reason: str, detail: str) -> Answer:
    return Answer(status, msgspec.json.encode({"reason": reason, "detail": detail}))


class HttpIntake:
    """The HTTP server; `start()` binds and serves from a thread, `port` is then the bound port (0: any free one)."""

    def __init__(
        self,
        home: HomeConfig,
        committer: Committer,
        *,
        rules: EdgeRules | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        clock: Clock = time.time,
        register_unknown: bool = False,
    ) -> None:
        self.home, self.committer, self.rules, self.clock = home, committer, rules, clock
        self.register_unknown = register_unknown
        self.rejected: Counter[str] = Counter()
        self.server = ThreadingHTTPServer((host, port), _handler(self), bind_and_activate=False)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="http-intake", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Bind (OSError when the port is taken) and serve in a background thread."""
        try:
            self.server.server_bind()
            self.server.server_activate()
        except OSError:
            self.server.server_close()
            raise
        self._thread.start()
        logger.info("http intake listening on %s:%d", *self.server.server_address[:2])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def post(self, path: str, body: bytes, client: str) -> Answer:
        """Route one POST."""
        if path == "/v1/telemetry":
            answer = submit(
                body,
                self.clock(),
                self.home,
                self.committer,
                source=f"http:{client}",
                register_unknown=self.register_unknown,
            )
            if answer.status >= 400:
                self._count(answer, client)
            return answer
        if self.rules is not None and path == "/v1/alarm/mode":
            return self._mode(body)
        if self.rules is not None and path == "/v1/alerts/ack":
            return self._ack(body)
        return _error(404, "not_found", f"no resource {path}")

    def get(self, path: str) -> Answer:
        """Route one GET."""
        if self.rules is not None and path == "/v1/alarm":
            return Answer(200, encode(self.rules.mode))
        return _error(404, "not_found", f"no resource {path}")

    def _mode(self, body: bytes) -> Answer:
        assert self.rules is not None
        try:
            change = decode_mode_change(body)
        except ProtocolError as exc:
            return _error(400, exc.reason.value, exc.detail)
        return Answer(200, encode(self.rules.set_mode(change.mode, "http", change.by)))

    def _ack(self, body: bytes) -> Answer:
        assert self.rules is not None
        try:
            ack = decode_alert_ack(body)
        except ProtocolError as exc:
            return _error(400, exc.reason.value, exc.detail)
        alert = self.rules.acknowledge(ack)
        return Answer(200, encode(alert)) if alert else _error(404, "unknown_alert", f"no raised alert {ack.id!r}")

    def _count(self, answer: Answer, client: str) -> None:
        reason = str(msgspec.json.decode(answer.body).get("reason"))
        self.rejected[reason] += 1
        if self.rejected[reason] == 1:  # once per cause; the counter keeps the rest
            logger.warning("http intake rejected a message from %s: %s", client, answer.body.decode()[:300])


def _handler(intake: HttpIntake) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `intake`."""

    class Handler(BaseHTTPRequestHandler):
        """One request: read the body, route it, answer JSON."""

        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            """POST: refuse an oversized body before reading it."""
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(_error(413, "too_large", f"body is {length} bytes, limit {MAX_BODY}"), close=True)
                return
            body = self.rfile.read(length)
            self._answer(intake.post(self.path, body, self.client_address[0]))

        def do_GET(self) -> None:
            """GET: the alarm state."""
            self._answer(intake.get(self.path))

        def _answer(self, answer: Answer, close: bool = False) -> None:
            self.send_response(HTTPStatus(answer.status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Access lines at debug level only: a busy webhook must not flood the journal."""
            logger.debug("http %s " + format, self.client_address[0], *args)

    return Handler
