"""The rules run inside the gateway process (`Gateway(rules=True)`, as `iotpipe gateway run` does): an intrusion
is published on the edge at once and reaches the cloud through the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from gateway.service import Gateway
from iotpipe.broker import Mosquitto, free_port
from protocol import AlertState, Kind, ModeChange, Reading, Telemetry, decode_alert, decode_uplink_batch, encode
from protocol.messages import AlarmMode
from protocol.settings import load_settings
from tests.gateway_rules.conftest import free_udp_port
from tests.gateway_rules.test_service import home_toml
from tests.support import Recorder, wait_for


def test_gateway_process_raises_intrusion_at_the_edge_and_forwards_it(
    tmp_path: Path, home_id: str, broker: Mosquitto, make_broker: Callable[..., Mosquitto]
) -> None:
    cloud = make_broker("cloud")
    path = tmp_path / "home.toml"
    text = home_toml(home_id, free_port(), free_udp_port())
    path.write_text(text.replace("\nclimate = {", "\n# climate = {"))  # no DHT22 library here
    settings = load_settings(path, edge_url=broker.url, cloud_url=cloud.url, var=tmp_path / "var", env={})
    edge_watch = Recorder(broker.host, broker.port, f"iot/{home_id}/gateway/#")
    cloud_watch = Recorder(cloud.host, cloud.port, f"up/{home_id}/#")
    try:
        with Gateway(settings, rules=True) as gateway:
            assert gateway.wait_ready() and gateway.rules is not None
            mode_set = f"iot/{home_id}/gateway/mode/set"
            edge_watch.client.publish(mode_set, encode(ModeChange(AlarmMode.AWAY, by="test")), qos=1)
            wait_for(lambda: edge_watch.on("/mode"), what="the retained mode")
            door = Telemetry(v=1, device="door-back", boot="abcd", seq=1, ts=time.time(),
                             readings=(Reading(Kind.CONTACT, True),))
            edge_watch.client.publish(f"iot/{home_id}/door-back/telemetry", encode(door), qos=1)
            wait_for(lambda: len(edge_watch.on("/alerts")) >= 2, what="pending and triggered at the edge")
            states = [decode_alert(p).state for p in edge_watch.on("/alerts")]
            assert states[:2] == [AlertState.PENDING, AlertState.TRIGGERED]  # door-back: no entry delay
            wait_for(lambda: len(cloud_watch.on("/gateway/alerts")) >= 2, what="the alerts through the uplink")
            assert [decode_alert(p).state for p in cloud_watch.on("/gateway/alerts")][:2] == states[:2]
            wait_for(lambda: cloud_watch.on("/door-back/telemetry") or any(
                m.device == "door-back" for p in cloud_watch.on("/batch") for m in decode_uplink_batch(p)
            ), what="the door reading itself (alone, or in a batch)")
    finally:
        edge_watch.close()
        cloud_watch.close()
