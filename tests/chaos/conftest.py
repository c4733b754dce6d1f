"""The chaos harness: a whole pipeline of its own per test (brokers, gateway and ingest as processes, the simulator
in a thread), faults injected on the fly, then a drain and the reconciliation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iotpipe.broker import Mosquitto, free_port
from protocol.settings import REPO_ROOT, load_settings
from simulator import Faults, run_live
from simulator.device import LiveStats
from tests.chaos.reconcile import Counters, Reconciliation, parse_metrics, read_ledgers, reconcile, stored_keys
from tests.support import wait_for

HOME = """[home]
id = "{home}"
name = "Chaos home"

[[rooms]]
id = "living"
name = "Living"

[[rooms]]
id = "kitchen"
name = "Kitchen"

[[devices]]
id = "climate-a"
type = "climate"
room = "living"

[[devices]]
id = "plug-a"
type = "plug"
room = "kitchen"
appliance = "kettle"
rated_power_w = 2200

[[devices]]
id = "door-a"
type = "contact"
room = "living"
opening = "door"

[[devices]]
id = "motion-a"
type = "motion"
room = "living"

[gateway]
metrics_port = 0
batch_wait_ms = 1
backoff_min_s = 0.05
backoff_max_s = 0.5
keepalive_s = 5

[alarm]
intake = {{ http_port = 0, coap_port = 0 }}

[simulator]
resend_timeout_s = 2.0
"""


class Service:
    """One service as a child process of its own, output appended to a log file; SIGKILL/SIGTERM and restart."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log: Path, ready: Callable[[Service], object]
    ) -> None:
        self.name, self.args, self.env, self.log, self.ready = name, args, env, log, ready
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait until `ready` says so."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
            )
        wait_for(lambda: self.alive() and self.ready(self), timeout=30, what=f"{self.name} ready: {self.tail()}")

    def alive(self) -> bool:
        """True while the process runs; a process that died on its own fails the test with its log."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} died: {self.tail()}"
        return True

    def signal(self, sig: signal.Signals) -> int:
        """Send `sig` and wait for the exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def tail(self, lines: int = 15) -> str:
        """The last lines of the log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return " | ".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Kill whatever is left (end of test)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Gateway(Service):
    """The gateway process with a known metrics port; its counters are scraped before every kill and summed."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        super().__init__(
            "gateway",
            ["-m", "gateway", "--config", str(config), "--metrics-port", str(self.port)],
            env,
            log,
            lambda s: b'"subscribed": true' in self.page("/healthz"),
        )
        self.total = Counters()
        self.last = Counters()

    def page(self, path: str) -> bytes:
        """A page of the metrics server ('' while it is not up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return bytes(response.read())
        except OSError:
            return b""

    def scrape(self) -> Counters:
        """The current life's counters (kept as the last known value)."""
        text = self.page("/metrics").decode()
        if text:
            self.last = parse_metrics(text)
        return self.last

    def outbox_rows(self) -> float:
        """`gateway_outbox_rows` now."""
        for line in self.page("/metrics").decode().splitlines():
            if line.startswith("gateway_outbox_rows "):
                return float(line.split()[1])
        return -1.0

    def end_life(self, sig: signal.Signals) -> int:
        """Scrape, then stop this life with `sig`; its counters join the total."""
        self.scrape()
        code = self.signal(sig)
        self.total.add(self.last)
        self.last = Counters()
        return code


class Simulator:
    """The live simulator in a thread of this process, with a ledger; `generated` counts what it made so far."""

    def __init__(self, config: Path, edge: Mosquitto, ledger: Path, interval: float, faults: str) -> None:
        self.settings = load_settings(config, edge_url=edge.url, env={})
        self.ledger, self.interval, self.faults = ledger, interval, Faults.parse(faults)
        self.stats = LiveStats()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="chaos-simulator", daemon=True)

    def _run(self) -> None:
        try:
            run_live(
                self.settings,
                interval=self.interval,
                ledger=self.ledger,
                faults=self.faults,
                stop=self.stopping,
                stats=self.stats,
            )
        except BaseException as exc:  # reported by `stop()` in the test's thread
            self.error = exc

    def start(self) -> None:
        """Start generating and wait for the first messages."""
        self.thread.start()
        wait_for(lambda: self.error or self.stats.generated > 0, what="the simulator's first message")
        assert self.error is None, self.error

    def after(self, more: int, what: str = "more messages") -> None:
        """Wait until the devices generated `more` messages beyond now (the stream goes on meanwhile)."""
        target = self.stats.generated + more
        wait_for(lambda: self.error or self.stats.generated >= target, timeout=60 + more / 10, what=what)

    def stop(self) -> None:
        """Stop the devices (they say goodbye) and close the ledger."""
        self.stopping.set()
        self.thread.join(30)
        assert self.error is None, self.error


class Pipeline:
    """Edge and cloud brokers, gateway, ingest and simulator of one test; `finish()` drains and reconciles."""

    def __init__(self, tmp: Path, home: str, make_broker: Callable[..., Mosquitto]) -> None:
        self.tmp, self.var = tmp, tmp / "var"
        self.config = tmp / "home.toml"
        self.config.write_text(HOME.format(home=home))
        self.edge, self.cloud = make_broker("edge"), make_broker("cloud")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
        env |= {
            "IOTPIPE_EDGE_URL": self.edge.url,
            "IOTPIPE_CLOUD_URL": self.cloud.url,
            "IOTPIPE_VAR": str(self.var),
            "IOTPIPE_HOME_CONFIG": str(self.config),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        self.warehouse = self.var / "warehouse.db"
        self.gateway_db = self.var / "gateway" / "gateway.db"
        self.gateway = Gateway(self.config, env, tmp / "gateway.log")
        self.ingest = Service(
            "ingest",
            ["-m", "iotpipe", "cloud", "ingest", "--client-id", "chaos-ingest"],
            env,
            tmp / "ingest.log",
            lambda s: "cloud broker connected" in s.tail(),
        )
        self.ledgers: list[Path] = []
        self.simulator: Simulator | None = None
        self.last_fault: tuple[float, float] | None = None  # wall clock at the start and end of the last fault
        self.fault_at = 0.0
        self._progress, self._moved_at = (-1, -1.0), time.monotonic()

    def start(self, interval: float = 0.2, faults: str = "") -> Simulator:
        """Ingest, then the gateway, then the simulator with a fresh ledger."""
        self.ingest.start()
        self.gateway.start()
        self.ledgers.append(self.tmp / f"ledger-{len(self.ledgers)}.csv")
        self.simulator = Simulator(self.config, self.edge, self.ledgers[-1], interval, faults)
        self.simulator.start()
        return self.simulator

    def fault_starts(self) -> None:
        """Mark the start of a fault (wall clock, as the ledger's ts)."""
        self.fault_at = time.time()

    def fault_over(self) -> None:
        """Mark the end of a fault: the recovery time is that of the last one."""
        self.last_fault = (self.fault_at, time.time())

    def drained(self, stall: float) -> str:
        """'drained' when every generated key is in the warehouse and the gateway's outbox is empty; 'stalled'
        when neither the warehouse nor the outbox moved for `stall` s (device resends come every few seconds);
        else '' (still draining)."""
        wanted = set(read_ledgers(p for p in self.ledgers if p.exists()))
        stored = stored_keys(self.warehouse) if self.warehouse.exists() else set()
        rows = self.gateway.outbox_rows()
        if wanted <= stored and rows == 0:
            return "drained"
        now = time.monotonic()
        if (len(stored), rows) != self._progress:
            self._progress, self._moved_at = (len(stored), rows), now
        return "stalled" if now - self._moved_at > stall else ""

    def finish(self, name: str, stall: float = 20.0) -> Reconciliation:
        """Stop the simulator, wait for the drain (or a stall), stop the services cleanly, reconcile, print."""
        assert self.simulator is not None
        self.simulator.stop()
        self._progress, self._moved_at = (-1, -1.0), time.monotonic()
        state = wait_for(lambda: self.drained(stall), timeout=120, what="the pipeline to drain or stall")
        assert self.gateway.end_life(signal.SIGTERM) == 0, self.gateway.tail()
        assert self.ingest.signal(signal.SIGTERM) == 0, self.ingest.tail()
        result = reconcile(
            name,
            self.ledgers,
            warehouse=self.warehouse,
            gateway_db=self.gateway_db,
            counters=self.gateway.total,
            fault=self.last_fault,
        )
        print(result.line() + ("" if state == "drained" else f" (stalled: nothing moved for {stall:.0f} s)"))
        return result

    def close(self) -> None:
        """End of test: stop the simulator and kill what is left."""
        if self.simulator is not None and not self.simulator.stopping.is_set():
            self.simulator.stopping.set()
            self.simulator.thread.join(30)
        self.gateway.stop()
        self.ingest.stop()


@pytest.fixture
def pipeline(tmp_path: Path, home_id: str, make_broker: Callable[..., Mosquitto]) -> Iterator[Pipeline]:
    """A fresh pipeline for this test; everything it started is stopped at the end."""
    made = Pipeline(tmp_path, home_id, make_broker)
    yield made
    made.close()
