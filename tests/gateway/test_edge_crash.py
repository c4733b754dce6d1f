"""The edge broker SIGKILLed and restarted: everyone reconnects by themselves, and device outboxes (freed only by
the watermark) fill what the broker lost."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.service import Gateway
from iotpipe.broker import Mosquitto
from protocol.settings import Settings
from tests.gateway.devices import CloudSubscriber, TestDevice
from tests.support import wait_for

RESEND_AFTER_S = 1.0  # the test devices' resend timer (firmware: about 10 s), kept short to keep the test short


def test_edge_broker_killed_and_restarted(
    make_settings: Callable[..., Settings],
    make_broker: Callable[..., Mosquitto],
    cloud_broker: Mosquitto,
    home_id: str,
) -> None:
    edge = make_broker("edge")
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    with Gateway(make_settings(edge, cloud_broker)) as gateway:
        assert gateway.wait_ready()
        devices = [TestDevice(edge.host, edge.port, home_id, d) for d in ("climate-a", "plug-a")]
        for device in devices:
            wait_for(device.subscribed.is_set)
        for round_ in range(10):
            for device in devices:
                device.send(100)
            if round_ == 4:
                edge.kill()  # whatever Mosquitto had not saved (all of it: autosave is every 60 s) is gone
                edge.start()
        last_resend = [time.monotonic()]

        def complete() -> bool:
            if time.monotonic() - last_resend[0] > RESEND_AFTER_S:  # the devices' resend timer
                last_resend[0] = time.monotonic()
                for device in devices:
                    device.resend()
            return all(not d.outbox for d in devices)

        wait_for(complete, timeout=60, what="every device outbox emptied by the watermark")
        wanted = {(d.device, d.boot, seq) for d in devices for seq in range(1, 1001)}
        wait_for(lambda: set(cloud.received()) >= wanted, timeout=30, what="all 2,000 readings at the cloud")
        assert gateway.edge.generation >= 2, "the gateway reconnected by itself"
        assert gateway.metrics.value("gateway_edge_connected") == 1
        assert gateway.metrics.value("gateway_lost_readings_total") == 0
    assert set(cloud.received()) == wanted
    for device in devices:
        device.close()
    cloud.close()
