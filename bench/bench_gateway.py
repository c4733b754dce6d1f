"""Gateway figures: loss-free throughput with QoS 1 + durable outbox + uplink, CPU µs/msg, RSS, broker drops,
beside Node-RED doing json -> dedup -> threshold -> mqtt out under the same load (prints, never asserts).

Run: .venv/bin/python -m bench.bench_gateway [--messages 100000] [--devices 20] [--skip-node-red]
Everything runs on loopback: private edge and cloud Mosquittos on free ports, the gateway as its own process
(`python -m gateway`) so its CPU time and RSS are its own. Node-RED 4 is installed with npm into
var/bench/node-red on first use; without Node.js that half is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.fastsock import BufferedClient
from iotpipe.broker import Mosquitto, free_port
from protocol.settings import REPO_ROOT

NODE_RED_DIR = REPO_ROOT / "var" / "bench" / "node-red"
TICKS = os.sysconf("SC_CLK_TCK")
WINDOW = 20_000  # publishes a load generator keeps open at once
SYS_EXTRA = "sys_interval 1\n"  # $SYS/broker/publish/messages/dropped once a second, to count broker drops


class Key(msgspec.Struct):
    """The identity of a reading; everything else in the uplink is ignored when counting."""

    device: str
    boot: str
    seq: int


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_rss(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


class CloudCounter:
    """Counts distinct reading keys arriving on `up/{home}/#` (single messages and batch arrays)."""

    def __init__(self, broker: Mosquitto, home: str) -> None:
        self.seen: set[tuple[str, str, int]] = set()
        self.messages = 0
        self.repeats = 0
        self._one = msgspec.json.Decoder(Key)
        self._many = msgspec.json.Decoder(list[Key])
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-cloud-{home}", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(f"up/{home}/+/telemetry", 1), (f"up/{home}/batch", 1)])
        ready.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.messages += 1
        payload = message.payload
        keys = self._many.decode(payload) if payload[:1] == b"[" else [self._one.decode(payload)]
        for key in keys:
            item = (key.device, key.boot, key.seq)
            if item in self.seen:
                self.repeats += 1
            self.seen.add(item)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, home: str, devices: int, count: int, result: Any, go: Any) -> None:  # noqa: PLR0917
    """A device fleet in one process: QoS 1 as fast as paho goes; payloads built before the clock starts.

    It uses the gateway's read-buffered paho client: with paho's own, reading the PUBACKs caps the offer."""
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{home}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    boot = os.urandom(4).hex()
    now = time.time()
    messages = []
    for i in range(count):
        device = f"dev-{i % devices}"
        seq = i // devices + 1
        value = round(18 + (i % 170) / 10, 1)
        body = {
            "v": 1,
            "device": device,
            "boot": boot,
            "seq": seq,
            "ts": now,
            "readings": [
                {"kind": "temperature", "value": value, "unit": "°C"},
                {"kind": "humidity", "value": 45.0, "unit": "%"},
            ],
        }
        messages.append((f"iot/{home}/{device}/telemetry", msgspec.json.encode(body)))
    result.put("ready")
    go.wait()
    started = time.perf_counter()
    infos: list[mqtt.MQTTMessageInfo] = []
    for index, (topic, payload) in enumerate(messages):
        if index >= WINDOW:  # paho refuses (ERR_QUEUE_SIZE) a mid still in use: stay well below 65,535 open
            infos[index - WINDOW].wait_for_publish(120)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos[-WINDOW:]:
        info.wait_for_publish(120)
    result.put(time.perf_counter() - started)
    client.disconnect()
    client.loop_stop()


def broker_dropped(broker: Mosquitto) -> int:
    """Mosquitto's own count of messages it dropped (queue full and the like)."""
    found = threading.Event()
    value = [0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        value[0] = int(message.payload or b"0")
        found.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe("$SYS/broker/publish/messages/dropped")
    client.loop_start()
    found.wait(3)
    client.disconnect()
    client.loop_stop()
    return value[0]


@dataclass
class Run:
    """Figures of one system under one load."""

    name: str
    sent: int
    received: int
    repeats: int
    offered_s: float
    delivered_s: float
    cpu_s: float
    rss_peak_mib: float
    rss_end_mib: float
    dropped_edge: int
    dropped_cloud: int

    def show(self) -> str:
        lost = self.sent - self.received
        return (
            f"{self.name:<10} {self.sent:>8} msgs  offered {self.sent / self.offered_s:>7.0f}/s  "
            f"delivered {self.received / self.delivered_s:>7.0f}/s  lost {lost}  repeats {self.repeats}  "
            f"CPU {self.cpu_s / self.sent * 1e6:>5.1f} µs/msg  RSS peak {self.rss_peak_mib:.1f} MiB "
            f"(end {self.rss_end_mib:.1f})  broker drops edge {self.dropped_edge} cloud {self.dropped_cloud}"
        )


def load(  # noqa: PLR0917
    name: str, pid: int, edge: Mosquitto, cloud: Mosquitto, home: str, count: int, devices: int, *, burst: bool = False
) -> Run:
    """Offer `count` messages at full speed and wait until the cloud has them all (or progress stops).

    live: the publisher and the system under test share the two cores. burst: the system is frozen (SIGSTOP,
    its connections stay open) while the publisher fills the broker, then thawed: the broker is then the fastest
    source this machine has, and the figures are the system's own capacity.
    """
    counter = CloudCounter(cloud, home)
    drops = (broker_dropped(edge), broker_dropped(cloud))
    spawn = multiprocessing.get_context("spawn")
    result: Any = spawn.Queue()
    go: Any = spawn.Event()
    publisher = spawn.Process(target=publish, args=(edge.port, home, devices, count, result, go))
    publisher.start()
    result.get(timeout=600)  # payloads are built before the clock and the CPU window start
    if burst:
        os.kill(pid, signal.SIGSTOP)
        go.set()
        offered = result.get(timeout=600)
        cpu0, started = process_cpu(pid), time.perf_counter()
        os.kill(pid, signal.SIGCONT)
    else:
        cpu0, started = process_cpu(pid), time.perf_counter()
        go.set()
    peak, last, last_change = 0.0, -1, time.monotonic()
    while len(counter.seen) < count and time.monotonic() - last_change < 30:
        peak = max(peak, process_rss(pid)[0])
        if len(counter.seen) != last:
            last, last_change = len(counter.seen), time.monotonic()
        time.sleep(0.05)
    delivered = time.perf_counter() - started
    cpu = process_cpu(pid) - cpu0
    offered = offered if burst else result.get(timeout=600)
    publisher.join()
    rss_end, hwm = process_rss(pid)
    counter.close()
    dropped = (broker_dropped(edge) - drops[0], broker_dropped(cloud) - drops[1])
    return Run(
        name, count, len(counter.seen), counter.repeats, offered, delivered, cpu, max(peak, hwm), rss_end, *dropped
    )


def home_toml(path: Path, home: str, devices: int, port: int) -> Path:
    """A home with `devices` climate sensors and the gateway's default settings (metrics on `port`)."""
    rows = "".join(f'[[devices]]\nid = "dev-{i}"\ntype = "climate"\nroom = "lab"\n\n' for i in range(devices))
    path.write_text(
        f'[home]\nid = "{home}"\nname = "Bench"\n\n[[rooms]]\nid = "lab"\nname = "Lab"\n\n{rows}'
        f"[gateway]\nmetrics_port = {port}\n"
    )
    return path


def start_gateway(tmp: Path, edge: Mosquitto, cloud: Mosquitto, home: str, devices: int) -> subprocess.Popen[bytes]:
    """`python -m gateway` for the bench home; returns once its subscriptions are in place."""
    port = free_port()
    config = home_toml(tmp / "home.toml", home, devices, port)
    env = {
        **os.environ,
        "IOTPIPE_EDGE_URL": edge.url,
        "IOTPIPE_CLOUD_URL": cloud.url,
        "IOTPIPE_VAR": str(tmp / "var"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    with (tmp / "gateway.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "--log-level", "WARNING"],
            env=env,
            stdout=log,
            stderr=log,
            cwd=REPO_ROOT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if json.loads(response.read()).get("subscribed"):
                    return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway did not start: {(tmp / 'gateway.log').read_text()[-2000:]}")


DEDUP_JS = """
const key = msg.payload.device + "/" + msg.payload.boot + "/" + msg.payload.seq;
let seen = context.get("seen");
if (!seen) { seen = new Set(); context.set("seen", seen); }
if (seen.has(key)) { return null; }
seen.add(key);
if (seen.size > 100000) { seen.delete(seen.values().next().value); }
return msg;
"""
THRESHOLD_JS = """
msg.alert = msg.payload.readings.some(r => r.kind === "temperature" && r.value > 30);
msg.payload.received_at = Date.now() / 1000;
msg.topic = "up/" + env.get("BENCH_HOME") + "/" + msg.payload.device + "/telemetry";
return msg;
"""


def node_red_flow(home: str, edge: Mosquitto, cloud: Mosquitto) -> list[dict[str, Any]]:
    """mqtt in (QoS 1) -> json -> dedup -> threshold -> mqtt out (QoS 1): the gateway's job without persistence."""

    def broker(node_id: str, server: Mosquitto) -> dict[str, Any]:
        return {
            "id": node_id,
            "z": "b0000000000001",
            "type": "mqtt-broker",
            "name": f"broker-{server.port}",
            "broker": server.host,
            "port": str(server.port),
            "clientid": f"nr-{server.port}-{home}",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "5",
            "keepalive": "60",
            "cleansession": True,
        }

    return [
        {"id": "b0000000000001", "type": "tab", "label": "bench"},
        broker("b0000000000002", edge),
        broker("b0000000000003", cloud),
        {
            "id": "b0000000000004",
            "type": "mqtt in",
            "z": "b0000000000001",
            "topic": f"iot/{home}/+/telemetry",
            "qos": "1",
            "datatype": "utf8",
            "broker": "b0000000000002",
            "nl": False,
            "rap": False,
            "inputs": 0,
            "wires": [["b0000000000005"]],
        },
        {
            "id": "b0000000000005",
            "type": "json",
            "z": "b0000000000001",
            "property": "payload",
            "action": "obj",
            "wires": [["b0000000000006"]],
        },
        {
            "id": "b0000000000006",
            "type": "function",
            "z": "b0000000000001",
            "func": DEDUP_JS,
            "outputs": 1,
            "wires": [["b0000000000007"]],
        },
        {
            "id": "b0000000000007",
            "type": "function",
            "z": "b0000000000001",
            "func": THRESHOLD_JS,
            "outputs": 1,
            "wires": [["b0000000000008"]],
        },
        {
            "id": "b0000000000008",
            "type": "mqtt out",
            "z": "b0000000000001",
            "topic": "",
            "qos": "1",
            "retain": "false",
            "broker": "b0000000000003",
            "wires": [],
        },
    ]


def node_red_script() -> Path | None:
    """Node-RED's red.js, installed with npm into var/bench/node-red on first use; None without Node.js."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    script = NODE_RED_DIR / "node_modules" / "node-red" / "red.js"
    if not script.exists():
        NODE_RED_DIR.mkdir(parents=True, exist_ok=True)
        print(f"installing Node-RED 4 into {NODE_RED_DIR} (once) ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "node-red@4"],
            cwd=NODE_RED_DIR,
            check=True,
            timeout=600,
        )
    return script


def start_node_red(script: Path, tmp: Path, edge: Mosquitto, cloud: Mosquitto, home: str) -> subprocess.Popen[bytes]:
    """Run the flow; returns once a probe reading has gone all the way through."""
    user = tmp / "node-red"
    user.mkdir(exist_ok=True)
    flows = user / "flows.json"
    flows.write_text(json.dumps(node_red_flow(home, edge, cloud)))
    command = ["node", str(script), "--userDir", str(user), "--port", str(free_port())]
    command += ["-D", "logging.console.level=warn", str(flows)]
    with (tmp / "node-red.log").open("ab") as log:
        proc = subprocess.Popen(command, env={**os.environ, "BENCH_HOME": home}, stdout=log, stderr=log)
    counter = CloudCounter(cloud, home)
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    probe.connect(edge.host, edge.port)
    probe.loop_start()
    deadline = time.monotonic() + 60
    seq = 0
    while not counter.seen and time.monotonic() < deadline and proc.poll() is None:
        body = {"v": 1, "device": "probe", "boot": "0000", "seq": seq, "readings": []}
        probe.publish(f"iot/{home}/probe/telemetry", json.dumps(body), qos=1)
        seq += 1
        time.sleep(0.5)
    probe.disconnect()
    probe.loop_stop()
    counter.close()
    if not counter.seen:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"Node-RED flow did not answer: {(tmp / 'node-red.log').read_text()[-2000:]}")
    return proc


def start_node_red_retrying(
    script: Path, tmp: Path, edge: Mosquitto, cloud: Mosquitto, home: str
) -> subprocess.Popen[bytes]:
    """Its editor port is picked free but can be taken before Node-RED binds it on a busy machine: try thrice."""
    for attempt in range(3):
        try:
            return start_node_red(script, tmp, edge, cloud, home)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def main(argv: list[str] | None = None) -> None:
    """Run the gateway (and Node-RED) under the same full-speed load and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--skip-node-red", action="store_true")
    parser.add_argument("--skip-gateway", action="store_true", help="only Node-RED")
    parser.add_argument("--profile", type=Path, help="py-spy the gateway's main run into this collapsed-stack file")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args(argv)
    print(
        f"bench_gateway: {args.messages} QoS 1 messages from {args.devices} devices, {os.cpu_count()} cores, "
        f"paho-mqtt {mqtt.__version__ if hasattr(mqtt, '__version__') else '2.x'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        edge = Mosquitto(tmp / "edge", config="edge", extra=SYS_EXTRA)
        cloud = Mosquitto(tmp / "cloud", config="cloud", extra=SYS_EXTRA)
        edge.start()
        cloud.start()
        try:
            runs = (
                []
                if args.skip_gateway
                else bench_gateway(tmp, edge, cloud, args.messages, args.devices, profile=args.profile)
            )
            script = None if args.skip_node_red else node_red_script()
            if script is None:
                print("node-red: skipped (" + ("--skip-node-red" if args.skip_node_red else "Node.js not found") + ")")
            else:
                proc = start_node_red_retrying(script, tmp, edge, cloud, "bench-nr")
                runs.append(load("node-red", proc.pid, edge, cloud, "bench-nr", args.messages, args.devices))
                print(runs[-1].show(), flush=True)
                runs.append(
                    load("nr-burst", proc.pid, edge, cloud, "bench-nr", args.messages, args.devices, burst=True)
                )
                print(runs[-1].show(), flush=True)
                stop(proc)
        finally:
            edge.stop()
            cloud.stop()
    if args.json:
        args.json.write_text(json.dumps(figures(runs)))


def figures(runs: list[Run]) -> dict[str, float]:
    """The runs' figures as a flat dict (`iotpipe bench` collects them): per run rate, loss, repeats, CPU, RSS."""
    out: dict[str, float] = {}
    for r in runs:
        key = "gateway" if r.name == "gateway" else r.name.replace("-", "_")
        out |= {f"{key}_delivered_per_s": r.received / r.delivered_s, f"{key}_lost": r.sent - r.received,
                f"{key}_repeats": r.repeats, f"{key}_cpu_us_per_msg": r.cpu_s / r.sent * 1e6,
                f"{key}_rss_peak_mib": r.rss_peak_mib}
        if r.name == "gw-1h":
            out["gateway_rss_after_1h_mib"] = r.rss_end_mib
    return out


def bench_gateway(
    tmp: Path, edge: Mosquitto, cloud: Mosquitto, count: int, devices: int, *, profile: Path | None = None
) -> list[Run]:
    """An hour of the example home's traffic (27 devices x 720 messages) for RSS, then live and burst loads."""
    proc = start_gateway(tmp, edge, cloud, "bench-gw", devices)
    try:
        hour = load("gw-1h", proc.pid, edge, cloud, "bench-gw", 27 * 720, devices)
        print(
            f"{'gw-1h':<10} RSS after an hour's worth of the example home (19,440 messages): {hour.rss_end_mib:.1f} MiB"
        )
        spy = None
        if profile:  # sampling profiler, only around the live run; --nonblocking never pauses the gateway
            command = ["py-spy", "record", "--nonblocking", "--threads", "--format", "raw", "--rate", "250"]
            spy = subprocess.Popen([*command, "-o", str(profile), "--pid", str(proc.pid)], stdout=subprocess.DEVNULL)
        run = load("gateway", proc.pid, edge, cloud, "bench-gw", count, devices)
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        print(run.show(), flush=True)
        burst = load("gw-burst", proc.pid, edge, cloud, "bench-gw", count, devices, burst=True)
        print(burst.show(), flush=True)
    finally:
        code = stop(proc)
        print(f"{'':<10} gateway exit code after SIGTERM: {code}")
    return [run, burst, hour]


if __name__ == "__main__":
    main()
