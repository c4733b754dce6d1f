"""Prometheus metrics of the gateway and the HTTP server that shows them (`/metrics`) with `/healthz`."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

logger = logging.getLogger(__name__)


class GatewayMetrics:
    """Every counter and gauge, in a registry of its own (several gateways may share a process in tests)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.received = Counter("gateway_messages_received", "Messages from the edge broker", registry=r)
        self.accepted = Counter("gateway_readings_accepted", "Telemetry messages stored in the outbox", registry=r)
        self.rejected = Counter("gateway_rejected", "Messages refused, by reason", ["reason"], registry=r)
        self.duplicates = Counter("gateway_duplicates", "Repeats of a stored (device, boot, seq)", registry=r)
        self.status_changes = Counter("gateway_status_changes", "Device status changes forwarded", registry=r)
        self.lost = Counter("gateway_lost_readings", "Seqs recorded lost after the gap timeout", registry=r)
        self.lost_gaps = Counter("gateway_lost_gaps", "Gaps recorded lost after the gap timeout", registry=r)
        self.dropped = Counter("gateway_outbox_dropped", "Routine rows dropped from a full outbox", registry=r)
        self.forwarded = Counter("gateway_forwarded_rows", "Outbox rows acknowledged by the cloud", registry=r)
        self.uplink_messages = Counter("gateway_uplink_messages", "Messages published to the cloud", registry=r)
        self.watermarks = Counter("gateway_watermarks_published", "Watermarks published to devices", registry=r)
        self.commit_seconds = Histogram(
            "gateway_commit_seconds",
            "Time to commit one batch to the outbox",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.outbox_rows = Gauge("gateway_outbox_rows", "Rows waiting in the outbox", registry=r)
        self.outbox_oldest_age = Gauge("gateway_outbox_oldest_age_seconds", "Age of the oldest row", registry=r)
        self.edge_up = Gauge("gateway_edge_connected", "1 while connected to the edge broker", registry=r)
        self.uplink_up = Gauge("gateway_uplink_connected", "1 while connected to the cloud broker", registry=r)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent), for tests and the health page."""
        found = self.registry.get_sample_value(name, labels or None)
        return 0.0 if found is None else found


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not events worth a log line."""


class HttpServer:
    """`/metrics` (Prometheus text) and `/healthz` (JSON, 503 when unhealthy) on a thread of its own."""

    def __init__(
        self, metrics: GatewayMetrics, health: Callable[[], tuple[bool, dict[str, Any]]], host: str, port: int
    ) -> None:
        metrics_app = make_wsgi_app(metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                ok, body = health()
                start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]

        self.server: WSGIServer = make_server(host, port, app, handler_class=_QuietHandler)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway-http", daemon=True)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()
        logger.info("metrics at http://%s:%d/metrics", self.server.server_address[0], self.port)

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
