"""Delivery through real brokers: dedup across restarts, watermarks, lost gaps, cloud outages, a full outbox."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import msgspec

from gateway.events import EventKind, GatewayEvent
from gateway.replay import replay_rejected
from gateway.service import Gateway
from iotpipe.broker import Mosquitto
from protocol import decode_watermark
from protocol.settings import Settings
from tests.gateway.conftest import DEVICES, GATEWAY
from tests.gateway.devices import CloudSubscriber, TestDevice
from tests.support import Recorder, wait_for


class FakeClock:
    """Wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def device_for(broker: Mosquitto, home: str, device: str, kind: str = "temperature") -> TestDevice:
    made = TestDevice(broker.host, broker.port, home, device, kind)
    wait_for(made.subscribed.is_set, what=f"{device} subscribed")
    return made


def events(cloud: CloudSubscriber) -> list[GatewayEvent]:
    return [msgspec.json.decode(p, type=GatewayEvent) for p in cloud.on("/gateway/events")]


def test_a_replayed_message_counts_once_even_across_a_restart(
    settings: Settings, broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    device = device_for(broker, home_id, "climate-a")
    with Gateway(settings) as gateway:
        assert gateway.wait_ready()
        device.send(20)
        wait_for(lambda: len(cloud.received()) == 20, what="20 readings")
        device.outbox = {seq: device.payload(seq) for seq in range(1, 21)}  # as if the watermark never came
        assert device.resend() == 20
        wait_for(lambda: gateway.metrics.value("gateway_duplicates_total") == 20, what="20 repeats counted")
    with Gateway(settings) as gateway:
        assert gateway.wait_ready()
        device.outbox = {seq: device.payload(seq) for seq in range(1, 21)}
        assert device.resend() == 20
        wait_for(lambda: gateway.metrics.value("gateway_duplicates_total") == 20, what="repeats after restart")
        device.send(1)
        wait_for(lambda: len(cloud.received()) == 21)
    assert sorted(cloud.received()) == [("climate-a", device.boot, s) for s in range(1, 22)]
    device.close()
    cloud.close()


def test_watermark_is_retained_and_frees_the_device_outbox(gateway: Gateway, broker: Mosquitto, home_id: str) -> None:
    device = device_for(broker, home_id, "plug-a")
    device.send(30)
    wait_for(lambda: not device.outbox, what="device outbox freed by the watermark")
    late = Recorder(broker.host, broker.port, f"iot/{home_id}/plug-a/ack")  # a device reconnecting later
    wait_for(lambda: late.messages, what="retained watermark")
    _topic, payload, retained = late.messages[0]
    assert retained and decode_watermark(payload).seq == 30 and decode_watermark(payload).boot == device.boot
    late.close()
    device.close()


def test_gap_not_filled_in_time_is_recorded_lost_and_the_watermark_moves_on(
    settings: Settings, broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    clock = FakeClock()
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    with Gateway(settings, clock=clock) as gateway:
        assert gateway.wait_ready()
        device = device_for(broker, home_id, "climate-a")
        device.send(2)
        device.seq += 1  # seq 3 never leaves the device (its outbox overflowed)
        device.send(2)
        wait_for(lambda: len(cloud.received()) == 4)
        wait_for(lambda: device.watermark == 2, what="watermark stops below the hole")
        clock.now += 59
        device.send(1)
        wait_for(lambda: len(cloud.received()) == 5, what="5 readings")
        assert device.watermark == 2 and gateway.metrics.value("gateway_lost_readings_total") == 0
        clock.now += 2
        wait_for(lambda: device.watermark == 6, what="watermark past the lost gap")
        assert gateway.metrics.value("gateway_lost_readings_total") == 1
        assert gateway.metrics.value("gateway_lost_gaps_total") == 1
        lost = wait_for(lambda: [e for e in events(cloud) if e.event is EventKind.LOST])
        assert (lost[0].device, lost[0].boot, lost[0].first, lost[0].last) == ("climate-a", device.boot, 3, 3)
    device.close()
    cloud.close()


def test_device_status_changes_are_forwarded_once(
    gateway: Gateway, broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    device = device_for(broker, home_id, "door-a", "contact")
    topic = f"iot/{home_id}/door-a/status"
    for online in (True, True, False):
        device.client.publish(topic, b'{"online": %s, "fw": "1.2.0"}' % (b"true" if online else b"false"), 1, True)
    wait_for(lambda: gateway.metrics.value("gateway_messages_received_total") >= 3)
    changes = wait_for(lambda: [e for e in events(cloud) if e.event is EventKind.STATUS] or None)
    wait_for(lambda: len([e for e in events(cloud) if e.event is EventKind.STATUS]) == 2)
    assert [e.status.online for e in events(cloud) if e.status] == [True, False]
    assert changes[0].device == "door-a"
    device.client.publish(topic, b"", 1, True)  # clear the retained status
    device.close()
    cloud.close()


def test_cloud_down_then_back_every_reading_once_in_order(
    make_settings: Callable[..., Settings], make_broker: Callable[..., Mosquitto], broker: Mosquitto, home_id: str
) -> None:
    cloud_server = make_broker("cloud")
    cloud = CloudSubscriber(cloud_server.host, cloud_server.port, home_id)
    with Gateway(make_settings(broker, cloud_server)) as gateway:
        assert gateway.wait_ready()
        devices = [device_for(broker, home_id, d) for d in ("climate-a", "plug-a")]
        for device in devices:
            device.send(200)
        wait_for(lambda: len(cloud.received()) >= 100, what="forwarding under way")
        cloud_server.stop()
        for device in devices:
            device.send(300)
        wait_for(lambda: all(not d.outbox for d in devices), what="watermarks advance while the cloud is away")
        assert gateway.metrics.value("gateway_outbox_rows") > 0
        cloud_server.start()
        wait_for(lambda: len(set(cloud.received())) == 1000, timeout=30, what="every reading at the cloud")
        wait_for(lambda: gateway.metrics.value("gateway_outbox_rows") == 0, what="outbox drained")
    keys = cloud.received()
    for device in devices:
        seqs = [s for d, b, s in keys if d == device.device]
        first_seen = list(dict.fromkeys(seqs))
        assert first_seen == list(range(1, 501)), "in order per device"
    repeats = len(keys) - len(set(keys))
    assert repeats <= gateway.config.max_inflight * gateway.config.uplink_batch  # only what was in flight at the cut
    for device in devices:
        device.close()
    cloud.close()


def test_full_outbox_drops_oldest_routine_telemetry_never_security(
    make_settings: Callable[..., Settings], make_broker: Callable[..., Mosquitto], broker: Mosquitto, home_id: str
) -> None:
    cloud_server = make_broker("cloud")
    cloud = CloudSubscriber(cloud_server.host, cloud_server.port, home_id)
    cloud_server.stop()  # the subscriber's session is saved; the gateway sees no cloud at all
    settings = make_settings(broker, cloud_server, GATEWAY + "outbox_max_rows = 100\n")
    with Gateway(settings) as gateway:
        assert gateway.wait_ready()
        climate = device_for(broker, home_id, "climate-a")
        door = device_for(broker, home_id, "door-a", "contact")
        for _ in range(10):
            climate.send(30)
            door.send(3)
        wait_for(lambda: gateway.metrics.value("gateway_readings_accepted_total") == 330, what="all stored")
        wait_for(lambda: not climate.outbox and not door.outbox)
        wait_for(lambda: gateway.metrics.value("gateway_outbox_dropped_total") > 0)
        dropped = gateway.metrics.value("gateway_outbox_dropped_total")
        with sqlite3.connect(gateway.db_path) as db:
            kept = db.execute("SELECT count(*) FROM outbox WHERE keep = 1 AND topic LIKE '%/door-a/%'").fetchone()
            routine = db.execute("SELECT count(*) FROM outbox WHERE keep = 0").fetchone()
        assert kept[0] == 30 and routine[0] <= 100
        cloud_server.start()
        wait_for(lambda: gateway.metrics.value("gateway_outbox_rows") == 0, timeout=30, what="outbox drained")
        wait_for(lambda: len(set(cloud.received())) == 330 - dropped, what="the rest at the cloud")
    received = set(cloud.received())
    assert {("door-a", door.boot, s) for s in range(1, 31)} <= received
    assert ("climate-a", climate.boot, 300) in received and ("climate-a", climate.boot, 1) not in received
    drops = [e for e in events(cloud) if e.event is EventKind.DROPPED]
    assert sum(e.count or 0 for e in drops) == dropped
    climate.close()
    door.close()
    cloud.close()


def test_replay_rejected_after_a_config_fix_counts_once(
    make_settings: Callable[..., Settings], broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    with Gateway(make_settings(broker, cloud_broker)) as gateway:
        assert gateway.wait_ready()
        device = device_for(broker, home_id, "plug-new")
        device.send(5)
        wait_for(
            lambda: gateway.metrics.value("gateway_rejected_total", reason="unknown_device") == 5, what="5 rejected"
        )
    fixed = DEVICES + '\n[[devices]]\nid = "plug-new"\ntype = "plug"\nroom = "kitchen"\nappliance = "toaster"\n'
    settings = make_settings(broker, cloud_broker, GATEWAY, fixed)
    with Gateway(settings) as gateway:
        assert gateway.wait_ready()
        result = replay_rejected(settings)
        assert (result.queued, result.waiting, result.rejected_again) == (5, 0, {})
        wait_for(lambda: len(cloud.received()) == 5, what="replayed readings at the cloud")
        assert replay_rejected(settings).queued == 0
        wait_for(lambda: device.watermark == 5, what="watermark covers the replayed readings")
        device.outbox = {seq: device.payload(seq) for seq in range(1, 6)}
        assert device.resend() == 5  # as if the device had missed the watermark: repeats, counted once
        wait_for(lambda: gateway.metrics.value("gateway_duplicates_total") >= 5, what="repeats counted")
    assert sorted(cloud.received()) == [("plug-new", device.boot, s) for s in range(1, 6)]
    assert {u.appliance for u in cloud.uplinks} == {"toaster"}
    device.close()
    cloud.close()
