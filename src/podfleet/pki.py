"""The cluster's self-signed certificate authority, the API server's serving certificate and its
client certificate for node agents.

Created on first start in the data directory and reused afterwards, so kubeconfigs written once
stay valid across restarts. EC P-256 keys keep generation and TLS handshakes fast.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALIDITY = dt.timedelta(days=3650)
# The common name of the API server's client certificate: node agents serve logs, exec and
# port-forward to it alone (kube-apiserver's `kube-apiserver-kubelet-client`).
KUBELET_CLIENT_NAME = "podfleet-apiserver-kubelet-client"


@dataclass(frozen=True)
class PKI:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _new_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podfleet-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for h in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            entries.append(x509.DNSName(h))
    return entries


def issue_serving_cert(ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path,
                       common_name: str, hosts: list[str]) -> None:
    """Sign a TLS serving certificate for `hosts` (DNS names or IPs) with the cluster CA."""
    _issue(ca_cert_path, ca_key_path, cert_path, key_path, common_name,
           [x509.SubjectAlternativeName(_san_entries(hosts)),
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])])


def issue_client_cert(ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path,
                      common_name: str) -> None:
    """Sign a TLS client certificate naming `common_name` with the cluster CA."""
    _issue(ca_cert_path, ca_key_path, cert_path, key_path, common_name,
           [x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])])


def _issue(ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path, common_name: str,
           extensions: list[x509.ExtensionType]) -> None:
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("unexpected CA key type")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert_covers(cert_path: Path, hosts: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return all(str(ipaddress.ip_address(h)) in have if _is_ip(h) else h in have for h in hosts)


def _is_ip(h: str) -> bool:
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


def default_hosts(extra: list[str] | None = None) -> list[str]:
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    for h in extra or []:
        if h and h not in hosts:
            hosts.append(h)
    return hosts


def ensure_pki(pki_dir: Path, hosts: list[str]) -> PKI:
    """Create the CA once, and (re)issue the server certificate when it does not cover `hosts`."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    pki = PKI(pki_dir / "ca.crt", pki_dir / "ca.key", pki_dir / "apiserver.crt", pki_dir / "apiserver.key",
              pki_dir / "apiserver-kubelet-client.crt", pki_dir / "apiserver-kubelet-client.key")
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _new_ca(pki.ca_cert, pki.ca_key)
    if not (pki.kubelet_client_key.exists() and pki.kubelet_client_cert.exists()):
        issue_client_cert(pki.ca_cert, pki.ca_key, pki.kubelet_client_cert, pki.kubelet_client_key,
                          KUBELET_CLIENT_NAME)
    if not (pki.server_key.exists() and _cert_covers(pki.server_cert, hosts)):
        issue_serving_cert(pki.ca_cert, pki.ca_key, pki.server_cert, pki.server_key, "podfleet-apiserver", hosts)
    return pki


def ensure_self_signed(cert_path: Path, key_path: Path, common_name: str, hosts: list[str]) -> None:
    """A self-signed serving certificate (node agents' HTTPS endpoint), kept while it covers `hosts`."""
    if key_path.exists() and _cert_covers(cert_path, hosts):
        return
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = cert_path.with_suffix(".ca.crt"), key_path.with_suffix(".ca.key")
    _new_ca(ca_cert, ca_key)
    issue_serving_cert(ca_cert, ca_key, cert_path, key_path, common_name, hosts)
