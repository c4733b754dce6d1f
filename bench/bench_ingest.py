"""Ingest benchmark: sustained readings/s into SQLite and PostgreSQL with one and two workers, and publish->row
latency (p50/p95), against a private Mosquitto and real ingest worker processes (`iotpipe cloud ingest`).

Run: `.venv/bin/python bench/bench_ingest.py [--readings N] [--no-pg]`. The publisher sends what the gateway sends:
`up/{home}/batch` arrays of 40 messages x 5 readings (200 readings, the gateway's default `uplink_batch`), QoS 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from cloud.warehouse.db import make_engine, migrate
from iotpipe.broker import Mosquitto
from protocol import Kind, Reading, Uplink, encode
from protocol.settings import EXAMPLE_CONFIG

PG_URL = os.environ.get("IOTPIPE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PER_MESSAGE = 5
PER_BATCH = 40
READINGS = (Reading(Kind.POWER, 1830.5, "W"), Reading(Kind.ENERGY, 12.034, "kWh"), Reading(Kind.VOLTAGE, 231.0, "V"),
            Reading(Kind.CURRENT, 7.9, "A"), Reading(Kind.SWITCH, True))


def message(device: str, seq: int, ts: float) -> Uplink:
    """One plug message of five readings."""
    return Uplink(v=1, device=device, boot="be7c", seq=seq, readings=READINGS, ts=ts, received_at=ts,
                  room="kitchen", appliance="kettle")


class Publisher:
    """A QoS 1 publisher with the gateway's in-flight window."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(64)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1."""
        return self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def count(engine: sa.Engine, device: str | None = None) -> int:
    """Readings stored (of one device, when given)."""
    query = "SELECT count(*) FROM readings" + (" WHERE device = :d" if device else "")
    with engine.connect() as conn:
        return int(conn.execute(sa.text(query), {"d": device}).scalar_one())


def wait(predicate: object, timeout: float) -> bool:
    """Poll until `predicate()` is true; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


class Workers:
    """N `iotpipe cloud ingest` processes sharing one group, stopped with SIGTERM."""

    def __init__(self, n: int, broker: Mosquitto, db_url: str, var: Path) -> None:
        group = f"bench-{uuid.uuid4().hex[:6]}"
        var.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "IOTPIPE_HOME_CONFIG": str(EXAMPLE_CONFIG), "IOTPIPE_CLOUD_URL": broker.url,
               "IOTPIPE_DB_URL": db_url, "IOTPIPE_VAR": str(var)}
        self.logs = [var / f"worker-{i}.log" for i in range(n)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "iotpipe", "cloud", "ingest", "--group", group,
                                        "--client-id", f"{group}-{i}"], env=env, stdout=subprocess.DEVNULL,
                                       stderr=self.logs[i].open("wb")) for i in range(n)]

    def subscribed(self) -> bool:
        """True once every worker has connected (it subscribes in the same callback)."""
        return all("cloud broker connected" in log.read_text() for log in self.logs)

    def stop(self) -> None:
        """SIGTERM each worker (they finish and acknowledge what they hold), then wait."""
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def ready(engine: sa.Engine, pub: Publisher, home: str) -> None:
    """Probe until the workers' subscription is live."""
    seq = iter(range(10**9))
    ok = wait(lambda: pub.send(f"up/{home}/batch", encode([message("probe", next(seq), time.time())])) and count(
        engine, "probe") > 0, 60)
    if not ok:
        raise SystemExit("ingest workers did not come up")


def throughput(pub: Publisher, engine: sa.Engine, home: str, readings: int) -> tuple[float, float]:
    """Publish `readings` as batches as fast as QoS 1 allows; seconds until published and until all stored."""
    base = count(engine)
    batches = readings // (PER_MESSAGE * PER_BATCH)
    now = time.time()
    payloads = [encode([message(f"plug-{b % 8}", b * PER_BATCH + i, now) for i in range(PER_BATCH)])
                for b in range(batches)]
    start = time.perf_counter()
    infos = [pub.send(f"up/{home}/batch", p) for p in payloads]
    for info in infos:
        info.wait_for_publish(120)
    published = time.perf_counter() - start
    target = base + batches * PER_BATCH * PER_MESSAGE
    if not wait(lambda: count(engine) >= target, 600):
        raise SystemExit(f"only {count(engine) - base} of {target - base} readings arrived")
    return published, time.perf_counter() - start


def latency(pub: Publisher, engine: sa.Engine, home: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Publish single messages at `rate`/s; a reader polls every 5 ms and notes when each row becomes visible.

    Returns the sorted latencies of the rows seen, and how many messages were sent.
    """
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def reader() -> None:
        last = -1
        with engine.connect() as conn:
            while not done.is_set() or len(seen) < len(sent):
                rows = conn.execute(sa.text("SELECT seq FROM readings WHERE device = 'lat' AND idx = 0 AND seq > :s"),
                                    {"s": last}).scalars().all()
                conn.commit()
                now = time.time()
                for seq in rows:
                    seen.setdefault(seq, now)
                    last = max(last, seq)
                if done.is_set() and time.time() > stop_at + 60:
                    return
                time.sleep(0.005)

    stop_at = time.time() + seconds
    thread = threading.Thread(target=reader)
    thread.start()
    seq = 0
    while time.time() < stop_at:
        t = time.time()
        sent[seq] = t
        pub.send(f"up/{home}/lat/telemetry", encode(message("lat", seq, t)))
        seq += 1
        time.sleep(max(0.0, sent[0] + seq / rate - time.time()))
    done.set()
    thread.join()
    return sorted(seen[s] - sent[s] for s in seen), len(sent)


def backends(no_pg: bool, folder: Path) -> list[tuple[str, str, str | None]]:
    """(name, URL, PostgreSQL schema to drop afterwards) for SQLite and, when reachable, PostgreSQL."""
    out: list[tuple[str, str, str | None]] = [("SQLite", f"sqlite:///{folder / 'w.db'}", None)]
    if no_pg:
        return out
    try:
        admin = sa.create_engine(PG_URL)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        out.append(("PostgreSQL", f"{PG_URL}?options=-csearch_path%3D{schema}", schema))
    except sa.exc.OperationalError as exc:
        print(f"  PostgreSQL not reachable ({type(exc.orig).__name__}): skipped")
    return out


def reset(engine: sa.Engine) -> None:
    """Empty the tables between runs."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM readings"))
        conn.execute(sa.text("DELETE FROM devices"))


def main() -> None:
    """Run every combination and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=400_000)
    parser.add_argument("--latency-rate", type=float, default=200.0, help="messages/s during the latency run")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args()
    figures: dict[str, float] = {"readings": args.readings}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, Mosquitto(Path(tmp) / "broker",
                                                                               config="cloud") as broker:
        folder = Path(tmp)
        print(f"bench_ingest: {args.readings:,} readings per run in batches of {PER_BATCH}x{PER_MESSAGE}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        pub = Publisher(broker)
        for name, url, schema in backends(args.no_pg, folder):
            engine = make_engine(url)
            migrate(engine)
            for n in (1, 2):
                reset(engine)
                workers = Workers(n, broker, url, folder / f"var-{name}-{n}")
                try:
                    if not wait(workers.subscribed, 60):
                        raise SystemExit(f"workers did not connect: see {folder}")
                    ready(engine, pub, "bench")
                    published, stored = throughput(pub, engine, "bench", args.readings)
                    key = name.lower()
                    figures[f"{key}_{n}w_readings_per_s"] = args.readings / stored
                    line = (f"  {name:<10} {n} worker{'s' if n > 1 else ' '}  {args.readings / stored:>9,.0f} "
                            f"readings/s stored  (published at {args.readings / published:,.0f}/s; {stored:.1f} s)")
                    if n == 1:
                        lat, sent = latency(pub, engine, "bench", args.latency_rate, 10.0)
                        p50, p95 = statistics.median(lat), statistics.quantiles(lat, n=20)[18]
                        figures |= {f"{key}_publish_to_row_p50_ms": p50 * 1000, f"{key}_publish_to_row_p95_ms":
                                    p95 * 1000, f"{key}_latency_sent": sent, f"{key}_latency_seen": len(lat)}
                        line += (f"\n  {name:<10} latency publish->row visible at {args.latency_rate:.0f} msg/s: "
                                 f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({len(lat)} of {sent} seen "
                                 f"within 60 s; {count(engine, 'lat') // PER_MESSAGE} stored by the end)")
                    print(line, flush=True)
                finally:
                    workers.stop()
            engine.dispose()
            if schema:
                admin = sa.create_engine(PG_URL)
                with admin.begin() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
        pub.close()
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
