"""The production edge broker: who may log in, and what each account may publish and read.

Denied publishes are checked at a subscriber that is allowed to read them, never from the PUBACK: Mosquitto
acknowledges a QoS 1 publish it has denied, silently.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.config import parse_home_config
from protocol.endpoint import BrokerURL, make_client
from protocol.settings import EXAMPLE_CONFIG
from tests.security.conftest import Pki, SecureBroker, start_secure
from tests.security.peers import Peer, attempt
from tests.support import wait_for


@pytest.fixture
def gateway(edge: SecureBroker) -> Iterator[Peer]:
    """The gateway account, subscribed as the gateway is (telemetry, status, its own topics)."""
    peer = Peer(edge.url("gateway-demo"))
    topics = ("iot/demo/+/telemetry", "iot/demo/+/status", "iot/demo/+/ack", "iot/demo/gateway/#")
    assert peer.subscribe(*topics) == [True] * len(topics)
    yield peer
    peer.close()


@pytest.fixture
def door_a(edge: SecureBroker) -> Iterator[Peer]:
    """Device door-a, logged in with its own account."""
    peer = Peer(edge.url("door-a"))
    yield peer
    peer.close()


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("", ""), ("", "x"), ("door-a", "wrong"), ("door-a", ""), ("nobody", "x"), ("DOOR-A", None)],
    ids=["anonymous", "empty-user", "empty-user-with-password", "wrong-password", "empty-password",
         "unknown-user", "username-case"],
)
def test_login_without_valid_credentials_is_refused(edge: SecureBroker, user: str | None, password: str | None) -> None:
    secret = edge.passwords["door-a"] if password is None and user is not None else password
    url = edge.url(user, password=secret) if user is not None else edge.url(None)
    outcome = attempt(url)
    assert outcome.startswith("refused"), outcome
    assert "Not authorized" in outcome or "Bad user name or password" in outcome


def test_anonymous_is_refused_on_tls_too(edge: SecureBroker, pki: Pki) -> None:
    assert attempt(edge.url(None, tls=True, query=f"?ca={pki.ca}")).startswith("refused")


def test_device_cannot_publish_as_another_device(edge: SecureBroker, gateway: Peer, door_a: Peer) -> None:
    for channel in ("telemetry", "status", "ack", "set"):  # a forged ack would make door-b drop unsent readings
        door_a.publish(f"iot/demo/door-b/{channel}", b'{"forged": true}')
    door_a.publish("iot/demo/door-a/telemetry", b'{"own": true}')  # same publisher, so it arrives after the above
    wait_for(lambda: gateway.on("iot/demo/door-a/telemetry"), what="door-a's own telemetry at the gateway")
    assert gateway.topics() == {"iot/demo/door-a/telemetry"}


@pytest.fixture
def pi_climate_edge(tmp_path: Path, pki: Pki) -> Iterator[SecureBroker]:
    """An edge broker whose ACL is for a home with `[alarm.climate]`: a DHT22 on the Pi reported as a device."""
    home = parse_home_config(EXAMPLE_CONFIG.read_text().replace("# climate = {", "climate = {"), "home.toml")
    assert home.alarm["climate"]["device"] == "climate-hallway"
    secure = start_secure(tmp_path / "edge", "edge", pki, ("gateway-demo", "dash-demo"), home=home)
    yield secure
    secure.server.kill()


def test_gateway_reports_the_pis_own_climate_device_and_no_other(pi_climate_edge: SecureBroker) -> None:
    dash = Peer(pi_climate_edge.url("dash-demo"))
    assert dash.subscribe("iot/demo/+/telemetry") == [True]
    gateway = Peer(pi_climate_edge.url("gateway-demo"))
    gateway.publish("iot/demo/climate-living/telemetry", b'{"forged": true}')
    gateway.publish("iot/demo/climate-hallway/telemetry", b'{"pi": "dht22"}')
    wait_for(lambda: dash.on("iot/demo/climate-hallway/telemetry"), what="the Pi's climate readings")
    assert dash.topics() == {"iot/demo/climate-hallway/telemetry"}
    for peer in (dash, gateway):
        peer.close()


def test_device_cannot_publish_into_other_homes_or_channels(gateway: Peer, door_a: Peer, edge: SecureBroker) -> None:
    dash = Peer(edge.url("dash-demo"))
    assert dash.subscribe("iot/demo/#") == [True]
    for topic in ("iot/other/door-a/telemetry", "iot/demo/door-a/set", "iot/demo/door-a/ack", "iot/demo/door-a/x"):
        door_a.publish(topic)
    door_a.publish("iot/demo/door-a/status", b'{"online": true}')
    wait_for(lambda: dash.on("iot/demo/door-a/status"), what="door-a's own status at the dashboard")
    assert dash.topics() == {"iot/demo/door-a/status"}
    dash.close()


def test_device_cannot_read_another_devices_commands(edge: SecureBroker, door_a: Peer) -> None:
    door_b = Peer(edge.url("door-b"))
    assert door_b.subscribe("iot/demo/door-b/set") == [True]
    # Mosquitto 2.0 grants these subscriptions and filters each message by read access at delivery.
    door_a.subscribe("iot/demo/door-b/set", "iot/demo/+/set", "iot/demo/#", "#")
    door_b.publish("iot/demo/door-b/telemetry", b'{"seq": 1}')  # nor its readings, nor anyone else's
    gateway = Peer(edge.url("gateway-demo"))
    gateway.publish("iot/demo/door-b/ack", b'{"boot": "b", "seq": 1}')
    gateway.publish("iot/demo/gateway/alerts", b'{"id": "x"}')
    dash = Peer(edge.url("dash-demo"))
    dash.publish("iot/demo/door-b/set", b'{"switch": true}')
    dash.publish("iot/demo/door-a/set", b'{"switch": false}')  # PUBACKed after all of the above: it comes last
    wait_for(lambda: door_a.on("iot/demo/door-a/set"), what="door-a's own command")
    wait_for(lambda: door_b.on("iot/demo/door-b/set"), what="door-b's command at door-b")
    assert door_a.topics() == {"iot/demo/door-a/set"}
    for peer in (door_b, gateway, dash):
        peer.close()


def test_device_cannot_raise_alerts_or_change_the_alarm_mode(edge: SecureBroker, gateway: Peer, door_a: Peer) -> None:
    door_a.publish("iot/demo/gateway/alerts", b'{"severity": "critical"}')
    door_a.publish("iot/demo/gateway/mode/set", b'"disarmed"')
    door_a.publish("iot/demo/gateway/mode", b'"disarmed"', retain=True)
    door_a.publish("iot/demo/gateway/status", b'{"online": false}', retain=True)
    dash = Peer(edge.url("dash-demo"))
    dash.publish("iot/demo/gateway/mode/set", b'"away"')  # the dashboard may: proves the gateway would see it
    wait_for(lambda: gateway.on("iot/demo/gateway/mode/set"), what="the dashboard's mode change at the gateway")
    assert gateway.on("iot/demo/gateway/mode/set") == [b'"away"']
    assert gateway.topics() == {"iot/demo/gateway/mode/set"}
    dash.close()


def test_gateway_account_does_its_job_and_no_more(edge: SecureBroker, gateway: Peer, door_a: Peer) -> None:
    assert door_a.subscribe("iot/demo/door-a/set", "iot/demo/door-a/ack") == [True, True]
    dash = Peer(edge.url("dash-demo"))
    assert dash.subscribe("iot/demo/#") == [True]
    door_a.publish("iot/demo/door-a/telemetry", b'{"seq": 1}')
    wait_for(lambda: gateway.on("iot/demo/door-a/telemetry"), what="telemetry at the gateway")
    gateway.publish("iot/demo/door-b/telemetry", b'{"forged": true}')  # the gateway never speaks for a device
    gateway.publish("iot/demo/door-a/ack", b'{"boot": "b", "seq": 1}')
    gateway.publish("iot/demo/door-a/set", b'{"buzzer": true}')
    gateway.publish("iot/demo/gateway/alerts", b'{"id": "intrusion"}')
    gateway.publish("iot/demo/gateway/mode", b'"away"', retain=True)
    wait_for(lambda: door_a.on("iot/demo/door-a/ack") and door_a.on("iot/demo/door-a/set"), what="ack and set")
    wait_for(lambda: gateway.on("iot/demo/door-a/ack"), what="the gateway reading its own watermark back")
    wait_for(lambda: dash.on("iot/demo/gateway/mode"), what="the alarm mode at the dashboard")
    assert dash.on("iot/demo/gateway/alerts") == [b'{"id": "intrusion"}']
    assert "iot/demo/door-b/telemetry" not in dash.topics()
    gateway.publish("iot/demo/gateway/mode", b"", retain=True)  # clear the retained mode for other tests
    dash.close()


def test_client_id_of_another_device_does_not_take_over_its_session(edge: SecureBroker, pki: Pki) -> None:
    tls = f"?ca={pki.ca}"  # devices connect over the LAN, that is over TLS: the listener that renames clients
    victim = Peer(edge.url("plug-c", tls=True, query=tls))
    assert victim.subscribe("iot/demo/plug-c/set") == [True]
    impostor = Peer(edge.url("door-a", tls=True, query=tls), client_id="plug-c")  # would kick plug-c off
    second = Peer(edge.url("door-a", tls=True, query=tls), client_id="anything")  # both are "door-a": it wins
    wait_for(lambda: impostor.drops, what="the first door-a connection to be taken over by the second")
    impostor.close()  # before paho reconnects it (and takes the session back)
    dash = Peer(edge.url("dash-demo"))
    dash.publish("iot/demo/plug-c/set", b'{"switch": true}')
    wait_for(lambda: victim.on("iot/demo/plug-c/set"), what="plug-c, still connected, to get its command")
    assert victim.drops == [] and second.drops == []
    assert impostor.on("iot/demo/plug-c/set") == [] and second.on("iot/demo/plug-c/set") == []
    for peer in (victim, second, dash):
        peer.close()


def test_local_service_connections_keep_their_client_ids(edge: SecureBroker) -> None:
    # The gateway's spine and its rules runner are two connections with one account, on loopback.
    spine = Peer(edge.url("gateway-demo"), client_id="gateway-demo")
    rules = Peer(edge.url("gateway-demo"), client_id="gateway-demo-rules")
    assert spine.subscribe("iot/demo/gateway/mode/set") == [True] and rules.subscribe("iot/demo/+/status") == [True]
    door = Peer(edge.url("door-b"))
    door.publish("iot/demo/door-b/status", b'{"online": true}')
    wait_for(lambda: rules.on("iot/demo/door-b/status"), what="status at the rules connection")
    assert spine.drops == [] and rules.drops == []
    for peer in (spine, rules, door):
        peer.close()


def vanish_with_will(edge: SecureBroker, user: str, will_topic: str) -> None:
    """Log in as `user` with a will on `will_topic`, then drop the TCP connection without DISCONNECT."""
    url = BrokerURL.parse(edge.url(user))
    client = make_client(url, user)
    client.will_set(will_topic, b'{"online": false}', qos=1)
    connected: list[object] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: connected.append(rc)

    def answered() -> list[object]:
        client.loop(timeout=0.05)
        return connected

    client.connect(url.host, url.port)
    wait_for(answered, what=f"{user}'s CONNACK")
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    seen = edge.server.log_path.read_text().count(f"Client {user} closed its connection")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    wait_for(lambda: edge.server.log_path.read_text().count(f"Client {user} closed its connection") > seen,
             what="the broker noticing the drop (it publishes the will then)")


def test_a_will_speaks_only_for_its_own_device(edge: SecureBroker, gateway: Peer) -> None:
    vanish_with_will(edge, "door-a", "iot/demo/door-a/status")
    wait_for(lambda: gateway.on("iot/demo/door-a/status"), what="door-a's own will")
    vanish_with_will(edge, "door-a", "iot/demo/door-b/status")  # would mark door-b offline
    door_a = Peer(edge.url("door-a"))
    door_a.publish("iot/demo/door-a/telemetry", b'{"seq": 1}')
    wait_for(lambda: gateway.on("iot/demo/door-a/telemetry"), what="door-a's telemetry, after the second will")
    assert gateway.on("iot/demo/door-b/status") == []
    door_a.close()
