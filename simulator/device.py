"""One simulated device on MQTT: its client, boot and seq, outbox, watermark, commands, status and faults."""

from __future__ import annotations

import logging
import math
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.codec import decode_command, decode_watermark, encode
from protocol.config import Device, DeviceType
from protocol.endpoint import BrokerURL, make_client
from protocol.errors import ProtocolError
from protocol.kinds import KINDS, Kind
from protocol.messages import Reading, Status, Telemetry
from protocol.topics import Channel
from simulator.options import Faults
from simulator.outbox import Outbox

logger = logging.getLogger(__name__)
RESEND_BATCH = 20  # overdue messages resent per device per second, so a backlog never floods the broker
RESEND_SHARE = 0.25  # and per process at most this share of the devices' own rate: a slow gateway is not buried
MAX_BACKOFF = 30.0  # s between reconnect attempts at most
STATUS_EVERY = 10.0  # s: a changed drop count is republished in the status at most this often
OFFLINE = b'{"online":false}'  # the LWT and the goodbye, exactly as DESIGN.md writes it


@dataclass
class LiveStats:
    """Counters of a live run, read by tests and the benchmark."""

    generated: int = 0
    published: int = 0
    resent: int = 0
    acked: int = 0
    ticks: int = 0
    late_ticks: int = 0
    commands: int = 0
    online: int = 0  # devices connected to the broker
    kept: int = 0  # messages waiting in outboxes for a watermark, as of the last second
    dropped: int = 0  # messages dropped from full outboxes, as of the last second
    faults: dict[str, int] = field(default_factory=dict)


class Ledger:
    """Every key the simulator generated, one CSV line each: home, device, boot, seq, ts."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        if stream.tell() == 0:
            stream.write("home,device,boot,seq,ts\n")

    def write(self, home: str, device: str, boot: str, seq: int, ts: float) -> None:
        """Record one generated key."""
        self.stream.write(f"{home},{device},{boot},{seq},{ts:.3f}\n")


@dataclass
class Shared:
    """What every device of a run shares: broker, knobs, faults, ledger, stats and the event loop's hooks."""

    url: BrokerURL
    fw: str
    interval: float
    outbox_size: int
    resend_timeout: float
    faults: Faults
    rng: random.Random
    stats: LiveStats
    ledger: Ledger | None
    on_socket: Callable[[LiveDevice, socket.socket | None], None]
    on_link: Callable[[LiveDevice, bool], None]
    resend_budget: int = 0  # overdue resends left this second, for the whole process


def payload_for(device: str, boot: str, seq: int, *, ts: float, kinds: tuple[Kind, ...], values: list[Any]) -> bytes:
    """The telemetry JSON for one set of readings, rounded to each kind's precision."""
    readings = tuple(
        Reading(k, bool(v)) if KINDS[k].boolean else Reading(k, round(float(v), KINDS[k].precision), KINDS[k].unit)
        for k, v in zip(kinds, values, strict=True)
    )
    return encode(Telemetry(v=1, device=device, boot=boot, seq=seq, readings=readings, ts=round(ts, 3)))


class LiveDevice:
    """A device of a live home: generates messages, keeps them until acknowledged, obeys `set`."""

    def __init__(self, spec: Device, home: str, client_id: str, shared: Shared) -> None:
        self.spec, self.home, self.client_id, self.shared = spec, home, client_id, shared
        self.boot = secrets.token_hex(4)
        self.seq = 1  # the contract: seq counts from 1 each boot (the gateway treats 0 as below the first)
        self.outbox = Outbox(shared.outbox_size, shared.resend_timeout)
        self.connected = False
        self.watermark_seen = False
        self.retry_at = 0.0
        self.backoff = 1.0
        self.last_key: int | None = None
        self.last_sent = -math.inf
        self.relay = True
        self.command: bool | None = None  # a light's commanded state, until someone flips it by hand
        self.command_model: bool | None = None
        self.answer_pending = False
        self.held: list[bytes] = []
        self._started = False
        self._warned: set[str] = set()
        self._status_dropped = 0
        self._status_at = -math.inf
        self.topic = topics.edge(home, spec.id, Channel.TELEMETRY)
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        # MQTT 3.1.1 like the firmware: v5 properties cost paho more CPU per packet than the rest of the publish.
        client = make_client(self.shared.url, self.client_id, v5=False)
        client.will_set(topics.edge(self.home, self.spec.id, Channel.STATUS), OFFLINE, 1, True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = lambda _c, _u, sock: self.shared.on_socket(self, sock)  # type: ignore[arg-type]
        client.on_socket_close = lambda _c, _u, _s: self.shared.on_socket(self, None)
        return client

    def connect(self, now: float) -> None:
        """Connect (first time) or reconnect; on failure retry later with backoff and jitter."""
        try:
            if self._started:
                self.client.reconnect()
            else:
                self._started = True
                self.client.connect(self.shared.url.host, self.shared.url.port, keepalive=30)
            self.retry_at = math.inf  # waiting for CONNACK
        except OSError as exc:
            logger.debug("connect failed device=%s: %s", self.client_id, exc)
            self.retry_at = now + self.backoff + self.shared.rng.random()
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._warn_once("refused", "broker refused device=%s: %s", self.client_id, reason)
            self.retry_at = time.monotonic() + self.backoff + self.shared.rng.random()
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            return
        self.connected, self.backoff = True, 1.0
        # A watermark may be lost (the next one supersedes it), so QoS 0 spares a PUBACK per watermark.
        client.subscribe([(topics.edge(self.home, self.spec.id, Channel.ACK), 0),
                          (topics.edge(self.home, self.spec.id, Channel.SET), 1)])
        self.publish_status()
        resend = self.outbox.everything(time.monotonic())
        for item in resend:
            self.shared.stats.resent += item.sent
            item.sent = self._send(item.payload)
        self.shared.on_link(self, True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was = self.connected
        self.connected = False
        if self.retry_at == math.inf:
            self.retry_at = 0.0
        if was:
            logger.debug("device offline device=%s reason=%s", self.client_id, reason)
            self.shared.on_link(self, False)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic.endswith("/ack"):
                mark = decode_watermark(bytes(msg.payload))
                if mark.boot == self.boot:
                    self.watermark_seen = True
                    self.shared.stats.acked += self.outbox.ack(mark.seq)
            elif msg.topic.endswith("/set"):
                self._obey(decode_command(bytes(msg.payload)).switch)
        except ProtocolError as exc:
            self._warn_once(exc.reason, "ignored bad message device=%s topic=%s: %s", self.client_id, msg.topic, exc)

    def _warn_once(self, cause: str, text: str, *args: object) -> None:
        """Log a problem the first time this device meets it; later ones only at debug level."""
        level = logging.DEBUG if cause in self._warned else logging.WARNING
        self._warned.add(cause)
        logger.log(level, text, *args)

    def _obey(self, switch: bool | None) -> None:
        """Apply a `set` command; the home answers with telemetry at once."""
        if switch is None or not self.spec.switchable:
            return
        self.shared.stats.commands += 1
        if self.spec.type is DeviceType.PLUG:
            self.relay = switch
        else:
            self.command, self.command_model = switch, None
        self.answer_pending = True

    def publish_status(self) -> None:
        """The retained status: online, firmware, boot, messages dropped from a full outbox, heartbeat."""
        status = Status(online=True, fw=self.shared.fw, boot=self.boot, dropped=self.outbox.dropped,
                        interval=self.shared.interval, ts=round(time.time(), 3))
        self.client.publish(topics.edge(self.home, self.spec.id, Channel.STATUS), encode(status), 1, True)
        self._status_dropped = self.outbox.dropped

    def due(self, key: int, now: float) -> bool:
        """True when the readings changed or the heartbeat is due."""
        return key != self.last_key or now - self.last_sent >= self.shared.interval - 0.05

    def emit(self, values: list[Any], key: int, now: float, wall: float) -> None:
        """Generate one message (a new key), keep it in the outbox and send it, faults permitting."""
        faults, rng = self.shared.faults, self.shared.rng
        payload = payload_for(self.spec.id, self.boot, self.seq, ts=wall, kinds=self.spec.kinds, values=values)
        if self.shared.ledger is not None:
            self.shared.ledger.write(self.home, self.spec.id, self.boot, self.seq, round(wall, 3))
        self.shared.stats.generated += 1
        self.last_key, self.last_sent = key, now
        delay = rng.uniform(30.0, 90.0) if faults.late and rng.random() < faults.late else 0.0
        # A late message is kept unsent until its delay has passed; the outbox then sends it as overdue.
        item = self.outbox.add(self.seq, payload, now, delay=delay - self.shared.resend_timeout if delay else 0.0)
        self.seq += 1
        if delay:
            self._count("late")
        elif faults.reorder and rng.random() < faults.reorder:
            self._count("reorder")
            self.held.append(payload)  # goes out right after the next message
            item.sent = True
        else:
            item.sent = self._send(payload)
            for held in self.held:
                self._send(held)
            self.held.clear()
        self._inject(payload, now)

    def _inject(self, payload: bytes, now: float) -> None:
        """Duplicates, malformed messages and dropouts, each at its configured rate."""
        faults, rng = self.shared.faults, self.shared.rng
        if faults.duplicate and rng.random() < faults.duplicate:
            self._count("duplicate")
            self._send(payload)
        if faults.malformed and rng.random() < faults.malformed:
            self._count("malformed")
            self._send(payload[: rng.randrange(1, len(payload))])
        if faults.dropout and rng.random() < faults.dropout and self.connected:
            self._count("dropout")
            self.drop(now, rng.uniform(10.0, 60.0))

    def _count(self, fault: str) -> None:
        self.shared.stats.faults[fault] = self.shared.stats.faults.get(fault, 0) + 1

    def _send(self, payload: bytes) -> bool:
        if not self.connected:
            return False
        self.client.publish(self.topic, payload, qos=1)
        self.shared.stats.published += 1
        return True

    def drop(self, now: float, seconds: float) -> None:
        """Lose the connection abruptly (the broker publishes the LWT) and stay away for `seconds`."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
        self.retry_at = now + seconds

    def service(self, now: float) -> None:
        """Once a second: keepalive, reconnect when due, resend overdue messages, republish a changed drop count."""
        if self.connected:
            self.client.loop_misc()
            # Without any watermark there is no gateway to resend to: wait for a reconnect instead.
            limit = min(RESEND_BATCH, self.shared.resend_budget)
            for item in self.outbox.overdue(now, limit, resend=self.watermark_seen) if limit > 0 else ():
                self.shared.stats.resent += item.sent
                self.shared.resend_budget -= item.sent
                item.sent = self._send(item.payload)
            if self.outbox.dropped != self._status_dropped and now - self._status_at >= STATUS_EVERY:
                self._status_at = now
                self.publish_status()
        elif now >= self.retry_at:
            self.connect(now)

    def stop(self) -> None:
        """Say goodbye: a retained offline status (the LWT is only for crashes), then disconnect."""
        if self.connected:
            for held in self.held:  # a message held back to reorder it must still go out
                self._send(held)
            self.held.clear()
            self.client.publish(topics.edge(self.home, self.spec.id, Channel.STATUS), OFFLINE, 1, True)
            self.client.disconnect()
