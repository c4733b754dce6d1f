"""Provisioning: broker accounts for devices and services, the device's place in home.toml, its firmware config."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.rules.config import parse_alarm
from iotpipe.certs import ca_paths, issue_client, lan_address, load_ca
from protocol.config import DeviceType, HomeConfig, load_home_config, parse_home_config
from protocol.errors import ConfigError
from protocol.settings import EXAMPLE_CONFIG, REPO_ROOT
from protocol.topics import GATEWAY, valid_id

logger = logging.getLogger(__name__)

FIRMWARE_EXAMPLE = REPO_ROOT / "firmware" / "config.example.json"
# The firmware's three roles (firmware/lib/roles.py); smoke sensors and meters have no firmware role yet.
FIRMWARE_ROLES: dict[DeviceType, str] = {
    DeviceType.CLIMATE: "climate", DeviceType.MOTION: "security", DeviceType.CONTACT: "security",
    DeviceType.LIGHT: "plug", DeviceType.PLUG: "plug",
}
# The security role drives a PIR and a contact: a device of one type gets only its own sensor's pins.
_OTHER_SENSOR = {DeviceType.MOTION: "contact_", DeviceType.CONTACT: "pir_"}
SERVICES = ("gateway", "ingest", "dash")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd 2.0's own default; our passwords carry 192 random bits anyway
_FORBIDDEN = {"/": "'/' separates topic levels", "+": "'+' is an MQTT wildcard", "#": "'#' is an MQTT wildcard",
              "$": "'$' starts broker-internal topics", "\0": "NUL is not allowed in MQTT strings"}


class RefusedError(ValueError):
    """A request provisioning will not carry out (bad name, unknown room, duplicate); the CLI exits 2."""


@dataclass(frozen=True, slots=True)
class Files:
    """Where provisioning reads and writes: password files, the CA folder, and the output folder."""

    var: Path
    edge_passwd: Path
    cloud_passwd: Path
    certs: Path

    @classmethod
    def under(cls, var: Path) -> Files:
        """The default layout under the data folder `var`."""
        return cls(var, var / "mosquitto" / "edge.passwd", var / "mosquitto" / "cloud.passwd", var / "certs")

    @property
    def out(self) -> Path:
        """The folder of generated secrets (never inside the repo's tracked files: var/ is ignored)."""
        return self.var / "provision"


def check_name(name: str, what: str = "device name") -> str:
    """Return `name` if it can be a device id and an MQTT username; else RefusedError saying what is wrong."""
    if valid_id(name) and name != GATEWAY:
        return name
    why = next((text for char, text in _FORBIDDEN.items() if char in name), None)
    if why is None:
        if name == GATEWAY:
            why = f"{GATEWAY!r} is reserved for the gateway"
        elif not name or len(name) > 40:
            why = f"it must be 1 to 40 characters long, not {len(name)}"
        elif any(c.isspace() for c in name):
            why = "spaces are not allowed"
        elif name != name.lower():
            why = "uppercase is not allowed"
        else:
            why = "only a-z, 0-9 and '-' are allowed"
    raise RefusedError(f"{what} {name!r} refused: {why} (use 1-40 of a-z, 0-9, '-')")


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's `$7$` format: PBKDF2-HMAC-SHA512 over a 12-byte salt, both base64."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def passwd_users(path: Path) -> set[str]:
    """The usernames in a Mosquitto password file (none when it does not exist yet)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return set()
    return {line.split(":", 1)[0] for line in lines if ":" in line and not line.startswith("#")}


def mosquitto_passwd() -> str | None:
    """The mosquitto_passwd binary (Debian's mosquitto package ships it in /usr/bin), or None."""
    return shutil.which("mosquitto_passwd") or next(
        (p for p in ("/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd") if os.access(p, os.X_OK)), None)


def add_account(path: Path, user: str, password: str, *, use_binary: bool = True) -> None:
    """Add `user` to a Mosquitto password file (created 0600), with mosquitto_passwd when present."""
    if user in passwd_users(path):
        raise RefusedError(f"{user!r} already has an account in {path}")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    tool = mosquitto_passwd() if use_binary else None
    if tool is None:
        separator = "" if path.read_text()[-1:] in ("", "\n") else "\n"  # a hand-edited last line may lack one
        with path.open("a") as out:
            out.write(f"{separator}{user}:{hash_password(password)}\n")
        return
    # -b puts the password on the command line for a moment; the file itself only ever holds the hash.
    proc = subprocess.run([tool, "-b", str(path), user, password], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"{path}: mosquitto_passwd failed: {(proc.stderr or proc.stdout).strip()}")


def new_password() -> str:
    """A random password: 32 URL-safe characters (192 bits), safe inside a broker URL as is."""
    return secrets.token_urlsafe(24)


def _write_private(path: Path, text: str) -> None:
    """Write a file holding a secret: mode 0600 from the first byte, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string with ASCII escapes is a valid TOML basic string


def device_block(name: str, room: str, kind: DeviceType, label: str | None = None) -> str:
    """The `[[devices]]` table appended to home.toml for a new device."""
    lines = ["[[devices]]", f"id = {_toml_str(name)}", f"type = {_toml_str(kind.value)}", f"room = {_toml_str(room)}"]
    if label:
        lines.append(f"name = {_toml_str(label)}")
    return "\n".join(lines) + "\n"


def home_with_device(config_path: Path, name: str, room: str, kind: DeviceType, label: str | None) -> str:
    """The new text of home.toml with the device appended, validated whole; RefusedError or ConfigError if bad."""
    if config_path.resolve() == EXAMPLE_CONFIG.resolve():
        raise RefusedError(f"{config_path} is the repo's example: copy it to home.toml and pass --config home.toml")
    home = load_home_config(config_path)
    if home.device(name) is not None:
        raise RefusedError(f"device {name!r} is already in {config_path}")
    if home.room(room) is None:
        raise RefusedError(f"room {room!r} is not in {config_path} (rooms: {', '.join(r.id for r in home.rooms)})")
    text = config_path.read_text(encoding="utf-8")
    new_text = f"{text.rstrip()}\n\n{device_block(name, room, kind, label)}"
    parse_home_config(new_text, str(config_path))  # a result that does not validate never lands
    return new_text


def default_broker() -> str:
    """The edge broker's TLS address as a device on the LAN reaches it."""
    return f"mqtts://{lan_address() or 'raspberrypi.local'}:8883"


def firmware_config(home_id: str, name: str, kind: DeviceType, *, password: str, broker: str,
                    ca_pem: str | None, wifi: tuple[str, str]) -> dict[str, Any]:
    """The device's config.json: the firmware example's pins for its role, our identity, broker and secrets."""
    role = FIRMWARE_ROLES.get(kind)
    example: dict[str, Any] = json.loads(FIRMWARE_EXAMPLE.read_text()) if FIRMWARE_EXAMPLE.exists() else {}
    config = {k: v for k, v in example.items() if k not in {"climate", "security", "plug", "sim", "mqtt", "role"}}
    mqtt: dict[str, Any] = {**example.get("mqtt", {}), "broker": broker, "user": name, "password": password}
    if ca_pem is not None:
        mqtt["ca_pem"] = ca_pem
    config.update(home=home_id, device=name, mqtt=mqtt, wifi={"ssid": wifi[0], "password": wifi[1]})
    if role is not None:
        other = _OTHER_SENSOR.get(kind)
        config["role"] = role
        config[role] = {k: v for k, v in example.get(role, {}).items() if other is None or not k.startswith(other)}
    return config


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """What `iotpipe provision device` was asked for."""

    name: str
    room: str
    kind: DeviceType
    label: str | None = None
    broker: str | None = None
    wifi: tuple[str, str] = ("", "")


def _ca_pem(broker: str, files: Files) -> str | None:
    """Our CA certificate for a device that connects with TLS (None for plaintext); ConfigError if not made yet."""
    if not broker.startswith("mqtts://"):
        return None
    ca_file = ca_paths(files.certs).cert
    if not ca_file.exists():
        raise ConfigError(f"{ca_file}: no CA yet: run `iotpipe certs` first (or pass --broker mqtt://...)")
    return ca_file.read_text()


def _replace(path: Path, text: str) -> None:
    """Replace a file's text atomically, keeping its mode."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


def provision_device(config_path: Path, files: Files, request: DeviceRequest) -> Path:
    """Check everything, then write config.json, add the account and append to home.toml; returns config.json."""
    name = check_name(request.name)
    new_home = home_with_device(config_path, name, request.room, request.kind, request.label)
    home_id = parse_home_config(new_home, str(config_path)).home.id
    if name in {service_user(service, home_id) for service in SERVICES}:
        raise RefusedError(f"device name {name!r} refused: it is the name of a service account")
    if name in passwd_users(files.edge_passwd):
        raise RefusedError(f"{name!r} already has an account in {files.edge_passwd}")
    broker = request.broker or default_broker()
    password = new_password()
    config = firmware_config(home_id, name, request.kind, password=password, broker=broker,
                             ca_pem=_ca_pem(broker, files), wifi=request.wifi)
    target = files.out / name / "config.json"
    _write_private(target, json.dumps(config, indent=2) + "\n")
    add_account(files.edge_passwd, name, password)
    _replace(config_path, new_home)
    logger.info("device provisioned device=%s room=%s type=%s", name, request.room, request.kind.value)
    return target


def _url(scheme: str, user: str, password: str, address: str, query: str = "") -> str:
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{address}{query}"


def service_user(service: str, home_id: str, worker: int = 1) -> str:
    """A service's broker username: `gateway-{home}` (its client id too), `dash-{home}`, `ingest-{worker}`."""
    return f"ingest-{worker}" if service == "ingest" else f"{service}-{home_id}"


@dataclass(frozen=True, slots=True)
class _Account:
    """One broker account of a service: which URL variable it fills, where, and whether over TLS."""

    env: str
    passwd: Path
    address: str
    tls: bool = False


def _service_accounts(service: str, files: Files, edge: str, cloud: str) -> list[_Account]:
    if service == "gateway":  # the uplink: TLS, the server verified against our CA, and a client certificate
        return [_Account("IOTPIPE_EDGE_URL", files.edge_passwd, edge),
                _Account("IOTPIPE_CLOUD_URL", files.cloud_passwd, cloud, tls=True)]
    if service == "dash":
        return [_Account("IOTPIPE_EDGE_URL", files.edge_passwd, edge)]
    if service == "ingest":  # ingest runs beside the cloud broker and uses its loopback listener
        return [_Account("IOTPIPE_CLOUD_URL", files.cloud_passwd, "127.0.0.1:1883")]
    raise RefusedError(f"unknown service {service!r} (one of {', '.join(SERVICES)})")


def _tls_query(files: Files, user: str, unit: str | None) -> tuple[str, str | None]:
    """Issue `user`'s client certificate; the URL query naming the files, and a systemd drop-in if `unit`.

    A hardened unit (DynamicUser=yes) cannot read a root-owned key: systemd's LoadCredential hands the files to
    the service under /run/credentials/UNIT/, readable by it alone, and the URL points there."""
    cert = issue_client(files.certs, user)
    sources = {"ca.pem": ca_paths(files.certs).cert, "client.pem": cert.cert, "client.key": cert.key}
    if unit is None:
        return f"?ca={sources['ca.pem']}&cert={cert.cert}&key={cert.key}", None
    where = f"/run/credentials/{unit}"
    dropin = "[Service]\n" + "".join(f"LoadCredential={name}:{path}\n" for name, path in sources.items())
    return f"?ca={where}/ca.pem&cert={where}/client.pem&key={where}/client.key", dropin


def provision_service(service: str, home_id: str, files: Files, *, edge: str = "127.0.0.1:1883",
                      cloud: str = "localhost:8883", worker: int = 1, unit: str | None = None) -> Path:
    """Create a service's broker account(s) and write its URLs to `{var}/provision/services/{user}.env`
    (with `unit`, TLS files are read through systemd credentials and a drop-in for the unit is written too)."""
    user = service_user(service, home_id, worker)
    accounts = _service_accounts(service, files, edge, cloud)
    for account in accounts:
        if user in passwd_users(account.passwd):
            raise RefusedError(f"{user!r} already has an account in {account.passwd}")
    if any(account.tls for account in accounts):
        load_ca(files.certs)  # a missing CA stops us before any account is added
    lines, folder = [], files.out / "services"
    for account in accounts:
        password, query, dropin = new_password(), "", None
        if account.tls:
            query, dropin = _tls_query(files, user, unit)
        add_account(account.passwd, user, password)
        scheme = "mqtts" if account.tls else "mqtt"
        lines.append(f"{account.env}={_url(scheme, user, password, account.address, query)}")
        if dropin is not None:
            (folder / f"{unit}.d").mkdir(parents=True, exist_ok=True)
            (folder / f"{unit}.d" / "credentials.conf").write_text(dropin)
    target = folder / f"{user}.env"
    _write_private(target, "\n".join(lines) + "\n")
    logger.info("service provisioned service=%s user=%s", service, user)
    return target


def edge_acl(home: HomeConfig) -> str:
    """The edge broker's ACL: each device its own topics (`%u`), the gateway and dashboard what they need."""
    h = home.home.id
    alarm = parse_alarm(home)
    pi_climate = "" if alarm.climate is None else (
        f"# ... and the readings of the Pi's own DHT22, as device {alarm.climate.device!r} ([alarm.climate]).\n"
        f"topic write iot/{h}/{alarm.climate.device}/telemetry\n")
    return f"""# Edge broker ACL for home {h!r}, written by `iotpipe provision acl`; reload Mosquitto after a change.
# %u is the username the broker authenticated; on the TLS listener it is the client id too (use_username_as_clientid).

# The gateway: reads what devices send, writes watermarks (and reads them back) and commands, owns its own
# topics, publishes Home Assistant discovery.
user {service_user("gateway", h)}
topic read iot/{h}/+/telemetry
topic read iot/{h}/+/status
topic readwrite iot/{h}/+/ack
topic write iot/{h}/+/set
topic readwrite iot/{h}/gateway/#
topic write {alarm.discovery_prefix}/#
{pi_climate}
# The dashboard: reads the live home, sends device commands, the alarm mode and alert acknowledgements.
user {service_user("dash", h)}
topic read iot/{h}/#
topic write iot/{h}/+/set
topic write iot/{h}/gateway/mode/set
topic write iot/{h}/gateway/alerts/ack

# Every device: publish only its own readings and status (and its will), read only its own commands and acks.
pattern write iot/{h}/%u/telemetry
pattern write iot/{h}/%u/status
pattern read iot/{h}/%u/set
pattern read iot/{h}/%u/ack
"""


def cloud_acl(home_ids: Iterable[str], ingest_workers: int = 1) -> str:
    """The cloud broker's ACL: each home's gateway writes only under `up/{home}/`; ingest workers read all."""
    parts = ["# Cloud broker ACL, written by `iotpipe provision acl`; reload Mosquitto after a change.",
             "# Usernames are client ids (use_username_as_clientid): one account per ingest worker.", ""]
    for worker in range(1, ingest_workers + 1):
        parts += [f"# Ingest worker {worker} (shared subscription $share/ingest/up/#): reads every home.",
                  f"user {service_user('ingest', '', worker)}", "topic read up/#", ""]
    for home_id in sorted(set(home_ids)):
        parts += [f"# The gateway of home {home_id!r}: its uplink only.", f"user {service_user('gateway', home_id)}",
                  f"topic write up/{home_id}/#", ""]
    return "\n".join(parts)


def write_acls(home: HomeConfig, out: Path, cloud_homes: Iterable[str] = (), ingest_workers: int = 1,
               ) -> tuple[Path, Path]:
    """Write `edge.acl` and `cloud.acl` into `out` (the cloud's for this home plus `cloud_homes`)."""
    out.mkdir(parents=True, exist_ok=True)
    edge, cloud = out / "edge.acl", out / "cloud.acl"
    edge.write_text(edge_acl(home))
    cloud.write_text(cloud_acl([home.home.id, *cloud_homes], ingest_workers))
    return edge, cloud
