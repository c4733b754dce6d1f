"""The streaming-alerts service: the live uplink in, rules evaluated, alerts stored, sent and de-duplicated."""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.alerts.notify import Notifier
from cloud.alerts.rules import Fired, Rules, State
from cloud.config import cloud_config
from cloud.ingest.route import alert_row
from cloud.warehouse import schema
from cloud.warehouse.bulk import insert_for
from cloud.warehouse.db import make_engine, migrate
from protocol import ProtocolError, decode_uplink, decode_uplink_batch, topics
from protocol.endpoint import make_client
from protocol.settings import Settings

logger = logging.getLogger(__name__)
STATE_KEY = "alerts:rules"
SESSION_EXPIRY_S = 3600  # a restart within the hour replays what it missed


def load_state(engine: sa.Engine, now: float) -> State:
    """The rules' saved state; the service's own downtime does not count as devices being silent."""
    table = schema.alert_state
    with engine.connect() as conn:
        row = conn.execute(sa.select(table.c.value, table.c.updated_at).where(table.c.key == STATE_KEY)).first()
    if row is None:
        return State()
    state = State.from_json(json.loads(row.value))
    downtime = max(0.0, now - row.updated_at)
    state.last_seen = {k: v + downtime for k, v in state.last_seen.items()}
    state.home_seen = {k: v + downtime for k, v in state.home_seen.items()}
    return state


def save_state(engine: sa.Engine, state: State, now: float) -> None:
    """Upsert the rules' state."""
    stmt = insert_for(engine)(schema.alert_state).values(key=STATE_KEY, value=json.dumps(state.to_json()),
                                                           updated_at=now)
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={
            "value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))


class AlertService:
    """Subscribes to the uplink, feeds the rules, ticks the clock, stores and sends what fires."""

    def __init__(self, settings: Settings, engine: sa.Engine, *, stop: threading.Event,
                 clock: Callable[[], float] = time.time, client_id: str | None = None) -> None:
        self.config = cloud_config(settings).alerts
        self.engine, self.stop, self.clock = engine, stop, clock
        self.rules = Rules(self.config, settings.home, load_state(engine, clock()))
        self.notifier = Notifier(self.config.notify)
        self.inbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.raised = 0
        self.client = make_client(settings.cloud_url, client_id or f"cloud-alerts-{socket.gethostname()}"[:64])
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.inbox.put((msg.topic, bytes(msg.payload)))
        self.url = settings.cloud_url

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            logger.info("alerts connected to the cloud broker url=%s", self.url)
            client.subscribe("up/#", qos=1)  # every message: the windows need the whole stream, not a share

    def run(self) -> int:
        """Run until stopped; returns how many alerts fired."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.url.host, self.url.port, clean_start=False, properties=props)
        self.client.loop_start()
        next_tick = self.clock()
        try:
            while not self.stop.is_set():
                self._drain(timeout=0.2)
                if self.clock() >= next_tick:
                    self.deliver(self.rules.tick(self.clock()))
                    save_state(self.engine, self.rules.state, self.clock())
                    next_tick = self.clock() + self.config.tick_s
        finally:
            save_state(self.engine, self.rules.state, self.clock())
            self.client.disconnect()
            self.client.loop_stop()
        return self.raised

    def _drain(self, timeout: float) -> None:
        """Feed every waiting message to the rules."""
        try:
            topic, payload = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self.deliver(self.handle(topic, payload, self.clock()))
            try:
                topic, payload = self.inbox.get_nowait()
            except queue.Empty:
                return

    def handle(self, topic: str, payload: bytes, now: float) -> list[Fired]:
        """One uplink message: telemetry feeds the rules, anything else only shows the gateway is alive."""
        parts = topic.split("/")
        if len(parts) < 3 or not topics.valid_id(parts[1]):
            return []
        home = parts[1]
        try:
            if parts[2] == "batch":
                messages = decode_uplink_batch(payload)
            elif len(parts) == 4 and parts[3] == "telemetry" and parts[2] != "gateway":
                messages = [decode_uplink(payload)]
            else:
                self.rules.seen(home, now)
                return []
        except ProtocolError:
            return []  # ingest records the rejection; the rules only look at valid data
        return [alert for msg in messages for alert in self.rules.observe(home, msg, now)]

    def deliver(self, alerts: list[Fired]) -> None:
        """Store each alert, then send it; the row says whether the notification went out."""
        for home, alert in alerts:
            row = alert_row(home, alert, source="cloud")
            row["notified"] = self.notifier.send(alert)
            with self.engine.begin() as conn:
                conn.execute(insert_for(conn)(schema.alerts).on_conflict_do_nothing(), [row])
            self.raised += 1
            logger.info("alert %s rule=%s state=%s %s", alert.id, alert.rule, alert.state.value, alert.message)


def run(settings: Settings, *, stop: threading.Event | None = None, clock: Callable[[], float] = time.time,
        client_id: str | None = None) -> int:
    """Run the streaming alerts until `stop` is set (forever when None); returns how many alerts fired."""
    engine = make_engine(settings.db_url)
    migrate(engine)
    try:
        return AlertService(settings, engine, stop=stop or threading.Event(), clock=clock, client_id=client_id).run()
    finally:
        engine.dispose()
