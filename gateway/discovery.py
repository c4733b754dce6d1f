"""Home Assistant MQTT discovery: one retained config per configured device and reading kind, plus the alarm
panel, so a user's Home Assistant shows the home at once (https://www.home-assistant.io/integrations/mqtt/)."""

from __future__ import annotations

import logging
from typing import Any

import paho.mqtt.client as mqtt

from protocol import GATEWAY, Channel, Kind, encode, topics
from protocol.config import Device, DeviceType, HomeConfig

logger = logging.getLogger(__name__)
ORIGIN = {"name": "iotpipe", "url": "https://github.com/iotpipe/iotpipe"}

# kind -> (component, device_class, state_class, unit); declared once, as data. Units are protocol/kinds.py's.
SENSORS: dict[Kind, tuple[str, str | None, str | None, str | None]] = {
    Kind.TEMPERATURE: ("sensor", "temperature", "measurement", "°C"),
    Kind.HUMIDITY: ("sensor", "humidity", "measurement", "%"),
    Kind.LIGHT: ("sensor", "illuminance", "measurement", "lx"),
    Kind.POWER: ("sensor", "power", "measurement", "W"),
    Kind.ENERGY: ("sensor", "energy", "total_increasing", "kWh"),  # a cumulative meter
    Kind.VOLTAGE: ("sensor", "voltage", "measurement", "V"),
    Kind.CURRENT: ("sensor", "current", "measurement", "A"),
    Kind.MOTION: ("binary_sensor", "motion", None, None),
    Kind.CONTACT: ("binary_sensor", "opening", None, None),
    Kind.SMOKE: ("binary_sensor", "smoke", None, None),
    Kind.SWITCH: ("switch", "switch", None, None),
}
_MODES = "{'disarmed': 'disarmed', 'home': 'armed_home', 'away': 'armed_away', 'night': 'armed_night'}"


def value_template(kind: Kind, boolean: bool) -> str:
    """Pick one kind out of the readings array. A message without it renders '' (Home Assistant keeps the
    state); a failed sensor renders None (unknown)."""
    pick = f"{{% set r = value_json.readings | selectattr('kind', 'eq', '{kind.value}') | list %}}"
    value = "('ON' if r[0].value else 'OFF')" if boolean else "r[0].value"
    return pick + f"{{{{ ({value} if r[0].value is not none else 'None') if r else '' }}}}"


def _device_block(home: HomeConfig, device: Device) -> dict[str, Any]:
    room = home.room(device.room)
    return {
        "identifiers": [f"iotpipe-{home.home.id}-{device.id}"],
        "name": device.label,
        "manufacturer": "iotpipe",
        "model": device.type.value,
        "suggested_area": room.name if room else device.room,
    }


def entity_config(home: HomeConfig, device: Device, kind: Kind, prefix: str) -> tuple[str, dict[str, Any]]:
    """The discovery topic and config of one device's one kind."""
    component, device_class, state_class, unit = SENSORS[kind]
    home_id = home.home.id
    if kind is Kind.CONTACT and device.opening is not None:
        device_class = device.opening.value  # door | window
    if kind is Kind.SWITCH:
        device_class = "outlet" if device.type is DeviceType.PLUG else "switch"
    config: dict[str, Any] = {
        "name": kind.value.capitalize(),
        "unique_id": f"iotpipe-{home_id}-{device.id}-{kind.value}",
        "state_topic": topics.edge(home_id, device.id, Channel.TELEMETRY),
        "value_template": value_template(kind, component != "sensor"),
        "availability_topic": topics.edge(home_id, device.id, Channel.STATUS),
        "availability_template": "{{ 'online' if value_json.online else 'offline' }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device_class": device_class,
        "device": _device_block(home, device),
        "origin": ORIGIN,
        "qos": 1,
    }
    if component == "sensor":
        config |= {"state_class": state_class, "unit_of_measurement": unit}
    if component == "switch":
        config |= {
            "command_topic": topics.edge(home_id, device.id, Channel.SET),
            "payload_on": '{"switch": true}',
            "payload_off": '{"switch": false}',
            "state_on": "ON",
            "state_off": "OFF",
        }
    return f"{prefix}/{component}/{home_id}/{device.id}_{kind.value}/config", config


def alarm_panel(home: HomeConfig, prefix: str) -> tuple[str, dict[str, Any]]:
    """The alarm as an MQTT alarm control panel: state from `gateway/mode`, commands to `gateway/mode/set`."""
    home_id = home.home.id
    config: dict[str, Any] = {
        "name": "Alarm",
        "unique_id": f"iotpipe-{home_id}-alarm",
        "state_topic": topics.edge(home_id, GATEWAY, Channel.MODE),
        "value_template": f"{{{{ {_MODES}[value_json.mode] }}}}",
        "command_topic": topics.edge(home_id, GATEWAY, Channel.MODE_SET),
        "command_template": '{"mode": "{{ action }}", "by": "home-assistant"}',
        "payload_disarm": "disarmed",
        "payload_arm_home": "home",
        "payload_arm_away": "away",
        "payload_arm_night": "night",
        "code_arm_required": False,
        "code_disarm_required": False,
        "supported_features": ["arm_home", "arm_away", "arm_night"],
        "device": {
            "identifiers": [f"iotpipe-{home_id}-gateway"],
            "name": f"{home.home.name} gateway",
            "manufacturer": "iotpipe",
            "model": "gateway",
        },
        "origin": ORIGIN,
        "qos": 1,
    }
    return f"{prefix}/alarm_control_panel/{home_id}/alarm/config", config


def discovery_configs(home: HomeConfig, prefix: str = "homeassistant") -> list[tuple[str, dict[str, Any]]]:
    """Every (topic, config) to publish: each configured device's kinds, and the alarm panel."""
    configs = [entity_config(home, device, kind, prefix) for device in home.devices for kind in device.kinds]
    return [*configs, alarm_panel(home, prefix)]


def publish_discovery(
    client: mqtt.Client, home: HomeConfig, prefix: str = "homeassistant"
) -> list[mqtt.MQTTMessageInfo]:
    """Publish every discovery config, retained with QoS 1 (call on every connect); the infos let callers wait."""
    configs = discovery_configs(home, prefix)
    infos = [client.publish(topic, encode(config), qos=1, retain=True) for topic, config in configs]
    logger.info("home assistant discovery published configs=%d prefix=%s", len(configs), prefix)
    return infos
