"""The ingest worker: MQTT 5 shared subscription in, batched idempotent commits, acknowledgements after commit."""

from __future__ import annotations

import logging
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.config import CloudConfig, cloud_config
from cloud.errors import WarehouseUnavailableError
from cloud.ingest import store
from cloud.ingest.lake import LakeWriter
from cloud.ingest.route import Batch, route
from cloud.warehouse.db import make_engine, migrate
from protocol.endpoint import BrokerURL, make_client
from protocol.settings import Settings

logger = logging.getLogger(__name__)
SESSION_EXPIRY_S = 14 * 86400  # matches persistent_client_expiration in deploy/mosquitto/cloud.conf
RECEIVE_MAXIMUM = 20_000  # unacknowledged QoS 1 messages the broker may have in flight to us: a batch's ceiling
Message = tuple[str, bytes, int, int]  # topic, payload, mid, qos


@dataclass(slots=True)
class IngestStats:
    """Counters of one worker's run; tests check that each of two workers got a share."""

    messages: int = 0
    readings: int = 0
    rejected: int = 0
    batches: int = 0
    retries: int = 0


def subscription(group: str) -> str:
    """The shared subscription every worker of `group` joins: the whole uplink; no group: a plain subscription
    (one worker; Mosquitto 2.0.11 drops what a restored *shared* session should have queued, see README)."""
    return f"$share/{group}/up/#" if group else "up/#"


class IngestWorker:
    """One worker; `run()` blocks until `stop` is set, then finishes what it received and acknowledges it."""

    def __init__(self, url: BrokerURL, engine: Any, lake: LakeWriter, config: CloudConfig, *,
                 client_id: str, group: str, stop: threading.Event) -> None:
        self.url, self.engine, self.lake, self.config, self.stop = url, engine, lake, config, stop
        self.group = group
        self.stats = IngestStats()
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._connected = False
        self._unsubscribed = threading.Event()
        self.client = make_client(url, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_unsubscribe = lambda *_: self._unsubscribed.set()
        self.client.reconnect_delay_set(1, 30)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("cloud broker refused connection url=%s reason=%s", self.url, reason)
            return
        logger.info("cloud broker connected url=%s group=%s", self.url, self.group)
        self._connected = True
        client.subscribe(subscription(self.group), qos=1)  # resubscribe on every connect

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._connected:
            logger.warning("cloud broker connection lost url=%s reason=%s", self.url, reason)
        self._connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos))  # no work in the network thread

    def run(self) -> IngestStats:
        """Consume until stopped; return the counters."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(self.url.host, self.url.port, clean_start=False, properties=props)
        self.client.loop_start()
        try:
            while not self.stop.is_set():
                self._step(timeout=0.2)
            self._drain()
        finally:
            self.lake.close()
            self._connected = False  # a disconnect we asked for is not a connection loss
            self.client.disconnect()
            self.client.loop_stop()
        logger.info("ingest stopped messages=%d readings=%d rejected=%d batches=%d", self.stats.messages,
                    self.stats.readings, self.stats.rejected, self.stats.batches)
        return self.stats

    def _drain(self) -> None:
        """On stop: leave the group, then commit and acknowledge everything already delivered to us."""
        if self._connected:
            self.client.unsubscribe(subscription(self.group))
            self._unsubscribed.wait(5)
        while self._step(timeout=0.2):
            pass

    def _step(self, timeout: float) -> bool:
        """Take what is waiting (up to a batch), commit it, then acknowledge it; False when nothing came."""
        try:
            first = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return False
        batch, taken, now = Batch(), [first], time.time()
        route(batch, first[0], first[1], now)
        while len(batch.readings) < self.config.batch_size:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            taken.append(item)
            route(batch, item[0], item[1], now)
        if not self._commit(batch):
            return False
        for _topic, _payload, mid, qos in taken:
            if qos > 0:
                self.client.ack(mid, qos)
        self._count(batch)
        self.lake.add(batch.readings)
        return True

    def _count(self, batch: Batch) -> None:
        self.stats.messages += batch.messages
        self.stats.readings += len(batch.readings)
        self.stats.rejected += len(batch.rejected)
        self.stats.batches += 1

    def _commit(self, batch: Batch) -> bool:
        """Write the batch, retrying with capped, jittered backoff while the database is away.

        Returns False only when asked to stop mid-outage: the batch stays unacknowledged and the broker
        redelivers it to this session later, so nothing is lost and (the insert being idempotent) nothing doubles.
        """
        delay, down = 0.25, False
        while True:
            try:
                store.write(self.engine, batch)
            except WarehouseUnavailableError as exc:
                if not down:
                    logger.warning("warehouse unavailable, pausing ingest: %s", exc)
                    down = True
                self.stats.retries += 1
                if self.stop.wait(delay * random.uniform(0.5, 1.0)):
                    return False
                delay = min(delay * 2, self.config.retry_max_s)
                continue
            if down:
                logger.info("warehouse back, ingest resumed after retries=%d", self.stats.retries)
            return True


def _migrate_when_reachable(engine: Any, stop: threading.Event, retry_max_s: float) -> bool:
    """Migrate, waiting (with capped backoff) while the database is away at start; False if stopped meanwhile."""
    delay, down = 0.5, False
    while True:
        try:
            migrate(engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            if not down:
                logger.warning("warehouse unreachable at start, waiting: %s", type(exc.orig).__name__)
                down = True
            if stop.wait(delay):
                return False
            delay = min(delay * 2, retry_max_s)
            continue
        return True


def run(settings: Settings, *, stop: threading.Event | None = None, group: str | None = None,
        client_id: str | None = None) -> IngestStats:
    """Run one ingest worker for `settings` until `stop` is set (forever when None); migrates the schema first."""
    config = cloud_config(settings)
    group = group or config.group
    stop = stop or threading.Event()
    engine = make_engine(settings.db_url)
    if not _migrate_when_reachable(engine, stop, config.retry_max_s):
        engine.dispose()
        return IngestStats()
    lake = LakeWriter(Path(settings.var) / "lake", flush_s=config.lake_flush_s, max_rows=config.lake_max_rows)
    worker = IngestWorker(settings.cloud_url, engine, lake, config, group=group, stop=stop,
                          client_id=client_id or f"cloud-{group}-{socket.gethostname()}"[:64])
    try:
        return worker.run()
    finally:
        engine.dispose()
