"""Fixtures: a private CA, and Mosquitto brokers started with the production configs of deploy/mosquitto/secure/."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from iotpipe.broker import CONFIGS, Mosquitto, free_port
from iotpipe.certs import Issued, ca_paths, issue_client, issue_server, make_ca
from iotpipe.provision import add_account, cloud_acl, edge_acl, new_password
from protocol.config import HomeConfig, load_home_config
from protocol.settings import EXAMPLE_CONFIG

SECURE = CONFIGS / "secure"
HOME = load_home_config(EXAMPLE_CONFIG)  # the committed ACL is the example home's ("demo")
EDGE_USERS = ("door-a", "door-b", "plug-c", "gateway-demo", "dash-demo")
CLOUD_USERS = ("gateway-demo", "gateway-other", "ingest-1")


@dataclass(frozen=True)
class Pki:
    """Our CA with good and bad server certificates, client certificates, and a CA nobody trusts."""

    folder: Path
    rogue: Path  # another CA's folder: its certificates must be refused

    @property
    def ca(self) -> Path:
        """Our CA certificate."""
        return ca_paths(self.folder).cert

    def client(self, name: str) -> Issued:
        """A client certificate (and key) issued by our CA."""
        return Issued(self.folder / f"{name}.pem", self.folder / f"{name}.key")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates for every TLS test, made once with iotpipe.certs."""
    folder, rogue = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("rogue-pki")
    make_ca(folder)
    issue_server(folder, ["localhost", "127.0.0.1"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    issue_server(folder, ["localhost", "127.0.0.1"], name="expired", valid_from=past, days=1)
    issue_server(folder, ["broker.example.org"], name="elsewhere")
    issue_client(folder, "gateway-demo")
    make_ca(rogue, common_name="rogue CA")
    issue_server(rogue, ["localhost", "127.0.0.1"])
    issue_client(rogue, "gateway-demo")
    return Pki(folder, rogue)


def deployed(listener_file: Path, files: dict[str, Path], tls_port: int) -> str:
    """A deployment file (edge-pi.conf, cloud-server.conf) as `extra` for iotpipe.broker: each file it names
    under /etc/mosquitto/iotpipe/ replaced by `files[name]`, its TLS listener moved to `tls_port` on loopback;
    iotpipe.broker supplies the loopback plaintext listener and the persistence folder itself."""
    text = re.sub(r"^(listener \d+ 127\.0\.0\.1|persistence_location .*)$", "", listener_file.read_text(), flags=re.M)
    text = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", text, flags=re.M)
    return re.sub(r"/etc/mosquitto/iotpipe/(\S+)", lambda m: str(files[m.group(1)]), text)


@dataclass
class SecureBroker:
    """A running broker with our production config, its TLS port and the passwords of its accounts."""

    server: Mosquitto
    tls_port: int
    passwords: dict[str, str] = field(default_factory=dict)

    def url(self, user: str | None, *, password: str | None = None, tls: bool = False, query: str = "") -> str:
        """A URL for `user` (its own password unless one is given), plaintext or TLS."""
        auth = ""
        if user is not None:
            secret = password if password is not None else self.passwords[user]
            auth = f"{quote(user, safe='')}:{quote(secret, safe='')}@"
        port = self.tls_port if tls else self.server.port
        return f"{'mqtts' if tls else 'mqtt'}://{auth}127.0.0.1:{port}{query}"


def start_secure(workdir: Path, side: str, pki: Pki, users: tuple[str, ...], *, server: str = "server",
                 home: HomeConfig = HOME) -> SecureBroker:
    """Start `secure/{side}.conf` plus its deployment file, with accounts for `users` and the ACL of `home`."""
    workdir.mkdir(parents=True, exist_ok=True)
    files = {f"{side}.passwd": workdir / f"{side}.passwd", f"{side}.acl": workdir / f"{side}.acl",
             "ca.pem": pki.ca, "server.pem": pki.folder / f"{server}.pem", "server.key": pki.folder / f"{server}.key"}
    passwords = {user: new_password() for user in users}
    for user, password in passwords.items():
        add_account(workdir / f"{side}.passwd", user, password)
    acl = edge_acl(home) if side == "edge" else cloud_acl([home.home.id, "other"])
    (workdir / f"{side}.acl").write_text(acl)
    tls_port = free_port()
    listeners = SECURE / ("edge-pi.conf" if side == "edge" else "cloud-server.conf")
    broker = Mosquitto(workdir, config=f"secure/{side}", extra=deployed(listeners, files, tls_port))
    broker.start()
    return SecureBroker(broker, tls_port, passwords)


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    """The production edge broker config, running for the session (tests must not stop it)."""
    secure = start_secure(tmp_path_factory.mktemp("secure-edge"), "edge", pki, EDGE_USERS)
    yield secure
    secure.server.stop()


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    """The production cloud broker config (mutual TLS for gateways), running for the session."""
    secure = start_secure(tmp_path_factory.mktemp("secure-cloud"), "cloud", pki, CLOUD_USERS)
    yield secure
    secure.server.stop()
