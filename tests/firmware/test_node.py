"""The firmware under the real MicroPython interpreter (64 KiB heap, fake HAL) against a real Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import protocol
from iotpipe.broker import Mosquitto
from protocol.topics import parse
from tests.firmware.fwnode import FirmwareNode, Gateway, build_for_unix, plug_config
from tests.support import wait_for


@pytest.fixture(scope="module")
def fw_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware compiled with mpy-cross, as deployed, plus the fake HAL."""
    return build_for_unix(tmp_path_factory.mktemp("fw-build"))


@pytest.fixture
def nodes(tmp_path: Path, fw_build: Path) -> Iterator[Callable[[dict[str, Any]], FirmwareNode]]:
    """Start firmware processes for one test; all are stopped at its end."""
    started: list[FirmwareNode] = []

    def start(config: dict[str, Any]) -> FirmwareNode:
        node = FirmwareNode(tmp_path / f"node-{len(started)}", config, fw_build)
        started.append(node)
        return node

    yield start
    for node in started:
        node.close()


def assert_contract(gateway: Gateway) -> None:
    """Every message the firmware sent passes protocol's decoders, topics included."""
    for topic, payload, received_at in gateway.on("telemetry"):
        parse(topic)
        msg = protocol.decode_telemetry(payload, received_at=received_at)
        assert msg.device == parse(topic).device
    for topic, payload, _ in gateway.on("status"):
        parse(topic)
        protocol.decode_status(payload)


def readings(gateway: Gateway, kind: str) -> list[Any]:
    """Values of one kind, in arrival order."""
    return [r["value"] for m in gateway.telemetry() for r in m["readings"] if r["kind"] == kind]


def test_plug_meters_power_obeys_set_and_leaves_a_will(
    broker: Mosquitto, home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode]
) -> None:
    gateway = Gateway(broker.host, broker.port, home_id)
    try:
        node = nodes(plug_config(home_id, broker.url, events=[{"t": 3, "power": 2000}]))
        node.until(lambda: any(v and v > 1900 for v in readings(gateway, "power")), 15, "2000 W in telemetry")
        power = readings(gateway, "power")
        assert 0.0 in power, "the plug reported 0 W before the load came on: zero is a value"
        assert abs(max(power) - 2000) < 20
        assert any(v and 8.0 < v < 9.4 for v in readings(gateway, "current")), "2000 W / 230 V is ~8.7 A"
        assert node.pin(23) == 0, "relay off at boot"

        client = gateway.client
        client.publish(f"iot/{home_id}/plug-kettle/set", json.dumps({"switch": True}), qos=1)
        node.wait_line(lambda line: line == "P 23 1", 10, "the relay pin driven high")
        node.until(lambda: True in readings(gateway, "switch"), 10, "telemetry answering the command")

        status = [json.loads(p) for _, p, _ in gateway.on("status")]
        assert status[0]["online"] is True and status[0]["fw"] == "1.0.0" and status[0]["dropped"] == 0
        node.kill()
        wait_for(lambda: json.loads(gateway.on("status")[-1][1]) == {"online": False}, 10, "the LWT")
        assert_contract(gateway)
    finally:
        gateway.close()


def test_security_node_reports_door_and_motion(
    broker: Mosquitto, home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode]
) -> None:
    gateway = Gateway(broker.host, broker.port, home_id)
    try:
        config = {
            "home": home_id, "device": "hall-sensor", "role": "security", "mqtt": {"broker": broker.url},
            "security": {"pir_pin": 27, "pir_hold_s": 2, "contact_pin": 26, "buzzer_pin": 25},
            "sim": {"speed": 5, "pins": {"26": 0}, "events": [{"t": 3, "pin": 26, "value": 1},
                                                               {"t": 4, "pin": 27, "value": 1},
                                                               {"t": 4.2, "pin": 27, "value": 0}]},
        }
        node = nodes(config)
        node.until(lambda: True in readings(gateway, "contact"), 15, "the door opening")
        assert readings(gateway, "contact")[0] is False, "closed before t = 3 s"
        node.wait_line(lambda line: line == "B 25 32768", 5, "a buzzer chirp on the door opening")
        node.until(lambda: True in readings(gateway, "motion"), 10, "motion")
        motion = readings(gateway, "motion")
        node.until(lambda: readings(gateway, "motion")[-1] is False, 10, "motion clearing after its hold time")
        assert motion[0] is False
        assert_contract(gateway)
    finally:
        gateway.close()


def test_climate_node_sends_no_fake_values(
    broker: Mosquitto, home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode]
) -> None:
    gateway = Gateway(broker.host, broker.port, home_id)
    try:
        config = {
            "home": home_id, "device": "living-climate", "role": "climate", "mqtt": {"broker": broker.url},
            "climate": {"dht_pin": 4, "ldr_pin": 34},
            "sim": {"speed": 10, "ntp": False, "adc": {"34": 0}, "dht": {"temperature": -3.5, "humidity": 0.0},
                    "events": [{"t": 6, "dht": "timeout"}, {"t": 6, "adc": 34, "value": 30000}]},
        }
        node = nodes(config)
        failed = lambda: [r for m in gateway.telemetry() for r in m["readings"] if r.get("err")]  # noqa: E731
        node.until(failed, 20, "the DHT22 failure reported as value null with err")
        assert {r["kind"] for r in failed()} == {"temperature", "humidity"}
        assert all(r["value"] is None and r["err"] == "timeout" for r in failed())
        assert -3.5 in readings(gateway, "temperature") and 0.0 in readings(gateway, "humidity")
        node.until(lambda: any(v and v > 0 for v in readings(gateway, "light")), 10, "light after the lamp")
        assert 0 in readings(gateway, "light"), "dark is 0 lx, a value"
        assert all(m["ts"] is None for m in gateway.telemetry()), "no NTP: ts is null, never a guess"
        assert_contract(gateway)
    finally:
        gateway.close()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_broker_restart_loses_nothing_and_duplicates_nothing(
    make_broker: Callable[..., Mosquitto], home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode],
    capsys: pytest.CaptureFixture[str], how: str,
) -> None:
    server = make_broker()
    gateway = Gateway(server.host, server.port, home_id)
    try:
        # The load changes every virtual second, so there is always something to buffer.
        node = nodes(plug_config(home_id, server.url, power_ramp=100, speed=5))
        node.until(lambda: gateway.watermark("plug-kettle") >= 3, 15, "the first acknowledged messages")
        acked = gateway.watermark("plug-kettle")
        server.stop() if how == "stop" else server.kill()
        node.wait_line(lambda line: line.startswith("W mqtt down"), 10, "the device noticing")
        node.until(lambda: node.stats().get("seq", 0) >= acked + 5, 15, "readings taken while the broker is down")
        buffered_to = node.stats()["seq"]
        assert node.stats()["outbox"] >= buffered_to - acked - 1, "unacknowledged messages are kept"
        restarted_at = time.time()
        server.start()
        node.until(lambda: gateway.watermark("plug-kettle") >= buffered_to, 20, "the buffered readings")

        by_key: dict[tuple[str, int], list[tuple[bytes, float]]] = {}
        for _, payload, received_at in gateway.on("telemetry"):
            body = json.loads(payload)
            by_key.setdefault((body["boot"], body["seq"]), []).append((payload, received_at))
        seqs = sorted(seq for _, seq in by_key)
        assert seqs == list(range(1, seqs[-1] + 1)), "no gap"
        assert all(len({p for p, _ in copies}) == 1 for copies in by_key.values()), "a resend is the same message"
        assert len({boot for boot, _ in by_key}) == 1
        late = [seq for (_, seq), copies in by_key.items() if copies[0][1] >= restarted_at and seq <= buffered_to]
        assert len(late) >= 3, f"readings taken during the outage arrived after the restart: {late}"
        node.until(lambda: node.stats().get("outbox", 99) <= 2, 10, "the watermark emptying the outbox")
        assert node.stats()["dropped"] == 0
        assert_contract(gateway)
        with capsys.disabled():
            repeats = sum(len(c) - 1 for c in by_key.values())
            print(f"\n[firmware] broker {how}: {len(by_key)} messages, {len(late)} buffered through the outage, "
                  f"{repeats} repeats reconciled by (boot, seq)")
    finally:
        gateway.close()


def test_a_full_outbox_drops_oldest_and_says_so(
    make_broker: Callable[..., Mosquitto], home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode]
) -> None:
    server = make_broker()
    server.stop()  # the node boots while the broker is away: readings pile up in a 10-reading outbox
    config = {**plug_config(home_id, server.url, power_ramp=100, speed=10), "outbox_readings": 10}
    node = nodes(config)
    node.until(lambda: node.stats().get("dropped", 0) >= 2, 20, "the outbox overflowing")
    node.wait_line(lambda line: line.startswith("W outbox full"), 1, "a warning for the overflow")
    node.until(lambda: node.stats().get("dropped", 0) >= 4, 20, "more drops in the same outage")
    warnings = [line for line in node.output().splitlines() if line.startswith("W outbox full")]
    assert len(warnings) == 1, "one warning per outage, not one per dropped message"
    server.start()
    gateway = Gateway(server.host, server.port, home_id)
    try:
        node.until(lambda: gateway.on("status"), 15, "the status after reconnect")
        status = json.loads(gateway.on("status")[-1][1])
        assert status["online"] is True and status["dropped"] >= 2, status
        node.until(lambda: len(gateway.telemetry()) >= 3, 15, "what the outbox kept")
        seqs = sorted({m["seq"] for m in gateway.telemetry()})
        assert seqs[0] > 1, "the oldest readings were the ones dropped"
        assert_contract(gateway)
    finally:
        gateway.close()


def test_peak_heap_is_printed(
    broker: Mosquitto, home_id: str, nodes: Callable[[dict[str, Any]], FirmwareNode],
    capsys: pytest.CaptureFixture[str],
) -> None:
    gateway = Gateway(broker.host, broker.port, home_id)
    try:
        node = nodes(plug_config(home_id, broker.url, power_ramp=100, speed=5, run_for_s=12))
        assert node.proc.wait(30) == 0, node.output()
        stats = node.stats()
        assert stats["seq"] > 5
        assert 0 < stats["heap_peak"] <= 64 * 1024
        with capsys.disabled():
            print(f"\n[firmware] heap 64 KiB: peak {stats['heap_peak']} B in use (sampled before each gc.collect), "
                  f"{stats['heap_free']} B free after collect, {stats['seq']} messages")
    finally:
        gateway.close()


def test_bad_config_stops_with_one_line(tmp_path: Path, fw_build: Path) -> None:
    node = FirmwareNode(tmp_path / "bad", {"home": "h", "device": "Bad Id!", "role": "plug"}, fw_build)
    assert node.proc.wait(20) == 78
    node.close()
    assert node.output().strip() == "E config.json: device must be 1-40 chars of a-z 0-9 -, got 'Bad Id!'"


def test_time_of_a_reading_is_its_own(broker: Mosquitto, home_id: str,
                                      nodes: Callable[[dict[str, Any]], FirmwareNode]) -> None:
    gateway = Gateway(broker.host, broker.port, home_id)
    try:
        start = time.time()
        node = nodes(plug_config(home_id, broker.url))
        node.until(lambda: len(gateway.telemetry()) >= 3, 15, "three messages")
        stamps = [m["ts"] for m in gateway.telemetry()]
        assert all(start - 1 < ts < time.time() + 1 for ts in stamps)
        assert stamps == sorted(stamps)
    finally:
        gateway.close()
