"""TLS on the production configs: clients take credentials and TLS from their URL; bad certificates are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import CLOUD_USERS, Pki, SecureBroker, start_secure
from tests.security.peers import Peer, attempt
from tests.support import wait_for


def ca(pki: Pki) -> str:
    """The URL query that makes a client verify the server against our CA."""
    return f"?ca={pki.ca}"


def mutual(pki: Pki, name: str = "gateway-demo", folder: Path | None = None) -> str:
    """The URL query for mutual TLS: our CA, and a client certificate issued by the CA in `folder`."""
    folder = folder or pki.folder
    return f"?ca={pki.ca}&cert={folder / f'{name}.pem'}&key={folder / f'{name}.key'}"


def test_device_publishes_over_tls_to_the_gateway_on_loopback(edge: SecureBroker, pki: Pki) -> None:
    gateway = Peer(edge.url("gateway-demo"))  # plaintext, loopback only
    assert gateway.subscribe("iot/demo/+/telemetry") == [True]
    device = Peer(edge.url("door-b", tls=True, query=ca(pki)))
    device.publish("iot/demo/door-b/telemetry", b'{"over": "tls"}')
    wait_for(lambda: gateway.on("iot/demo/door-b/telemetry"), what="telemetry sent over TLS")
    assert gateway.on("iot/demo/door-b/telemetry") == [b'{"over": "tls"}']
    device.close()
    gateway.close()


def test_tls_still_needs_the_password(edge: SecureBroker, pki: Pki) -> None:
    assert attempt(edge.url("door-b", password="wrong", tls=True, query=ca(pki))).startswith("refused")


def test_server_signed_by_another_ca_is_refused(edge: SecureBroker, pki: Pki) -> None:
    outcome = attempt(edge.url("door-b", tls=True, query=f"?ca={pki.rogue / 'ca.pem'}"))
    assert "certificate verify failed" in outcome, outcome


@pytest.fixture(params=[("expired", "certificate has expired"), ("elsewhere", "mismatch")], ids=["expired", "host"])
def bad_server(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> Iterator[tuple[SecureBroker, str]]:
    """An edge broker serving a bad certificate (expired; or issued for another host), and the expected error."""
    name, error = request.param
    secure = start_secure(tmp_path / name, "edge", pki, ("door-b",), server=name)
    yield secure, error
    secure.server.kill()


def test_bad_server_certificate_is_refused(bad_server: tuple[SecureBroker, str], pki: Pki) -> None:
    secure, error = bad_server
    outcome = attempt(secure.url("door-b", tls=True, query=ca(pki)))
    assert "certificate verify failed" in outcome and error in outcome, outcome


def test_gateway_uplink_over_mutual_tls_reaches_ingest(cloud: SecureBroker, pki: Pki) -> None:
    ingest = Peer(cloud.url("ingest-1"))  # plaintext on the cloud server's loopback
    assert ingest.subscribe("$share/ingest/up/#") == [True]
    gateway = Peer(cloud.url("gateway-demo", tls=True, query=mutual(pki)))
    gateway.publish("up/demo/door-b/telemetry", b'{"seq": 1}')
    wait_for(lambda: ingest.on("up/demo/door-b/telemetry"), what="the uplink message at ingest")
    gateway.close()
    ingest.close()


def test_gateway_writes_only_its_own_homes_uplink(cloud: SecureBroker, pki: Pki) -> None:
    assert "gateway-other" in CLOUD_USERS
    ingest = Peer(cloud.url("ingest-1"))
    assert ingest.subscribe("up/#") == [True]
    other = Peer(cloud.url("gateway-other"))
    other.publish("up/demo/door-b/telemetry", b'{"forged": true}')
    other.publish("up/other/door-b/telemetry", b'{"own": true}')
    wait_for(lambda: ingest.on("up/other/door-b/telemetry"), what="the other home's own uplink")
    assert ingest.topics() == {"up/other/door-b/telemetry"}
    other.close()
    ingest.close()


@pytest.mark.parametrize(
    ("query", "broker_says"),
    [("plain-ca", "peer did not return a certificate"), ("rogue-cert", "certificate verify failed")],
    ids=["no-client-cert", "client-cert-of-another-ca"],
)
def test_mutual_tls_listener_refuses_a_client_without_our_certificate(
    cloud: SecureBroker, pki: Pki, query: str, broker_says: str
) -> None:
    url_query = ca(pki) if query == "plain-ca" else mutual(pki, folder=pki.rogue)
    seen = cloud.server.log_path.read_text().count(broker_says)
    outcome = attempt(cloud.url("gateway-demo", tls=True, query=url_query))
    # TLS 1.3 finishes the client's side of the handshake first; the broker's refusal then drops the connection.
    assert outcome.startswith(("tls error", "dropped")), outcome
    wait_for(lambda: cloud.server.log_path.read_text().count(broker_says) > seen, what=f"broker log: {broker_says}")


def test_mutual_tls_still_needs_the_password(cloud: SecureBroker, pki: Pki) -> None:
    assert attempt(cloud.url("gateway-demo", password="wrong", tls=True, query=mutual(pki))).startswith("refused")
