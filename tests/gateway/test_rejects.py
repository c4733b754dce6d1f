"""Bad input through a real broker: each is rejected with the right reason, counted, kept, dead-lettered; the
gateway keeps serving and loses nothing else."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import protocol
from gateway.service import Gateway
from iotpipe.broker import Mosquitto
from protocol import Reason, Rejection
from protocol.settings import load_settings
from tests.gateway.conftest import GATEWAY, write_home
from tests.gateway.devices import CloudSubscriber, TestDevice
from tests.support import Recorder, wait_for

EXAMPLES = Path(protocol.__file__).parent / "examples"
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))
RECEIVED_AT = 1764460060.0  # the golden messages' timestamps are judged against this receive time
GOLDEN_DEVICES = (
    "climate-bedroom",
    "climate-garage",
    "climate-living",
    "climate-office",
    "door-front",
    "motion-hallway",
    "plug-kettle",
    "plug-tv",
)
DEVICES = "".join(f'\n[[devices]]\nid = "{d}"\ntype = "climate"\nroom = "living"\n' for d in GOLDEN_DEVICES)


@dataclass
class Bench:
    """One gateway shared by the module, with a publisher, a dead-letter recorder and a cloud subscriber."""

    home: str
    gateway: Gateway
    publisher: mqtt.Client
    dead: Recorder
    cloud: CloudSubscriber

    def publish(self, topic: str, payload: bytes) -> None:
        self.publisher.publish(topic, payload, qos=1).wait_for_publish(10)

    def rejection_of(self, payload: bytes) -> Rejection:
        """Wait for the dead letter carrying this payload."""
        text = payload.decode("utf-8", errors="replace")

        def found() -> Rejection | None:
            for raw in self.dead.on("/gateway/rejected"):
                rejection = msgspec.json.decode(raw, type=Rejection)
                if rejection.payload == text[:4096]:
                    return rejection
            return None

        return wait_for(found, what=f"a rejection of {text[:60]!r}")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, broker: Mosquitto, cloud_broker: Mosquitto) -> Iterator[Bench]:
    tmp = tmp_path_factory.mktemp("rejects")
    home = f"t-rejects-{secrets.token_hex(3)}"
    path = write_home(tmp / "home.toml", home, GATEWAY, DEVICES)
    settings = load_settings(path, edge_url=broker.url, cloud_url=cloud_broker.url, var=tmp / "var", env={})
    dead = Recorder(broker.host, broker.port, f"iot/{home}/gateway/rejected")
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    with Gateway(settings, clock=lambda: RECEIVED_AT) as gateway:
        assert gateway.wait_ready()
        yield Bench(home, gateway, publisher, dead, cloud)
    publisher.disconnect()
    publisher.loop_stop()
    dead.close()
    cloud.close()


def golden_topic(home: str, path: Path) -> str:
    """The topic a golden message would arrive on: its own device's, or climate-living when it names none."""
    match = re.search(rb'"device": *"([a-z0-9-]{1,40})"', path.read_bytes())
    device = match.group(1).decode() if match else "climate-living"
    return f"iot/{home}/{device}/telemetry"


def assert_rejected(bench: Bench, topic: str, payload: bytes, reason: Reason) -> None:
    before = bench.gateway.metrics.value("gateway_rejected_total", reason=reason.value)
    bench.publish(topic, payload)
    rejection = bench.rejection_of(payload)
    assert rejection.reason is reason, rejection.detail
    assert rejection.topic == topic
    assert rejection.received_at == RECEIVED_AT
    wait_for(lambda: bench.gateway.metrics.value("gateway_rejected_total", reason=reason.value) > before)
    with sqlite3.connect(bench.gateway.db_path) as db:
        kept = db.execute("SELECT reason FROM rejected WHERE topic = ? AND payload = ?", (topic, payload)).fetchall()
    assert kept and kept[-1][0] == reason.value


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_golden_invalid_message_is_rejected_for_its_reason(bench: Bench, path: Path) -> None:
    reason = Reason(path.stem.split("__")[0])
    assert_rejected(bench, golden_topic(bench.home, path), path.read_bytes(), reason)


def telemetry(device: str, seq: int, boot: str = "abc123") -> bytes:
    body = {
        "v": 1,
        "device": device,
        "boot": boot,
        "seq": seq,
        "ts": RECEIVED_AT - 1,
        "readings": [{"kind": "temperature", "value": 21.5, "unit": "°C"}],
    }
    return json.dumps(body).encode()


def test_unknown_device_is_rejected(bench: Bench) -> None:
    assert_rejected(bench, f"iot/{bench.home}/ghost-1/telemetry", telemetry("ghost-1", 1), Reason.UNKNOWN_DEVICE)


def test_payload_naming_another_device_is_an_identity_mismatch(bench: Bench) -> None:
    payload = telemetry("climate-living", 7)
    assert_rejected(bench, f"iot/{bench.home}/door-front/telemetry", payload, Reason.IDENTITY_MISMATCH)


def test_device_id_not_allowed_in_topics_is_a_bad_topic(bench: Bench) -> None:
    assert_rejected(bench, f"iot/{bench.home}/Door_Front/telemetry", telemetry("door-front", 8), Reason.BAD_TOPIC)


def test_telemetry_on_the_gateways_own_id_is_a_bad_topic(bench: Bench) -> None:
    assert_rejected(bench, f"iot/{bench.home}/gateway/telemetry", telemetry("door-front", 9), Reason.BAD_TOPIC)


def test_malformed_status_is_rejected(bench: Bench) -> None:
    assert_rejected(bench, f"iot/{bench.home}/door-front/status", b'{"online": tru', Reason.MALFORMED_JSON)


def test_gateway_keeps_serving_between_bad_messages(bench: Bench) -> None:
    device = TestDevice(
        bench.gateway.settings.edge_url.host, bench.gateway.settings.edge_url.port, bench.home, "plug-kettle"
    )
    wait_for(device.subscribed.is_set)
    device.payload = lambda seq: telemetry("plug-kettle", seq, device.boot)  # type: ignore[method-assign]
    for path in INVALID[:8]:
        device.send(3)
        bench.publish(golden_topic(bench.home, path), path.read_bytes())
    device.send(3)
    keys = {("plug-kettle", device.boot, seq) for seq in range(1, 28)}
    wait_for(lambda: keys <= set(bench.cloud.received()), what="every valid reading at the cloud")
    assert sorted(k for k in bench.cloud.received() if k[1] == device.boot) == sorted(keys)
    device.close()
