"""`podfleet node-kubeconfig` issues a node credential the server accepts as that node."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import yaml

from podfleet.apiserver.auth import TokenAuthenticator, TokenFile
from podfleet.cli import main
from podfleet.pki import ensure_pki


def test_node_kubeconfig(tmp_path: Path) -> None:
    ensure_pki(tmp_path / "pki", ["127.0.0.1"])
    TokenFile.load_or_create(tmp_path / "tokens.json")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["node-kubeconfig", "worker-7", "--server", "https://10.0.0.1:6443",
                     "--data-dir", str(tmp_path)]) == 0
    cfg = yaml.safe_load(out.getvalue())
    assert cfg["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    token = cfg["users"][0]["user"]["token"]
    user = TokenAuthenticator(TokenFile.load_or_create(tmp_path / "tokens.json")).authenticate(token)
    assert user.node_name == "worker-7"
