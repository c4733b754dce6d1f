"""Home Assistant discovery configs, checked against Home Assistant's documented MQTT schema, and published retained.

The schema below is transcribed from the MQTT integration pages (sensor.mqtt, binary_sensor.mqtt, switch.mqtt,
alarm_control_panel.mqtt, and the sensor / binary sensor device class tables on home-assistant.io): only the keys we
use or that are close cousins are listed, and unknown keys are refused, so a typo fails here, not in someone's HA."""

from __future__ import annotations

import json
import re
from typing import Literal

import msgspec
import pytest

from gateway.discovery import discovery_configs, publish_discovery, value_template
from iotpipe.broker import Mosquitto
from protocol import Kind
from protocol.config import HomeConfig
from tests.gateway_rules.conftest import with_home
from tests.support import Recorder, wait_for

TOPIC = r"^[a-z_]+/(sensor|binary_sensor|switch|alarm_control_panel)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$"
# Sensor device classes and the units Home Assistant accepts for them (sensor integration, "Device class").
SENSOR_UNITS = {
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "illuminance": {"lx"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
}
# Energy is a counter: `measurement` is refused for it (sensor integration, "Entities representing a total amount").
STATE_CLASSES = {"energy": {"total", "total_increasing"}}
BINARY_CLASSES = {"door", "window", "opening", "motion", "occupancy", "smoke", "gas", "moisture", "safety"}


class HaDevice(msgspec.Struct, forbid_unknown_fields=True):
    identifiers: list[str]
    name: str
    manufacturer: str | None = None
    model: str | None = None
    suggested_area: str | None = None
    sw_version: str | None = None


class Origin(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    sw_version: str | None = None
    url: str | None = None


class _Entity(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    unique_id: str
    name: str | None = None
    device: HaDevice
    origin: Origin | None = None
    availability_topic: str | None = None
    availability_template: str | None = None
    payload_available: str = "online"
    payload_not_available: str = "offline"
    qos: Literal[0, 1, 2] = 0
    state_topic: str
    value_template: str | None = None


class Sensor(_Entity, kw_only=True):
    device_class: str | None = None
    state_class: Literal["measurement", "total", "total_increasing"] | None = None
    unit_of_measurement: str | None = None
    expire_after: int | None = None


class BinarySensor(_Entity, kw_only=True):
    device_class: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"


class Switch(_Entity, kw_only=True):
    device_class: Literal["outlet", "switch"] | None = None
    command_topic: str
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str | None = None
    state_off: str | None = None


class AlarmPanel(_Entity, kw_only=True):
    command_topic: str
    command_template: str = "{{ action }}"
    payload_disarm: str = "DISARM"
    payload_arm_home: str = "ARM_HOME"
    payload_arm_away: str = "ARM_AWAY"
    payload_arm_night: str = "ARM_NIGHT"
    code_arm_required: bool = True
    code_disarm_required: bool = True
    supported_features: list[
        Literal["arm_home", "arm_away", "arm_night", "arm_vacation", "arm_custom_bypass", "trigger"]
    ] = []


SCHEMAS: dict[str, type[_Entity]] = {
    "sensor": Sensor,
    "binary_sensor": BinarySensor,
    "switch": Switch,
    "alarm_control_panel": AlarmPanel,
}


def test_every_config_fits_home_assistants_documented_schema(example_home: HomeConfig) -> None:
    configs = discovery_configs(example_home)
    assert len(configs) == sum(len(d.kinds) for d in example_home.devices) + 1
    assert len({c["unique_id"] for _, c in configs}) == len(configs)
    for topic, config in configs:
        assert re.match(TOPIC, topic), topic
        entity = msgspec.convert(config, SCHEMAS[topic.split("/")[1]])
        if isinstance(entity, Sensor):
            assert entity.unit_of_measurement in SENSOR_UNITS[str(entity.device_class)], topic
            assert entity.state_class in STATE_CLASSES.get(str(entity.device_class), {"measurement"}), topic
        if isinstance(entity, BinarySensor):
            assert entity.device_class in BINARY_CLASSES, topic
        if not isinstance(entity, AlarmPanel):
            assert entity.availability_topic == entity.state_topic.replace("/telemetry", "/status")


def test_doors_and_windows_get_their_own_device_class(example_home: HomeConfig) -> None:
    classes = {c["unique_id"].split("-", 2)[2]: c.get("device_class") for _, c in discovery_configs(example_home)}
    assert classes["door-front-contact"] == "door"
    assert classes["window-living-contact"] == "window"
    assert classes["plug-kettle-switch"] == "outlet" and classes["light-living-switch"] == "switch"
    assert classes["plug-kettle-energy"] == "energy"


def _render(template: str, payload: dict[str, object]) -> str:
    """Render our value template the way Jinja (Home Assistant's template engine) would."""
    jinja2 = pytest.importorskip("jinja2")
    environment = jinja2.Environment()
    return str(environment.from_string(template).render(value_json=payload))


@pytest.mark.parametrize(
    ("kind", "readings", "expected"),
    [
        (Kind.TEMPERATURE, [{"kind": "temperature", "value": 21.5, "unit": "°C"}], "21.5"),
        (Kind.TEMPERATURE, [{"kind": "temperature", "value": 0.0, "unit": "°C"}], "0.0"),  # zero is a value
        (Kind.TEMPERATURE, [{"kind": "temperature", "value": None, "err": "timeout"}], "None"),  # unknown
        (Kind.HUMIDITY, [{"kind": "temperature", "value": 21.5, "unit": "°C"}], ""),  # absent: keep the state
        (Kind.CONTACT, [{"kind": "contact", "value": True}], "ON"),
        (Kind.CONTACT, [{"kind": "contact", "value": False}], "OFF"),
    ],
)
def test_value_templates_pick_their_kind(kind: Kind, readings: list[dict[str, object]], expected: str) -> None:
    assert _render(value_template(kind, kind in (Kind.CONTACT,)), {"readings": readings}) == expected


def test_discovery_is_published_retained(broker: Mosquitto, example_home: HomeConfig, home_id: str) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    home = with_home(example_home, home_id)
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = publish_discovery(client, home, prefix=f"ha-{home_id}")
    for info in infos:
        info.wait_for_publish(10)
    count = len(infos)
    client.disconnect()
    client.loop_stop()
    watch = Recorder(broker.host, broker.port, f"ha-{home_id}/#")  # subscribes afterwards: retained only
    try:
        wait_for(lambda: len(watch.messages) == count, what="every retained config")
        assert all(retained for _, _, retained in watch.messages)
        assert {json.loads(p)["unique_id"] for _, p, _ in watch.messages} == {
            c["unique_id"] for _, c in discovery_configs(home)
        }
    finally:
        watch.close()
