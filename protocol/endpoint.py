"""Broker endpoints as URLs (`mqtt://user:pass@host:port`, `mqtts://` for TLS) and the paho client they make."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.errors import ConfigError

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """Where a broker is and how to log in; `str()` never shows the password."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def parse(cls, url: str, what: str = "broker URL") -> BrokerURL:
        """Parse `mqtt[s]://[user[:password]@]host[:port][?ca=..&cert=..&key=..]`; ConfigError names `what`."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{what}: {url!r} is not a valid URL ({exc})") from exc
        if parts.scheme not in _DEFAULT_PORTS:
            raise ConfigError(f"{what}: {url!r} must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise ConfigError(f"{what}: {url!r} has no host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"ca", "cert", "key"}
        if unknown:
            raise ConfigError(f"{what}: unknown URL parameter(s) {sorted(unknown)} (allowed: ca, cert, key)")
        return cls(
            host=parts.hostname,
            port=port or _DEFAULT_PORTS[parts.scheme],
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            ca_file=query.get("ca"),
            cert_file=query.get("cert"),
            key_file=query.get("key"),
        )

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def make_client(
    url: BrokerURL,
    client_id: str,
    *,
    clean_start: bool = True,
    manual_ack: bool = False,
    v5: bool = True,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """Build (not connect) a paho-mqtt 2.x client (or a subclass) with the URL's credentials and TLS settings."""
    protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    client = client_class(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if v5 else clean_start,
        manual_ack=manual_ack,
    )
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    if url.tls:
        client.tls_set(
            ca_certs=url.ca_file,
            certfile=url.cert_file,
            keyfile=url.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return client
