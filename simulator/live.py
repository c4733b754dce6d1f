"""Live mode: every device of one or more homes as its own MQTT client, all driven by one selector loop."""

from __future__ import annotations

import gc
import heapq
import logging
import random
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from protocol.config import DeviceType, HomeConfig
from protocol.errors import ConfigError
from protocol.kinds import Kind
from protocol.settings import Settings
from protocol.topics import valid_id
from simulator.device import RESEND_BATCH, RESEND_SHARE, Ledger, LiveDevice, LiveStats, Shared
from simulator.model import Frame, HomeModel
from simulator.options import Faults, simulator_section
from simulator.readings import complete, initial_counters
from simulator.signals import Bools

logger = logging.getLogger(__name__)
CHUNK = 300  # ticks of model evaluated in one vectorised call
LATE = 0.25  # a tick is late when it starts more than this share of a tick after its time
BURST = 50  # socket events handled between two looks at the tick schedule
INTRUDER_AFTER = 10.0  # s of simulated time after the start when an injected intruder comes in


class SimulatorError(RuntimeError):
    """The simulator cannot run (e.g. the broker is unreachable at start)."""


class LiveHome:
    """One home's model, energy counters and devices; `tick` makes the devices report what changed."""

    def __init__(self, config: HomeConfig, home: str, number: int, *, seed: int, step: float, sim_start: float,
                 intruder: bool, base_load_w: float) -> None:
        intrusions = [sim_start + INTRUDER_AFTER] if intruder else []
        self.config, self.home, self.step = config, home, step
        self.model = HomeModel(config, seed, home, intrusions, base_load_w)
        self.counters = initial_counters(config, seed, home)
        self.chunk_len = CHUNK + 7 * number  # homes refill their chunks at different ticks
        self.chunk: Frame | None = None
        self.chunk_start = 0.0
        self.last_sim: float | None = None
        self.devices: list[LiveDevice] = []

    def _frame(self, sim: float) -> Frame:
        """The model at simulated time `sim`, from a precomputed chunk."""
        index = -1 if self.chunk is None else round((sim - self.chunk_start) / self.step)
        if self.chunk is None or not 0 <= index < self.chunk_len:
            self.chunk = self.model.frame(sim + np.arange(self.chunk_len) * self.step)
            self.chunk_start, index = sim, 0
        return self.chunk.at(index)

    def _switches(self, frame: Frame) -> dict[str, Bools]:
        """Switch states set by commands: a plug's relay; a light's command until someone flips it by hand."""
        switches: dict[str, Bools] = {}
        for dev in self.devices:
            if dev.spec.type is DeviceType.PLUG:
                switches[dev.spec.id] = np.array([dev.relay])
            elif dev.spec.type is DeviceType.LIGHT and dev.command is not None:
                by_hand = bool(frame.values[dev.spec.id][Kind.SWITCH][0])
                if dev.command_model is None:
                    dev.command_model = by_hand
                if by_hand != dev.command_model:
                    dev.command = None
                else:
                    switches[dev.spec.id] = np.array([dev.command])
        return switches

    def tick(self, now: float, sim: float, wall: float, only: LiveDevice | None = None) -> None:
        """Evaluate the home at `sim`; devices whose readings changed or whose heartbeat is due report."""
        frame = self._frame(sim)
        elapsed = 0.0 if only is not None or self.last_sim is None else sim - self.last_sim
        if only is None:
            self.last_sim = sim
        values, keys = complete(self.config, frame, self._switches(frame), self.counters, elapsed)
        for dev in [only] if only is not None else self.devices:
            key = int(keys[dev.spec.id][0])
            if only is not None or dev.due(key, now):
                dev.emit([values[dev.spec.id][k][0] for k in dev.spec.kinds], key, now, wall)


class Loop:
    """The selector loop: reads and writes of every client, and one log line when the broker goes and comes back."""

    def __init__(self, stats: LiveStats) -> None:
        self.selector = selectors.DefaultSelector()
        self.stats = stats
        self.socks: dict[LiveDevice, socket.socket] = {}
        self.writing: set[LiveDevice] = set()
        self.online: set[LiveDevice] = set()
        self.total = 0
        self.down_logged = False
        self.stopping = False

    def on_socket(self, dev: LiveDevice, sock: socket.socket | None) -> None:
        """paho opened or is closing a device's socket: (un)register it."""
        old = self.socks.pop(dev, None)
        if old is not None:
            self.selector.unregister(old)
            self.writing.discard(dev)
        if sock is not None:
            self.socks[dev] = sock
            self.selector.register(sock, selectors.EVENT_READ, dev)

    def on_link(self, dev: LiveDevice, up: bool) -> None:
        """Count devices online; log the first loss and the full recovery once each."""
        (self.online.add if up else self.online.discard)(dev)
        self.stats.online = len(self.online)
        if up:
            if self.down_logged and len(self.online) == self.total:
                logger.info("edge broker reachable again: all %d devices online", self.total)
                self.down_logged = False
        elif not self.down_logged and not self.stopping:
            logger.warning("edge broker connection lost: %d of %d devices offline, reconnecting",
                           self.total - len(self.online), self.total)
            self.down_logged = True

    def flush(self, dev: LiveDevice) -> None:
        """Write what paho has queued; wait for the socket to be writable if the kernel buffer is full."""
        client = dev.client
        if client.want_write():
            client.loop_write()
        sock = self.socks.get(dev)
        if sock is None:
            return
        wants = client.want_write()
        if wants != (dev in self.writing):
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wants else 0)
            self.selector.modify(sock, events, dev)
            (self.writing.add if wants else self.writing.discard)(dev)

    def poll(self, timeout: float, between: Callable[[], None] = lambda: None) -> list[LiveDevice]:
        """Handle socket events for up to `timeout` s, calling `between` every few events (a burst of watermarks
        must not hold up due ticks); returns devices that received a command."""
        answered = []
        for count, (key, mask) in enumerate(self.selector.select(timeout), 1):
            dev: LiveDevice = key.data
            self._handle(dev, mask)
            if dev.answer_pending:
                dev.answer_pending = False
                answered.append(dev)
            if count % BURST == 0:
                between()
        return answered

    def _handle(self, dev: LiveDevice, mask: int) -> None:
        """Let paho read and write what the socket is ready for."""
        if mask & selectors.EVENT_READ:
            dev.client.loop_read()
            sock = self.socks.get(dev)
            # TLS: records already decrypted into the SSL object's buffer raise no socket event of their own.
            while isinstance(sock, ssl.SSLSocket) and sock.pending() and dev in self.socks:
                dev.client.loop_read()
        if mask & selectors.EVENT_WRITE and dev in self.socks:
            dev.client.loop_write()
        self.flush(dev)


def _home_ids(base: str, homes: int) -> list[str]:
    """`base` for one home, else `base-1` .. `base-N`."""
    if homes < 1:
        raise ConfigError(f"--homes must be at least 1, got {homes}")
    ids = [base] if homes == 1 else [f"{base}-{n}" for n in range(1, homes + 1)]
    if not all(valid_id(i) for i in ids):
        raise ConfigError(f"--homes: home id {ids[-1]!r} would exceed [a-z0-9-]{{1,40}}")
    return ids


def build(settings: Settings, *, interval: float, speed: float, homes: int, seed: int | None, faults: Faults,
          intruder: bool, ledger: Ledger | None, loop: Loop, exclude: frozenset[str] = frozenset()) -> list[LiveHome]:
    """Create the homes and their devices (not yet connected); `exclude` names devices played by others."""
    if interval <= 0 or speed <= 0:
        raise ConfigError(f"--interval and --speed must be positive, got {interval} and {speed}")
    unknown = sorted(d for d in exclude if settings.home.device(d) is None)
    if unknown:
        raise ConfigError(f"--exclude: {', '.join(unknown)} not in {settings.config_path}")
    section = simulator_section(settings.home, str(settings.config_path))
    base_seed = section.seed if seed is None else seed
    shared = Shared(settings.edge_url, section.fw, interval, section.outbox_size, section.resend_timeout_s, faults,
                    random.Random(base_seed), loop.stats, ledger, loop.on_socket, loop.on_link)
    step = min(interval, 1.0) * speed
    sim_start = time.time()
    result = []
    for number, home in enumerate(_home_ids(settings.home_id, homes)):
        live = LiveHome(settings.home, home, number, seed=base_seed + number, step=step, sim_start=sim_start,
                        intruder=intruder, base_load_w=section.base_load_w)
        live.devices = [LiveDevice(d, home, d.id if homes == 1 else f"{home}-{d.id}", shared)
                        for d in settings.home.devices if d.id not in exclude]
        result.append(live)
    loop.total = sum(len(h.devices) for h in result)
    return result


def run_live(settings: Settings, *, interval: float = 5.0, speed: float = 1.0, homes: int = 1,
             ledger: Path | None = None, faults: Faults | None = None, stop: threading.Event,
             seed: int | None = None, intruder: bool = False, stats: LiveStats | None = None,
             exclude: frozenset[str] = frozenset()) -> LiveStats:
    """Run the live simulator until `stop` is set; returns (and fills `stats` with) what it did.

    Every device of `homes` copies of the home is its own MQTT client (client id = device id, or `{home}-{device}`
    with several homes), driven from this thread. `speed` > 1 runs the model's clock faster (energy counters follow
    it); `ts` on the wire stays the wall clock, so the gateway's skew check keeps passing. Overdue messages are
    resent only once a watermark for the current boot has arrived: without a gateway nobody could store them, and
    the outbox is resent on every reconnect anyway. Raises SimulatorError when the broker is unreachable at start
    and ConfigError for bad options.
    """
    stats = stats if stats is not None else LiveStats()
    loop = Loop(stats)
    try:
        stream = ledger.open("a", encoding="utf-8") if ledger is not None else None
    except OSError as exc:
        raise ConfigError(f"--ledger {ledger}: cannot open ({exc.strerror})") from exc
    try:
        homes_ = build(settings, interval=interval, speed=speed, homes=homes, seed=seed, faults=faults or Faults(),
                       intruder=intruder, ledger=Ledger(stream) if stream else None, loop=loop, exclude=exclude)
        try:
            _connect_all(homes_, settings)
            # Thousands of long-lived client objects would make every full collection a pause of many ticks.
            gc.collect()
            gc.freeze()
            logger.info("simulator live homes=%d devices=%d broker=%s interval=%s speed=%s", len(homes_),
                        loop.total, settings.edge_url, interval, speed)
            Runner(homes_, loop, tick=min(interval, 1.0), speed=speed, stream=stream).run(stop)
        finally:
            loop.stopping = True
            for home in homes_:
                for dev in home.devices:
                    dev.stop()
            _drain(loop, 3.0)
    finally:
        if stream is not None:
            stream.close()
    return stats


def _connect_all(homes: list[LiveHome], settings: Settings) -> None:
    """Connect every device; an unreachable broker at the very start is an error, later it is retried."""
    now = time.monotonic()
    for home in homes:
        for dev in home.devices:
            dev.connect(now)
            if dev is homes[0].devices[0] and dev.retry_at != float("inf"):
                raise SimulatorError(f"edge broker {settings.edge_url} is not reachable (is it running?)")


class Runner:
    """The loop itself: socket events, home ticks spread evenly over each tick, once a second the devices' chores."""

    def __init__(self, homes: list[LiveHome], loop: Loop, *, tick: float, speed: float,
                 stream: IO[str] | None) -> None:
        self.homes, self.loop, self.stats = homes, loop, loop.stats
        self.tick, self.speed, self.stream = tick, speed, stream
        self.start, self.sim_start = time.monotonic(), time.time()
        self.queue = [(self.start + tick * n / len(homes), n) for n in range(len(homes))]
        heapq.heapify(self.queue)
        self.chores_at = self.start + 1.0
        self.owner = {dev: home for home in homes for dev in home.devices}

    def sim(self, now: float) -> float:
        """Simulated time at monotonic time `now` (it runs `speed` times faster than real time)."""
        return self.sim_start + (now - self.start) * self.speed

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set."""
        while not stop.is_set():
            now = time.monotonic()
            timeout = max(0.0, min(self.queue[0][0], self.chores_at) - now)
            for dev in self.loop.poll(timeout, lambda: self._ticks(time.monotonic())):
                self.owner[dev].tick(time.monotonic(), self.sim(now), time.time(), only=dev)  # answer a command
                self.loop.flush(dev)
            now = time.monotonic()
            self._ticks(now)
            if now >= self.chores_at:
                self.chores_at = max(self.chores_at + 1.0, now + 0.5)
                self._chores(now)

    def _ticks(self, now: float) -> None:
        """Tick every home whose turn has come; a turn that starts late or never ran counts as late."""
        while self.queue[0][0] <= now:
            at, n = heapq.heappop(self.queue)
            home = self.homes[n]
            # Heartbeats are judged on the schedule, so a tick that starts a little late does not skip one.
            home.tick(at, self.sim(now), time.time())
            for dev in home.devices:
                self.loop.flush(dev)
            missed = max(0, int((now - at) / self.tick))
            self.stats.ticks += len(home.devices) * (1 + missed)
            self.stats.late_ticks += len(home.devices) * (missed + (now - at > LATE * self.tick))
            heapq.heappush(self.queue, (at + self.tick * (1 + missed), n))

    def _chores(self, now: float) -> None:
        """Keepalives, reconnects, overdue resends; outbox gauges; the ledger flushed."""
        kept = dropped = 0
        shared = next(iter(self.owner)).shared
        shared.resend_budget = max(RESEND_BATCH, int(RESEND_SHARE * len(self.owner) / shared.interval))
        for dev in self.owner:
            dev.service(now)
            self.loop.flush(dev)
            kept, dropped = kept + len(dev.outbox), dropped + dev.outbox.dropped
        self.stats.kept, self.stats.dropped = kept, dropped
        if self.stream is not None:
            self.stream.flush()


def _drain(loop: Loop, timeout: float) -> None:
    """Let goodbye messages and disconnects go out, for at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while loop.socks and time.monotonic() < deadline:
        loop.poll(0.05)
        for dev in list(loop.socks):
            loop.flush(dev)
