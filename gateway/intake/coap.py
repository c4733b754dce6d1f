"""CoAP intake: `POST coap://host/telemetry`, the HTTP intake's contract with CoAP codes (2.04 after commit,
4.00 or 4.13 with the reason code as a JSON payload, 5.03 when the commit failed)."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable

import aiocoap
from aiocoap import resource
from aiocoap.numbers.codes import Code

from gateway.intake.body import Answer, Committer, submit
from protocol.config import HomeConfig

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
CODES = {202: Code.CHANGED, 400: Code.BAD_REQUEST, 413: Code.REQUEST_ENTITY_TOO_LARGE, 503: Code.SERVICE_UNAVAILABLE}
JSON = 50  # CoAP content format application/json (RFC 7252 12.3)


class TelemetryResource(resource.Resource):  # type: ignore[misc]  # aiocoap ships no type hints
    """`/telemetry`: the commit blocks, so it runs on the loop's executor, never on the loop."""

    def __init__(self, intake: CoapIntake) -> None:
        super().__init__()
        self.intake = intake

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        """One message or a JSON array, as over HTTP."""
        intake = self.intake
        client = str(request.remote.hostinfo)
        work = functools.partial(
            submit,
            bytes(request.payload),
            intake.clock(),
            intake.home,
            intake.committer,
            source=f"coap:{client}",
            register_unknown=intake.register_unknown,
        )
        answer: Answer = await asyncio.get_running_loop().run_in_executor(None, work)
        if answer.status >= 400:
            logger.debug("coap intake rejected a message from %s: %s", client, answer.body[:300])
        return aiocoap.Message(code=CODES[answer.status], payload=answer.body, content_format=JSON)


def _check_udp_port(host: str, port: int) -> None:
    """Raise OSError when nothing could bind UDP `host:port` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, port))


class CoapIntake:
    """The CoAP server on its own event loop thread; `start()` returns once it listens."""

    def __init__(
        self,
        home: HomeConfig,
        committer: Committer,
        *,
        host: str = "127.0.0.1",
        port: int = 5683,
        clock: Clock = time.time,
        register_unknown: bool = False,
    ) -> None:
        self.home, self.committer, self.clock = home, committer, clock
        self.register_unknown = register_unknown
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._context: aiocoap.Context | None = None
        self._failure: str | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coap-intake", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the loop thread and bind the UDP port; OSError (with the reason) when it cannot."""
        self._thread.start()
        if not self._ready.wait(timeout) or self._context is None:
            self._thread.join(timeout)
            raise OSError(self._failure or f"coap intake could not listen on {self.host}:{self.port}")
        logger.info("coap intake listening on %s:%d", self.host, self.port)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        site = resource.Site()
        site.add_resource(["telemetry"], TelemetryResource(self))
        try:
            _check_udp_port(self.host, self.port)  # aiocoap leaks its socket when the bind fails: find out first
            self._context = loop.run_until_complete(
                # UDP only: aiocoap's default also opens CoAP over TCP, TLS and WebSockets on neighbouring ports.
                aiocoap.Context.create_server_context(site, bind=(self.host, self.port), transports=["udp6"])
            )
        except OSError as exc:
            self._failure = f"{self.host}:{self.port}: {exc.strerror or exc}"
            loop.close()
            return
        finally:
            self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._context.shutdown())
        loop.close()

    def stop(self) -> None:
        """Stop the server and its loop (a loop never started is just closed)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        elif not self._loop.is_closed():
            self._loop.close()
