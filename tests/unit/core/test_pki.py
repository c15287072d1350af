"""The CA and serving certificate are created once and re-issued only when hosts change."""

from __future__ import annotations

import ssl
from pathlib import Path

from podfleet.pki import ensure_pki


def test_pki_created_once_and_reissued_for_new_hosts(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, ["localhost", "127.0.0.1"])
    ca_before, cert_before = pki.ca_cert.read_bytes(), pki.server_cert.read_bytes()
    ensure_pki(tmp_path, ["localhost", "127.0.0.1"])
    assert pki.server_cert.read_bytes() == cert_before
    ensure_pki(tmp_path, ["localhost", "127.0.0.1", "10.9.8.7"])
    assert pki.ca_cert.read_bytes() == ca_before
    assert pki.server_cert.read_bytes() != cert_before
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(pki.server_cert, pki.server_key)  # key matches cert
    assert pki.ca_key.stat().st_mode & 0o777 == 0o600
