"""A county-local certificate authority and the server certificate for intranet addresses.

Phones need HTTPS for the collector app's offline mode (service workers run only in a secure
context), and an intranet address gets no public certificate. So the office makes its own CA
once (10 years, its key 0600 in the state folder, installed as a trusted root on office PCs and
phones) and signs the server certificate with it (2 years: Apple devices refuse TLS server
certificates valid for more than 825 days even from a root the user installed). Renewing the
server certificate reuses the CA, so devices need no new installation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_YEARS", "SERVER_DAYS", "TlsFiles", "ca_fingerprint", "init_tls", "tls_dir"]

CA_YEARS = 10
SERVER_DAYS = 730  # 2 years, below Apple's 825-day limit
_ORG = "georeg 农产品质量安全监管（县级本地）"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path  # install this one on PCs and phones as a trusted root
    ca_key: Path  # never leaves the server (0600)
    cert: Path  # server certificate followed by the CA certificate (uvicorn ssl_certfile)
    key: Path  # server key (uvicorn ssl_keyfile, 0600)


def tls_dir(state_dir: Path) -> Path:
    return state_dir / "tls"


def _write_private(path: Path, data: bytes) -> None:
    """Create the file 0600 from the start (never world-readable for a moment), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host.lower().rstrip("."))


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


def _check_hosts(hosts: list[str]) -> list[str]:
    out: list[str] = []
    for raw in hosts:
        host = raw.strip()
        if not (_is_ip(host) or _DNS.match(host)):
            raise ValueError(f"无效的主机地址或名称：{raw!r}"
                             "（应为 IP 地址或域名，如 10.1.2.3、georeg.local）")
        if host not in out:
            out.append(host)
    if not out:
        raise ValueError("至少需要一个服务器地址（--host，如 10.1.2.3）")
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _new_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "georeg 本地根证书"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now.replace(year=now.year + CA_YEARS))
            # path length 0: this CA signs server certificates only, never another CA
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, hosts: list[str],
                 now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            # never beyond the CA's own end: clients would refuse the chain from that day
            .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_alt_name(h) for h in hosts]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def init_tls(state_dir: Path, hosts: list[str], *,
             now: dt.datetime | None = None) -> TlsFiles:
    """Make (or reuse) the county CA and issue a fresh server certificate for `hosts`
    (IP addresses and DNS names, the first one also the certificate's common name)."""
    hosts = _check_hosts(hosts)
    now = now or dt.datetime.now(dt.UTC)
    folder = tls_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    files = TlsFiles(ca_cert=folder / "ca.crt", ca_key=folder / "ca.key",
                     cert=folder / "server.crt", key=folder / "server.key")
    if files.ca_key.exists() and files.ca_cert.exists():
        loaded = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{files.ca_key} 不是本工具生成的根证书密钥")
        ca_key = loaded
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    else:
        ca_key, ca = _new_ca(now)
        _write_private(files.ca_key, _key_pem(ca_key))
        _write_public(files.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
    key, cert = _server_cert(ca_key, ca, hosts, now)
    _write_private(files.key, _key_pem(key))
    _write_public(files.cert, cert.public_bytes(serialization.Encoding.PEM)
                  + ca.public_bytes(serialization.Encoding.PEM))
    return files


def ca_fingerprint(ca_cert: Path) -> str:
    """SHA-256 of the CA certificate, as phones and Windows show it, to compare on install."""
    cert = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
