"""The audit log of a real `podfleet server`, written for the real kubectl: `<data-dir>/audit.log`, an
`audit.k8s.io/v1` Event line per write, reads with `--audit-reads`, and `/readyz` answering for it."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server_helpers import STANDALONE, RunningServer, running_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("audit")), "--audit-reads", *STANDALONE) as s:
        yield s


def wait_for_event(server: RunningServer, pred: Callable[[dict[str, Any]], bool],
                   timeout: float = 15.0) -> dict[str, Any]:
    path = server.data_dir / "audit.log"
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            for line in path.read_text().splitlines():
                event: dict[str, Any] = json.loads(line)
                if pred(event):
                    return event
        assert time.monotonic() < deadline, f"no such audit event in {path}"
        time.sleep(0.05)


def test_kubectl_create_configmap_is_audited(server: RunningServer) -> None:
    server.kubectl("create", "configmap", "audited", "--from-literal=k=v", "-n", "default")
    event = wait_for_event(server, lambda e: e["verb"] == "create"
                           and e.get("objectRef", {}).get("resource") == "configmaps")
    assert event["kind"] == "Event" and event["apiVersion"] == "audit.k8s.io/v1"
    assert event["level"] == "Metadata" and event["stage"] == "ResponseComplete"
    assert event["user"]["username"] == "admin" and "system:masters" in event["user"]["groups"]
    assert event["objectRef"] == {"resource": "configmaps", "namespace": "default", "name": "audited",
                                  "apiVersion": "v1"}
    assert event["responseStatus"]["code"] == 201
    assert event["requestURI"].startswith("/api/v1/namespaces/default/configmaps")
    assert event["userAgent"].startswith("kubectl/")
    assert "127.0.0.1" in event["sourceIPs"]
    # the server's default: writes only, so kubectl's discovery and GETs are not there
    lines = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]
    assert all(e["verb"] not in ("get", "list", "watch") for e in lines)

    server.kubectl("delete", "configmap", "audited", "-n", "default")
    deleted = wait_for_event(server, lambda e: e["verb"] == "delete"
                             and e.get("objectRef", {}).get("name") == "audited")
    assert deleted["responseStatus"]["code"] == 200


def test_reads_are_audited_with_the_flag(audited: RunningServer) -> None:
    audited.kubectl("get", "configmaps", "-n", "kube-system")
    event = wait_for_event(audited, lambda e: e["verb"] == "list"
                           and e.get("objectRef", {}).get("namespace") == "kube-system")
    assert event["objectRef"]["resource"] == "configmaps"
    wait_for_event(audited, lambda e: e["verb"] == "get" and "objectRef" not in e)  # discovery
    ctx = ssl.create_default_context(cafile=str(audited.ca_file()))
    with urllib.request.urlopen(audited.url + "/readyz?verbose=1", context=ctx, timeout=30) as resp:
        assert resp.status == 200
        assert resp.read().decode() == "[+]ping ok\n[+]audit-log ok\nreadyz check passed\n"
