"""The whole of issue 4 next to the real gateway spine, with the cloud down: HTTP and CoAP feed the MQTT pipeline
and answer after the outbox commit, an HTTP door opening raises the alarm, discovery, button and Pi climate."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import aiocoap
import pytest
from gpiozero.pins.mock import MockFactory

from gateway.rules.service import EdgeService
from gateway.service import Gateway, database_path
from iotpipe.broker import Mosquitto, free_port
from protocol import AlarmMode, AlertState, ConfigError, Kind, Reading, Telemetry, decode_alert, encode
from protocol.settings import EXAMPLE_CONFIG, Settings, load_settings
from tests.gateway_rules.conftest import free_udp_port
from tests.support import Recorder, wait_for


class FakeDht:
    """A DHT22 stand-in: returns its values, or raises like the library on a bad read."""

    def __init__(self) -> None:
        self.fail = False

    def read(self) -> tuple[float, float]:
        if self.fail:
            raise RuntimeError("Checksum did not validate. Try again.")
        return 21.37, 48.04


def home_toml(home_id: str, http_port: int, coap_port: int) -> str:
    """The example home under this test's id, with quick gateway knobs and test ports, climate on the Pi."""
    text = EXAMPLE_CONFIG.read_text().replace('id = "demo"', f'id = "{home_id}"', 1)
    text = text.replace("exit_delay_s = 30", "exit_delay_s = 0")
    text = text.replace("http_port = 8080, coap_port = 5683", f"http_port = {http_port}, coap_port = {coap_port}")
    text = text.replace("# button_pin = 17", "button_pin = 17")
    text = text.replace("# climate = {", "climate = {")
    text = text.replace('log = "alerts.jsonl"', f'log = "alerts.jsonl"\ndiscovery_prefix = "ha-{home_id}"')
    return text.replace("metrics_port = 9108", "metrics_port = 0")  # the example's [gateway] otherwise


@pytest.fixture
def settings(tmp_path: Path, home_id: str, broker: Mosquitto, make_broker: Callable[..., Mosquitto]) -> Settings:
    cloud = make_broker("cloud")
    cloud.stop()  # the internet is down for the whole test
    path = tmp_path / "home.toml"
    path.write_text(home_toml(home_id, free_port(), free_udp_port()))
    return load_settings(path, edge_url=broker.url, cloud_url=cloud.url, var=tmp_path / "var", env={})


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[Gateway, EdgeService, FakeDht]]:
    dht = FakeDht()
    with Gateway(settings) as gateway:
        assert gateway.wait_ready()
        with EdgeService(settings, pin_factory=MockFactory(), climate_source=dht, env={}) as service:
            yield gateway, service, dht


def outbox_keys(settings: Settings) -> list[tuple[str, int]]:
    with sqlite3.connect(database_path(settings)) as conn:
        rows = conn.execute("SELECT payload FROM outbox WHERE topic LIKE '%/telemetry'").fetchall()
    return [(json.loads(p)["device"], json.loads(p)["seq"]) for (p,) in rows]


def message(device: str, seq: int, kind: Kind, value: bool | float, unit: str | None = None) -> Telemetry:
    import time

    return Telemetry(v=1, device=device, boot="c0ffee", seq=seq, ts=time.time(), readings=(Reading(kind, value, unit),))


def test_http_feeds_the_pipeline_and_answers_after_the_outbox_commit(
    running: tuple[Gateway, EdgeService, FakeDht], settings: Settings
) -> None:
    _, service, _ = running
    assert service.http is not None
    watch = Recorder("127.0.0.1", settings.edge_url.port, f"iot/{settings.home_id}/gateway/alerts")
    base = f"http://127.0.0.1:{service.http.port}"
    try:
        request = urllib.request.Request(f"{base}/v1/alarm/mode", data=b'{"mode": "away", "by": "anna"}')
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["mode"] == "away"
        body = encode([message("door-back", 1, Kind.CONTACT, False), message("door-back", 2, Kind.CONTACT, True)])
        with urllib.request.urlopen(urllib.request.Request(f"{base}/v1/telemetry", data=body), timeout=10) as answer:
            assert (answer.status, json.loads(answer.read())) == (202, {"accepted": 2})
        assert {("door-back", 1), ("door-back", 2)} <= set(outbox_keys(settings))  # committed before the 202
        wait_for(lambda: len(watch.on("/alerts")) >= 2, what="the intrusion from an HTTP message")
        assert [decode_alert(p).state for p in watch.on("/alerts")][:2] == [AlertState.PENDING, AlertState.TRIGGERED]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/v1/telemetry", data=b'{"v": 1}'), timeout=10)
        assert refused.value.code == 400 and json.loads(refused.value.read())["reason"] == "schema"
    finally:
        watch.close()


def test_coap_feeds_the_pipeline_too(running: tuple[Gateway, EdgeService, FakeDht], settings: Settings) -> None:
    _, service, _ = running
    assert service.coap is not None

    async def post(body: bytes) -> aiocoap.Message:
        context = await aiocoap.Context.create_client_context()
        try:
            uri = f"coap://127.0.0.1:{service.coap.port}/telemetry"  # type: ignore[union-attr]
            return await context.request(aiocoap.Message(code=aiocoap.POST, payload=body, uri=uri)).response
        finally:
            await context.shutdown()

    answer = asyncio.run(post(encode(message("plug-tv", 1, Kind.POWER, 88.5, "W"))))
    assert answer.code == aiocoap.CHANGED
    assert ("plug-tv", 1) in outbox_keys(settings)


def test_discovery_button_and_pi_climate(running: tuple[Gateway, EdgeService, FakeDht], settings: Settings) -> None:
    _, service, dht = running
    home = settings.home_id
    watch = Recorder("127.0.0.1", settings.edge_url.port, f"ha-{home}/#", f"iot/{home}/climate-hallway/telemetry")
    try:
        expected = sum(len(d.kinds) for d in settings.home.devices) + 1
        wait_for(lambda: len([t for t, _, _ in watch.messages if t.startswith("ha-")]) == expected, what="discovery")
        assert service.button is not None
        service.button.button.pin.drive_low()  # pressed
        wait_for(lambda: service.rules.mode.mode is AlarmMode.AWAY, what="armed by the button")
        assert service.rules.mode.source == "button"
        assert service.climate is not None
        service.climate.poll()
        dht.fail = True
        service.climate.poll()
        wait_for(lambda: len(watch.on("/telemetry")) == 2, what="two climate messages")
        good, bad = (json.loads(p)["readings"] for p in watch.on("/telemetry"))
        assert [r["value"] for r in good] == [21.4, 48.0]
        assert [r["value"] for r in bad] == [None, None] and bad[0]["err"].startswith("read failed: Checksum")
        wait_for(lambda: ("climate-hallway", 2) in outbox_keys(settings), what="the climate messages stored")
    finally:
        watch.close()


@pytest.mark.parametrize("key", ["http_port", "coap_port"])
def test_a_taken_intake_port_names_its_key(tmp_path: Path, home_id: str, broker: Mosquitto, key: str) -> None:
    kind = socket.SOCK_STREAM if key == "http_port" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        ports = (port, free_udp_port()) if key == "http_port" else (free_port(), port)
        path = tmp_path / "home.toml"
        path.write_text(home_toml(home_id, *ports))
        settings = load_settings(path, edge_url=broker.url, var=tmp_path / "var", env={})
        service = EdgeService(settings, pin_factory=MockFactory(), climate_source=FakeDht(), env={})
        with pytest.raises(ConfigError, match=rf"^alarm\.intake\.{key}: cannot listen on 127\.0\.0\.1"):
            service.start()


def test_bad_rules_or_a_missing_dht22_name_file_and_key(tmp_path: Path, home_id: str, broker: Mosquitto) -> None:
    path = tmp_path / "home.toml"
    path.write_text(home_toml(home_id, free_port(), free_udp_port()) + '\n[[rules]]\ntype = "smoke"\nid = "smoke"\n')
    settings = load_settings(path, edge_url=broker.url, var=tmp_path / "var", env={})
    with pytest.raises(ConfigError, match=rf"^{path}: rules\[8\]\.id: duplicate rule id 'smoke'$"):
        EdgeService(settings, pin_factory=MockFactory(), env={})
    path.write_text(home_toml(home_id, free_port(), free_udp_port()))
    settings = load_settings(path, edge_url=broker.url, var=tmp_path / "var", env={})
    with pytest.raises(ConfigError, match=rf"^{path}: alarm\.climate: the DHT22 needs adafruit-circuitpython-dht"):
        EdgeService(settings, pin_factory=MockFactory(), env={})  # climate configured, no fake, no library
