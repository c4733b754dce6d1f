"""Topic grammar of the edge and cloud brokers: builders, and a parser that rejects anything else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import ProtocolError, Reason

ID_PATTERN = r"^[a-z0-9-]{1,40}$"
_ID = re.compile(ID_PATTERN)
GATEWAY = "gateway"  # reserved: the gateway's own topics live under this "device" id


class Channel(StrEnum):
    """The last part(s) of a topic: what the message is about."""

    TELEMETRY = "telemetry"
    STATUS = "status"
    SET = "set"
    ACK = "ack"
    ALERTS = "alerts"
    ALERTS_ACK = "alerts/ack"
    EVENTS = "events"
    MODE = "mode"
    MODE_SET = "mode/set"
    REJECTED = "rejected"


DEVICE_CHANNELS = frozenset({Channel.TELEMETRY, Channel.STATUS, Channel.SET, Channel.ACK})
GATEWAY_CHANNELS = frozenset(
    {
        Channel.ALERTS,
        Channel.ALERTS_ACK,
        Channel.EVENTS,
        Channel.MODE,
        Channel.MODE_SET,
        Channel.REJECTED,
        Channel.STATUS,
    }
)


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: prefix (`iot` at the edge, `up` on the uplink), home, device and channel."""

    prefix: str
    home: str
    device: str
    channel: Channel

    def __str__(self) -> str:
        return f"{self.prefix}/{self.home}/{self.device}/{self.channel.value}"


def valid_id(value: str) -> bool:
    """True when `value` may be a home or device id (`[a-z0-9-]{1,40}`)."""
    return bool(_ID.fullmatch(value))


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a valid id, else raise ProtocolError(bad_topic)."""
    if not valid_id(value):
        raise ProtocolError(Reason.BAD_TOPIC, f"{what} {value!r} must match [a-z0-9-]{{1,40}}")
    return value


def edge(home: str, device: str, channel: Channel) -> str:
    """Build an edge-broker topic, `iot/{home}/{device}/{channel}`."""
    return f"iot/{check_id(home, 'home')}/{check_id(device, 'device')}/{channel.value}"


def uplink(home: str, device: str, channel: Channel) -> str:
    """Build a cloud-broker topic, `up/{home}/{device}/{channel}`."""
    return f"up/{check_id(home, 'home')}/{check_id(device, 'device')}/{channel.value}"


def uplink_batch(home: str) -> str:
    """The uplink topic that carries a JSON array of telemetry messages."""
    return f"up/{check_id(home, 'home')}/batch"


def parse(topic: str, prefix: str = "iot") -> Topic:
    """Parse a topic of the given prefix; raise ProtocolError(bad_topic) naming what is wrong."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != prefix:
        raise ProtocolError(Reason.BAD_TOPIC, f"topic {topic!r} is not {prefix}/{{home}}/{{device}}/{{channel}}")
    _, home, device, *rest = parts
    check_id(home, "home")
    check_id(device, "device")
    try:
        channel = Channel("/".join(rest))
    except ValueError:
        raise ProtocolError(Reason.BAD_TOPIC, f"topic {topic!r} has unknown channel {'/'.join(rest)!r}") from None
    allowed = GATEWAY_CHANNELS if device == GATEWAY else DEVICE_CHANNELS
    if channel not in allowed:
        raise ProtocolError(Reason.BAD_TOPIC, f"topic {topic!r}: channel {channel.value!r} not allowed for {device!r}")
    return Topic(prefix, home, device, channel)
