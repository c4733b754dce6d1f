"""Simulator figures: devices one process sustains at a 1 s interval with < 1 % late ticks, and backfill rows/s.

Run: .venv/bin/python -m bench.bench_simulator [--steps 250,500,1000,1500,2000,2500,3000] [--seconds 20] [--skip-live]

Live: a private Mosquitto on a free port (iotpipe.broker.Mosquitto), the simulator in this process (one selector
loop driving every paho client), and an "acker" process standing in for the gateway: it subscribes to all telemetry
and publishes each device's watermark once a second, so outboxes stay small as they do in production (letting them
fill instead would measure resend backoff, not steady state). Broker, acker and simulator share the 2 cores, so the
figure is conservative. Homes of the example (27 devices each) are added until the step's device count is reached.
A device tick is late when its home's turn starts more than 25 % of a tick after its time; missed ticks count late.
Steps go on until two in a row fail; "sustained" is the largest step with < 1 % late ticks.
The machine's own stalls are shown beside it: the worst oversleep of an idle process sleeping 20 ms at a time, and
the load average (other work on a shared 2-core machine delays the loop too). Prints, never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import os
import resource
import tempfile
import threading
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iotpipe.broker import Mosquitto
from protocol.settings import Settings, load_settings
from simulator import LiveStats, run_live
from simulator.backfill import Backfill, run_backfill

PER_HOME = 27  # devices of the example home


class Key(msgspec.Struct):
    """What the acker needs from a telemetry message."""

    device: str
    boot: str
    seq: int


def acker(port: int, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event) -> None:
    """A stand-in gateway: publish each device's highest seq seen as its watermark, once a second."""
    decoder = msgspec.json.Decoder(Key)
    marks: dict[str, tuple[str, int]] = {}
    changed: set[str] = set()
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            key = decoder.decode(msg.payload)
        except msgspec.DecodeError:
            return
        prefix = msg.topic.rsplit("/", 1)[0]
        with lock:
            boot, seq = marks.get(prefix, ("", -1))
            if key.boot != boot or key.seq > seq:
                marks[prefix] = (key.boot, key.seq)
                changed.add(prefix)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-acker", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.on_message = on_message

    def on_connect(c: mqtt.Client, *_: object) -> None:
        c.subscribe("iot/+/+/telemetry", 1)
        ready.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    while not stop.wait(1.0):
        with lock:
            due = [(p, marks[p]) for p in changed]
            changed.clear()
        for prefix, (boot, seq) in due:
            client.publish(f"{prefix}/ack", msgspec.json.encode({"boot": boot, "seq": seq}), qos=1)
    client.disconnect()
    client.loop_stop()


def probe(stop: multiprocessing.synchronize.Event, worst: multiprocessing.sharedctypes.Synchronized[float]) -> None:
    """An idle process that sleeps 20 ms at a time and records its worst oversleep: the machine's own stalls."""
    while not stop.is_set():
        began = time.monotonic()
        time.sleep(0.02)
        worst.value = max(worst.value, time.monotonic() - began - 0.02)


@contextmanager
def running(settings: Settings, homes: int, stats: LiveStats) -> Iterator[None]:
    """The live simulator in a thread for the block."""
    stop = threading.Event()
    thread = threading.Thread(target=run_live, args=(settings,), daemon=True,
                              kwargs={"interval": 1.0, "homes": homes, "stop": stop, "stats": stats})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def cpu() -> float:
    """CPU seconds this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def live_step(settings: Settings, devices: int, seconds: float) -> tuple[int, float, float, float, int, float]:
    """Run about `devices` devices; returns (devices, late %, msg/s, simulator CPU %, max kept, idle probe's
    worst stall in ms)."""
    homes = math.ceil(devices / PER_HOME)
    stats = LiveStats()
    context = multiprocessing.get_context("spawn")
    stop, worst = context.Event(), context.Value("d", 0.0)
    with running(settings, homes, stats):
        deadline = time.monotonic() + 60
        while stats.generated < homes * PER_HOME and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)  # every client connected and ticking
        watcher = context.Process(target=probe, args=(stop, worst), daemon=True)
        watcher.start()
        ticks, late, published, used, started = stats.ticks, stats.late_ticks, stats.published, cpu(), time.monotonic()
        backlog = 0
        while time.monotonic() - started < seconds:
            time.sleep(1.0)
            backlog = max(backlog, stats.kept)
        elapsed = time.monotonic() - started
        ticks, late = stats.ticks - ticks, stats.late_ticks - late
        rate = (stats.published - published) / elapsed
        load = 100.0 * (cpu() - used) / elapsed
        stop.set()
        watcher.join(5)
    return homes * PER_HOME, 100.0 * late / max(ticks, 1), rate, load, backlog, worst.value * 1000


def bench_live(steps: list[int], seconds: float) -> dict[str, float]:
    """Step the device count up until 1 % of ticks are late; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp)) as broker:
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Event(), context.Event()
        ack = context.Process(target=acker, args=(broker.port, ready, stop), daemon=True)
        ack.start()
        ready.wait(10)
        settings = load_settings(edge_url=broker.url, env={})
        print(f"live, 1 s interval, broker {broker.url}, acks from a stand-in gateway process")
        print(f"{'devices':>8} {'late %':>8} {'msg/s':>8} {'sim CPU %':>10} {'max kept':>9} {'loadavg':>8} "
              f"{'idle stall ms':>14}")
        best, best_rate, failed = 0, 0.0, 0
        for target in steps:
            devices, late, rate, load, backlog, stall = live_step(settings, target, seconds)
            loadavg = os.getloadavg()[0]  # other work on the machine delays the loop too: shown, not subtracted
            print(f"{devices:>8} {late:>8.2f} {rate:>8.0f} {load:>10.0f} {backlog:>9} {loadavg:>8.1f} {stall:>14.0f}",
                  flush=True)
            failed = failed + 1 if late >= 1.0 else 0
            if failed == 2:  # one failed step may be the machine's stall; two in a row is the limit
                break
            if late < 1.0:
                best, best_rate = devices, max(best_rate, rate)
        stop.set()
        ack.join(10)
        print(f"sustained: {best} devices in one process at a 1 s interval with < 1 % late ticks")
    return {"live_devices_sustained": best, "live_msg_per_s": round(best_rate)}


def bench_backfill(days: float) -> dict[str, float]:
    """Backfill of the example home: generation alone, and with both files written."""
    settings = load_settings(env={})
    tz = zoneinfo.ZoneInfo(settings.home.home.timezone)
    start = dt.datetime(2026, 11, 2, tzinfo=tz).timestamp()
    began = time.perf_counter()
    rows = sum(t.num_rows for t in Backfill(settings.home, start, interval=5.0).windows(days))
    generate = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run_backfill(settings.home, start, days, Path(tmp) / "log", interval=5.0)
        written = time.perf_counter() - began
    print(f"backfill, {days:g} days of the example home at a 5 s interval: {rows} rows")
    print(f"  generate only: {generate:.1f} s = {rows / generate:,.0f} rows/s")
    print(f"  Parquet + CSV.gz written: {written:.1f} s = {rows / written:,.0f} rows/s")
    return {"backfill_generate_rows_per_s": round(rows / generate),
            "backfill_written_rows_per_s": round(rows / written)}


def main() -> None:
    """Parse arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", default="250,500,1000,1500,2000,2500,3000", help="device counts to try, in order")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    parser.add_argument("--days", type=float, default=7.0, help="days of backfill")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON dict")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    if not args.skip_backfill:
        figures.update(bench_backfill(args.days))
    if not args.skip_live:
        figures.update(bench_live([int(s) for s in args.steps.split(",")], args.seconds))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
