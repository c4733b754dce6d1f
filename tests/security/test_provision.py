"""`iotpipe certs` and `iotpipe provision`: bad input refused in one line, and what they write works on real brokers."""

from __future__ import annotations

import base64
import json
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from iotpipe import cli, logs
from iotpipe.broker import Mosquitto, free_port
from iotpipe.provision import Files, add_account, hash_password, passwd_users
from protocol.config import load_home_config
from protocol.endpoint import BrokerURL
from protocol.settings import EXAMPLE_CONFIG, REPO_ROOT
from tests.security.conftest import SECURE, deployed
from tests.security.peers import Peer, attempt
from tests.support import wait_for


@dataclass
class Run:
    """What one CLI run did."""

    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture
def iotpipe(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Cli]:
    """Run `iotpipe ...` in-process through its real entry point (argv may hold a NUL, which exec cannot pass)."""
    for name in ("IOTPIPE_HOME_CONFIG", "IOTPIPE_VAR", "IOTPIPE_EDGE_URL", "IOTPIPE_CLOUD_URL", "IOTPIPE_CERTS",
                 "IOTPIPE_EDGE_PASSWD", "IOTPIPE_CLOUD_PASSWD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(logs, "setup", lambda level: None)  # keep pytest's log capture in place
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["iotpipe", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    yield run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A copy of the example home, as a user's home.toml."""
    path = tmp_path / "home.toml"
    path.write_text(EXAMPLE_CONFIG.read_text())
    return path


def provision(iotpipe: Cli, *args: str) -> Run:
    """`iotpipe --config home.toml --var var provision ...`."""
    return iotpipe("--config", "home.toml", "--var", "var", "provision", *args)


def test_a_device_cannot_take_a_service_accounts_name(iotpipe: Cli, home: Path) -> None:
    run = provision(iotpipe, "device", "gateway-demo", "--room", "kitchen", "--kind", "plug", "--broker", "mqtt://h")
    assert run.code == 2 and "name of a service account" in run.err, run


BAD_NAMES = ["a/b", "+", "#", "$SYS", "a\0b", "door front", "Door-Front", "x" * 41, "", "gateway", "door_front",
             "tür", "a+", "iot/#"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:12] for n in BAD_NAMES])
def test_bad_device_names_are_refused_in_one_line_and_nothing_is_written(
    iotpipe: Cli, home: Path, tmp_path: Path, name: str
) -> None:
    before = home.read_text()
    run = provision(iotpipe, "device", name, "--room", "kitchen", "--kind", "plug")
    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: device name {name!r} refused: "), run.err
    assert home.read_text() == before
    assert not (tmp_path / "var").exists()


def test_bad_name_through_the_installed_command(home: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "iotpipe", "--config", str(home), "--var", str(tmp_path / "var"),
                           "provision", "device", "$SYS", "--room", "kitchen", "--kind", "plug"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("Error: device name '$SYS' refused: '$' starts broker-internal topics "
                                   "(use 1-40 of a-z, 0-9, '-')")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plug-kettle", "--room", "kitchen", "--kind", "plug"), "device 'plug-kettle' is already in"),
        (("plug-new", "--room", "attic", "--kind", "plug"), "room 'attic' is not in"),
    ],
    ids=["duplicate-device", "unknown-room"],
)
def test_refused_requests_exit_2(iotpipe: Cli, home: Path, args: tuple[str, ...], message: str) -> None:
    before = home.read_text()
    run = provision(iotpipe, "device", *args)
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1, run
    assert home.read_text() == before


def test_unknown_kind_is_a_usage_error(iotpipe: Cli, home: Path) -> None:
    run = provision(iotpipe, "device", "plug-new", "--room", "kitchen", "--kind", "toaster")
    assert run.code == 2 and "'toaster' is not one of" in run.err


def test_the_repo_example_is_never_edited(iotpipe: Cli) -> None:
    before = EXAMPLE_CONFIG.read_text()
    run = iotpipe("--var", "var", "provision", "device", "plug-new", "--room", "kitchen", "--kind", "plug",
                  "--broker", "mqtt://127.0.0.1:1883")
    assert run.code == 2 and "is the repo's example" in run.err
    assert EXAMPLE_CONFIG.read_text() == before


def test_a_result_that_would_not_validate_never_lands(iotpipe: Cli, home: Path, tmp_path: Path) -> None:
    # Devices written as an inline array: appending a [[devices]] table would make the file invalid TOML.
    inline = 'devices = [{id = "plug-a", type = "plug", room = "kitchen"}]\n'
    text = inline + home.read_text().split("[[devices]]")[0]
    home.write_text(text)
    run = provision(iotpipe, "device", "plug-new", "--room", "kitchen", "--kind", "plug", "--broker", "mqtt://h:1")
    assert run.code == 78 and "not valid TOML" in run.err, run
    assert home.read_text() == text
    assert not (tmp_path / "var").exists()


def test_second_account_with_the_same_name_is_refused(tmp_path: Path) -> None:
    passwd = tmp_path / "edge.passwd"
    add_account(passwd, "door-a", "one")
    before = passwd.read_text()
    with pytest.raises(ValueError, match="already has an account"):
        add_account(passwd, "door-a", "two")
    assert passwd.read_text() == before


def test_our_hash_is_mosquitto_passwds_hash(tmp_path: Path) -> None:
    passwd = tmp_path / "edge.passwd"
    add_account(passwd, "door-a", "s3cret")
    user, line = passwd.read_text().strip().split(":", 1)
    _, _, iterations, salt, _ = line.split("$")
    assert user == "door-a"
    assert hash_password("s3cret", base64.b64decode(salt), int(iterations)) == line


@dataclass
class Provisioned:
    """A home provisioned through the CLI, and brokers started with exactly the files it wrote."""

    files: Files
    edge: Mosquitto
    edge_tls: int
    cloud: Mosquitto
    cloud_tls: int


@pytest.fixture
def provisioned(iotpipe: Cli, home: Path, tmp_path: Path) -> Iterator[Provisioned]:
    """certs, acl, the three services and one device provisioned by the CLI; an edge and a cloud broker on them."""
    files = Files.under(tmp_path / "var")
    edge_port, edge_tls, cloud_port, cloud_tls = (free_port() for _ in range(4))
    edge = f"127.0.0.1:{edge_port}"
    steps = [("certs", "--host", "127.0.0.1", "--host", "localhost"), ("provision", "acl"),
             ("provision", "service", "gateway", "--edge", edge, "--cloud", f"localhost:{cloud_tls}"),
             ("provision", "service", "dash", "--edge", edge), ("provision", "service", "ingest"),
             ("provision", "device", "plug-new", "--room", "kitchen", "--kind", "plug", "--name", "New plug",
              "--broker", f"mqtts://127.0.0.1:{edge_tls}")]
    for step in steps:
        run = iotpipe("--config", "home.toml", "--var", "var", *step)
        assert run.code == 0, (step, run)
    paths = {"ca.pem": files.certs / "ca.pem", "server.pem": files.certs / "server.pem",
             "server.key": files.certs / "server.key"}
    brokers = []
    for side, port, tls, conf in (("edge", edge_port, edge_tls, "edge-pi"), ("cloud", cloud_port, cloud_tls,
                                                                              "cloud-server")):
        side_paths = {**paths, f"{side}.passwd": files.var / "mosquitto" / f"{side}.passwd",
                      f"{side}.acl": files.var / "mosquitto" / f"{side}.acl"}
        broker = Mosquitto(tmp_path / side, config=f"secure/{side}", port=port,
                           extra=deployed(SECURE / f"{conf}.conf", side_paths, tls))
        broker.start()
        brokers.append(broker)
    yield Provisioned(files, brokers[0], edge_tls, brokers[1], cloud_tls)
    for broker in brokers:
        broker.kill()


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_provisioned_device_is_in_the_config_and_the_password_file(provisioned: Provisioned, home: Path) -> None:
    config = load_home_config(home)
    device = config.device("plug-new")
    assert device is not None and device.room == "kitchen" and device.type.value == "plug"
    assert device.name == "New plug"
    fw_path = provisioned.files.out / "plug-new" / "config.json"
    assert stat.S_IMODE(fw_path.stat().st_mode) == 0o600
    fw = json.loads(fw_path.read_text())
    assert (fw["home"], fw["device"], fw["role"], fw["mqtt"]["user"]) == ("demo", "plug-new", "plug", "plug-new")
    assert fw["mqtt"]["ca_pem"] == (provisioned.files.certs / "ca.pem").read_text()
    edge_passwd = provisioned.files.edge_passwd.read_text()
    assert "plug-new:$7$" in edge_passwd and fw["mqtt"]["password"] not in edge_passwd
    assert fw["mqtt"]["password"] not in home.read_text()
    assert passwd_users(provisioned.files.edge_passwd) == {"plug-new", "gateway-demo", "dash-demo"}
    assert passwd_users(provisioned.files.cloud_passwd) == {"gateway-demo", "ingest-1"}


def test_provisioned_device_and_gateway_work_end_to_end(provisioned: Provisioned, tmp_path: Path) -> None:
    fw = json.loads((provisioned.files.out / "plug-new" / "config.json").read_text())
    (tmp_path / "device-ca.pem").write_text(fw["mqtt"]["ca_pem"])
    services = provisioned.files.out / "services"
    gateway_env, dash_env = env_file(services / "gateway-demo.env"), env_file(services / "dash-demo.env")
    ingest_env = env_file(services / "ingest-1.env")
    host = urlsplit(fw["mqtt"]["broker"]).netloc
    device_url = f"mqtts://plug-new:{fw['mqtt']['password']}@{host}?ca={tmp_path / 'device-ca.pem'}"
    gateway = Peer(gateway_env["IOTPIPE_EDGE_URL"])
    assert gateway.subscribe("iot/demo/+/telemetry") == [True]
    uplink = Peer(gateway_env["IOTPIPE_CLOUD_URL"])  # mqtts, CA-verified server, client certificate, password
    ingest = Peer(ingest_env["IOTPIPE_CLOUD_URL"].replace(":1883", f":{provisioned.cloud.port}"))
    assert ingest.subscribe("$share/ingest/up/#") == [True]
    device = Peer(device_url)
    device.publish("iot/demo/plug-new/telemetry", b'{"seq": 1}')
    wait_for(lambda: gateway.on("iot/demo/plug-new/telemetry"), what="the device's telemetry at the gateway")
    uplink.publish("up/demo/plug-new/telemetry", b'{"seq": 1}')
    wait_for(lambda: ingest.on("up/demo/plug-new/telemetry"), what="the uplink at ingest")
    dash = Peer(dash_env["IOTPIPE_EDGE_URL"])
    assert dash.subscribe("iot/demo/#") == [True]
    device.publish("iot/demo/door-front/telemetry", b'{"forged": true}')
    device.publish("iot/demo/plug-new/status", b'{"online": true}')
    wait_for(lambda: dash.on("iot/demo/plug-new/status"), what="the device's status at the dashboard")
    assert "iot/demo/door-front/telemetry" not in dash.topics()
    for peer in (gateway, uplink, ingest, device, dash):
        peer.close()


def test_gateway_uplink_url_is_refused_without_its_certificate(provisioned: Provisioned) -> None:
    url = env_file(provisioned.files.out / "services" / "gateway-demo.env")["IOTPIPE_CLOUD_URL"]
    without_cert = url.split("&cert=")[0]
    assert attempt(url) == "connected"
    assert attempt(without_cert) != "connected"


def test_hash_written_without_the_binary_is_accepted_by_mosquitto(provisioned: Provisioned) -> None:
    passwd = provisioned.files.edge_passwd
    passwd.write_text(passwd.read_text().rstrip("\n"))  # as a hand edit may leave it
    add_account(passwd, "door-new", "hashed-by-us", use_binary=False)
    provisioned.edge.stop()  # SIGTERM, then start: Mosquitto reads the password file again
    provisioned.edge.start()
    base = f"127.0.0.1:{provisioned.edge.port}"
    assert attempt(f"mqtt://door-new:hashed-by-us@{base}") == "connected"
    assert attempt(f"mqtt://door-new:hashed-by-them@{base}").startswith("refused")
    fw = json.loads((provisioned.files.out / "plug-new" / "config.json").read_text())
    assert attempt(f"mqtt://plug-new:{fw['mqtt']['password']}@{base}") == "connected"  # the line before it intact


def test_certs_keeps_an_existing_ca(iotpipe: Cli, tmp_path: Path) -> None:
    assert iotpipe("--var", "var", "certs", "--host", "localhost").code == 0
    ca = (tmp_path / "var" / "certs" / "ca.pem").read_bytes()
    run = iotpipe("--var", "var", "certs", "--host", "localhost", "--client", "gateway-demo")
    assert run.code == 0 and (tmp_path / "var" / "certs" / "ca.pem").read_bytes() == ca
    assert stat.S_IMODE((tmp_path / "var" / "certs" / "gateway-demo.key").stat().st_mode) == 0o600
    assert iotpipe("--var", "var", "certs", "--client", "Bad/Name").code == 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent: apt-get install systemd")
def test_gateway_credentials_drop_in_is_accepted_by_systemd(iotpipe: Cli, home: Path, tmp_path: Path) -> None:
    unit = "iotpipe-gateway.service"
    assert iotpipe("--var", "var", "certs", "--no-server").code == 0
    run = provision(iotpipe, "service", "gateway", "--systemd-unit", unit)
    assert run.code == 0, run
    services = tmp_path / "var" / "provision" / "services"
    url = BrokerURL.parse(env_file(services / "gateway-demo.env")["IOTPIPE_CLOUD_URL"])
    assert (url.ca_file, url.key_file) == (f"/run/credentials/{unit}/ca.pem", f"/run/credentials/{unit}/client.key")
    dropin = (services / f"{unit}.d" / "credentials.conf").read_text()
    for line in dropin.splitlines()[1:]:
        assert Path(line.split(":", 1)[1]).is_file(), line
    installed = tmp_path / "systemd"
    shutil.copytree(services / f"{unit}.d", installed / f"{unit}.d")
    unit_text = (REPO_ROOT / "deploy" / "systemd" / unit).read_text()
    (installed / unit).write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", unit_text, flags=re.M))
    result = subprocess.run(["systemd-analyze", "verify", str(installed / unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "credentials.conf" not in result.stdout + result.stderr, result


def test_gateway_account_before_the_ca_is_a_setup_error(iotpipe: Cli, home: Path, tmp_path: Path) -> None:
    run = provision(iotpipe, "service", "gateway")
    assert run.code == 78 and run.err.startswith("iotpipe: config error: no CA in "), run
    assert "run `iotpipe certs" in run.err and len(run.err.strip().splitlines()) == 1
    assert not (tmp_path / "var" / "mosquitto").exists()  # no half-made account
