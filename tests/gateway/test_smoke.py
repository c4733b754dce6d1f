"""Smoke: one reading goes from a device through the gateway to the cloud."""

from __future__ import annotations

from gateway.service import Gateway
from iotpipe.broker import Mosquitto
from tests.gateway.devices import CloudSubscriber, TestDevice
from tests.support import wait_for


def test_reading_reaches_cloud(gateway: Gateway, broker: Mosquitto, cloud_broker: Mosquitto, home_id: str) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    device = TestDevice(broker.host, broker.port, home_id, "climate-a")
    wait_for(device.subscribed.is_set, what="device subscribed")
    device.send(50)
    wait_for(lambda: len(cloud.received()) >= 50, what="50 readings at the cloud")
    wait_for(lambda: not device.outbox, what="watermark freed the device outbox")
    assert cloud.uplinks[0].room == "living"
    device.close()
    cloud.close()
