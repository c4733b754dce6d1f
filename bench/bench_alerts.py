"""Alert latency at the edge: from a device's publish to the alert at a subscriber and to the buzzer pin, with
background telemetry load. Prints p50/p99 (target: p50 < 1 ms, p99 < 5 ms).

    .venv/bin/python -m bench.bench_alerts [--samples 500] [--rate 1000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory, MockPin
from paho.mqtt.enums import CallbackAPIVersion

from gateway.actions.buzzer import Buzzer
from gateway.rules.runner import RulesRunner
from iotpipe.broker import Mosquitto
from protocol import Channel, Kind, Reading, Telemetry, encode, topics
from protocol.config import HomeConfig, load_home_config
from protocol.endpoint import BrokerURL
from protocol.settings import EXAMPLE_CONFIG


class TimedPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type hints
    """A mock pin that notes the perf_counter of every rise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.rises: list[float] = []
        super().__init__(*args, **kwargs)

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed and value:
            self.rises.append(time.perf_counter())
        return changed


def _no_delay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
    """Devices and subscribers should not sit on small packets either (Nagle)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def client(broker: Mosquitto | BrokerURL, name: str) -> mqtt.Client:
    """A connected paho client with its network thread running."""
    made = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    made.on_socket_open = _no_delay
    made.connect(broker.host, broker.port)
    made.loop_start()
    return made


def background(url: str, home: HomeConfig, rate: int, stop: Any) -> None:
    """Publish `rate` climate messages per second, round-robin over the climate devices (its own process)."""
    pub = client(BrokerURL.parse(url), "bench-load")
    devices = [d.id for d in home.devices if d.type.value == "climate"]
    seqs = dict.fromkeys(devices, 0)
    start = time.perf_counter()
    for n in itertools.count():
        if stop.is_set():
            break
        device = devices[n % len(devices)]
        seqs[device] += 1
        msg = Telemetry(
            v=1,
            device=device,
            boot="10ad",
            seq=seqs[device],
            ts=time.time(),
            readings=(Reading(Kind.TEMPERATURE, 21.0 + n % 7 / 10, "°C"),),
        )
        pub.publish(topics.edge(home.home.id, device, Channel.TELEMETRY), encode(msg), qos=1)
        delay = start + (n + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    pub.disconnect()
    pub.loop_stop()


def _more(arrived: list[float], before: int) -> bool:
    """True once something arrived after the first `before`."""
    return len(arrived) > before


def quantiles_ms(values: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]
    return {"p50_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3, "max_ms": ordered[-1] * 1e3}


def percentiles(values: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    q = quantiles_ms(values)
    return f"p50 {q['p50_ms']:.3f} ms  p99 {q['p99_ms']:.3f} ms  max {q['max_ms']:.3f} ms"


def gateway_side(url: str, home: HomeConfig, ready: Any, done: Any, rises_out: Any) -> None:
    """The gateway's process: the rules runner and a buzzer on a timed mock pin; sends the pin's rises at the end."""
    buzzer = Buzzer(18, factory=MockFactory(pin_class=TimedPin))
    runner = RulesRunner(home, BrokerURL.parse(url), sinks=[buzzer])
    runner.start()
    ready.set()
    done.wait()
    runner.stop()
    rises_out.send(buzzer.pin.rises)
    buzzer.close()


def measure(broker: Mosquitto, home: HomeConfig, samples: int) -> tuple[list[float], list[float], list[float]]:
    """Smoke on, wait for the alert, smoke off (which stops the buzzer); repeat. Pin rises come back at the end."""
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    rises_in, rises_out = ctx.Pipe(duplex=False)
    gateway = ctx.Process(target=gateway_side, args=(broker.url, home, ready, done, rises_out), daemon=True)
    gateway.start()
    if not ready.wait(30):
        raise RuntimeError("the gateway side did not start")
    arrived: list[float] = []
    got = threading.Condition()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        with got:
            arrived.append(now)
            got.notify_all()

    watch = client(broker, "bench-watch")
    watch.on_message = on_message
    watch.subscribe(topics.edge(home.home.id, "gateway", Channel.ALERTS), qos=1)
    device = client(broker, "smoke-kitchen")
    topic = topics.edge(home.home.id, "smoke-kitchen", Channel.TELEMETRY)
    time.sleep(0.5)  # let the subscriptions settle before timing anything
    sent_at: list[float] = []
    to_alert: list[float] = []
    for seq in range(1, 2 * samples + 1):
        smoke = seq % 2 == 1
        msg = Telemetry(
            v=1, device="smoke-kitchen", boot="5e5e", seq=seq, ts=time.time(), readings=(Reading(Kind.SMOKE, smoke),)
        )
        with got:
            before = len(arrived)
            sent = time.perf_counter()
            device.publish(topic, encode(msg), qos=1)
            if not got.wait_for(partial(_more, arrived, before), timeout=5):
                raise RuntimeError(f"no alert for seq {seq}")
        if smoke:
            sent_at.append(sent)
            to_alert.append(arrived[-1] - sent)
        time.sleep(0.002)  # let the buzzer thread settle between samples
    baseline = broker_round_trip(watch, device, home.home.id, got=got, arrived=arrived, samples=samples)
    for made in (watch, device):
        made.disconnect()
        made.loop_stop()
    done.set()
    rises: list[float] = rises_in.recv()
    gateway.join(10)
    # perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes. Each sample's rise is the first after it.
    to_pin = [next(r for r in rises if r >= sent) - sent for sent in sent_at]
    return to_alert, to_pin, baseline


def broker_round_trip(
    watch: mqtt.Client, device: mqtt.Client, home: str, *, got: threading.Condition, arrived: list[float], samples: int
) -> list[float]:
    """The broker alone, under the same load: a publish straight to the subscriber's topic, for comparison."""
    topic = topics.edge(home, "gateway", Channel.EVENTS)
    watch.subscribe(topic, qos=1)
    time.sleep(0.2)
    took = []
    for _ in range(samples):
        with got:
            before = len(arrived)
            sent = time.perf_counter()
            device.publish(topic, b"{}", qos=1)
            if not got.wait_for(partial(_more, arrived, before), timeout=5):
                raise RuntimeError("the broker did not echo")
            took.append(arrived[-1] - sent)
    return took


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1000, help="background messages per second")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args()
    example = load_home_config(EXAMPLE_CONFIG)
    home = msgspec.structs.replace(example, home=msgspec.structs.replace(example.home, id="bench"))
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp), config="edge") as broker:
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        load = ctx.Process(target=background, args=(broker.url, home, args.rate, stop), daemon=True)
        load.start()  # the devices' load comes from another process, as it would from other machines
        try:
            to_alert, to_pin, baseline = measure(broker, home, args.samples)
        finally:
            stop.set()
            load.join(10)
    print(f"alert latency, {args.samples} smoke alerts under {args.rate} msg/s of background telemetry")
    print(f"  device publish -> alert at a subscriber: {percentiles(to_alert)}")
    print(f"  device publish -> buzzer pin high:       {percentiles(to_pin)}")
    print(f"  for comparison, the broker alone:        {percentiles(baseline)}")
    if args.json:
        series = {"alert": to_alert, "buzzer": to_pin, "broker": baseline}
        figures = {f"{name}_{q}": round(v, 3) for name, values in series.items()
                   for q, v in quantiles_ms(values).items()}
        args.json.write_text(json.dumps({**figures, "samples": args.samples, "rate": args.rate}))


if __name__ == "__main__":
    main()
