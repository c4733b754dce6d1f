"""A private certificate authority for the brokers: one CA, server and client certificates (X.509, EC P-256)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.errors import ConfigError

logger = logging.getLogger(__name__)

CA_NAME = "ca"
CA_DAYS = 3650
# 825 days is the longest server-certificate life Apple's TLS stack accepts; the Pi renews with `iotpipe certs`.
LEAF_DAYS = 825


class CertError(ConfigError):
    """The CA is missing or unreadable: a setup error, shown as one line with exit code 78 by the CLI."""


@dataclass(frozen=True, slots=True)
class Issued:
    """Where a certificate and its private key were written."""

    cert: Path
    key: Path


def ca_paths(folder: Path) -> Issued:
    """The CA's certificate and key inside `folder`."""
    return Issued(folder / f"{CA_NAME}.pem", folder / f"{CA_NAME}.key")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotpipe"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` with `mode` from the first byte on (a key is never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _save(issued: Issued, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write(issued.key, pem_key, 0o600)
    _write(issued.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return issued


def _builder(subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey,
             valid_from: dt.datetime | None, days: float) -> x509.CertificateBuilder:
    start = valid_from or _now() - dt.timedelta(minutes=5)  # a little slack for clocks behind ours
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))


def make_ca(folder: Path, *, common_name: str = "iotpipe CA", days: float = CA_DAYS) -> Issued:
    """Create a new CA (certificate + key) in `folder`, replacing any there."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    cert = (_builder(_name(common_name), _name(common_name), key.public_key(), None, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
    issued = _save(ca_paths(folder), cert, key)
    logger.info("certificate authority created cert=%s", issued.cert)
    return issued


def ensure_ca(folder: Path, days: float = CA_DAYS) -> Issued:
    """The CA in `folder`, created on first use; an existing CA is never replaced (every device trusts it)."""
    paths = ca_paths(folder)
    if paths.cert.exists() and paths.key.exists():
        load_ca(folder)  # fail now, not at the first issue, if it is unreadable
        return paths
    return make_ca(folder, days=days)


def load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Read the CA's certificate and key; CertError says what to run when they are missing."""
    paths = ca_paths(folder)
    try:
        cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CertError(f"no CA in {folder}: run `iotpipe certs --out {folder}` first") from exc
    except (OSError, ValueError) as exc:
        raise CertError(f"cannot read the CA in {folder}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{paths.key}: expected an EC private key")
    return cert, key


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _issue(folder: Path, name: str, purpose: x509.ObjectIdentifier, hosts: Sequence[str], *,
           days: float, valid_from: dt.datetime | None) -> Issued:
    ca_cert, ca_key = load_ca(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(_name(name), ca_cert.subject, key.public_key(), valid_from, days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_alt_name(h) for h in hosts]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return _save(Issued(folder / f"{name}.pem", folder / f"{name}.key"), cert, key)


def issue_server(folder: Path, hosts: Sequence[str], *, name: str = "server", days: float = LEAF_DAYS,
                 valid_from: dt.datetime | None = None) -> Issued:
    """Issue a broker's certificate, valid for each of `hosts` (DNS names or IP addresses), signed by the CA."""
    if not hosts:
        raise CertError("a server certificate needs at least one host name or address")
    logger.info("server certificate issued name=%s hosts=%s", name, ",".join(hosts))
    return _issue(folder, name, ExtendedKeyUsageOID.SERVER_AUTH, hosts, days=days, valid_from=valid_from)


def issue_client(folder: Path, name: str, *, days: float = LEAF_DAYS,
                 valid_from: dt.datetime | None = None) -> Issued:
    """Issue a client certificate whose common name is `name` (for listeners that require one)."""
    logger.info("client certificate issued name=%s", name)
    return _issue(folder, name, ExtendedKeyUsageOID.CLIENT_AUTH, (), days=days, valid_from=valid_from)


def lan_address() -> str | None:
    """This machine's address on the LAN (the one its default route uses), or None offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: UDP connect picks a route and sends nothing
            address: str = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("0.") else address


def default_hosts() -> list[str]:
    """Names a device on the LAN may use for this machine: host name, host.local, its LAN address, loopback."""
    name = socket.gethostname()
    hosts = [name, f"{name}.local", "localhost", "127.0.0.1"]
    address = lan_address()
    return hosts + ([address] if address and address not in hosts else [])
