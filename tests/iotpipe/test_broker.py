"""The private broker module: starts on a free port, survives restart, explains failures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotpipe.broker import BrokerError, Mosquitto, port_answers
from tests.support import Recorder, wait_for


def test_broker_delivers_and_keeps_retained_across_restart(make_broker: Callable[..., Mosquitto]) -> None:
    server = make_broker()
    assert server.port != 1883
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(server.host, server.port)
    pub.loop_start()
    pub.publish("iot/x/dev/status", b'{"online": true}', qos=1, retain=True).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    server.stop()  # SIGTERM: Mosquitto saves retained messages
    assert not port_answers(server.host, server.port)
    server.start()
    rec = Recorder(server.host, server.port, "iot/#")
    wait_for(lambda: rec.on("/status"), what="retained status after restart")
    assert rec.messages[0] == ("iot/x/dev/status", b'{"online": true}', True)
    rec.close()


def test_broker_that_cannot_start_says_why(tmp_path: Path, broker: Mosquitto) -> None:
    clash = Mosquitto(tmp_path, port=broker.port)  # port taken by the session broker
    with pytest.raises(BrokerError, match="already in use"):
        clash.start()
