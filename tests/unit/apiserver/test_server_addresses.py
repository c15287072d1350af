"""Where the API server listens and what its certificate covers: in-cluster clients reach it as the
`kubernetes` Service (cluster IP, `kubernetes.default.svc`), pods at the advertise address, which may
be on a bridge that does not exist yet."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from cryptography import x509

from podfleet.api.resources import ENDPOINTS
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.storage.memory import MemoryStorage


async def test_the_server_listens_on_every_address_and_its_certificate_names_the_kubernetes_service(
        tmp_path: Path) -> None:
    # 10.255.254.1 is on no interface here: bound only thanks to IP_FREEBIND, never connected to.
    srv = APIServer(ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1", port=0, compact_interval=0,
                                 advertise_address="10.255.254.1", kubeconfig_address="127.0.0.1",
                                 extra_bind_addresses=["127.0.0.2", "10.255.254.1"]), storage=MemoryStorage())
    await srv.start()
    try:
        assert srv.url == f"https://127.0.0.1:{srv.port}"
        assert len(srv.listeners) == 3 and {lst.port for lst in srv.listeners} == {srv.port}
        assert srv.pki is not None
        ctx = ssl.create_default_context(cafile=str(srv.pki.ca_cert))
        for host, name in (("127.0.0.1", "localhost"), ("127.0.0.2", "kubernetes.default.svc")):
            _, writer = await asyncio.open_connection(host, srv.port, ssl=ctx, server_hostname=name)
            writer.close()
            await writer.wait_closed()
        cert = x509.load_pem_x509_certificate(srv.pki.server_cert.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(sans.get_values_for_type(x509.DNSName))
        ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local"} <= names
        assert {"10.96.0.1", "10.255.254.1", "127.0.0.2"} <= ips
        endpoints = await srv.store.get(ENDPOINTS, "default", "kubernetes")
        assert endpoints["subsets"][0]["addresses"] == [{"ip": "10.255.254.1"}]
    finally:
        await srv.stop()
    assert srv.listeners == []


async def test_stopping_ends_open_watches_at_once(tmp_path: Path) -> None:
    """A watcher does not hold the server's shutdown for the rest of its timeout (kube-apiserver ends
    watches when it stops); the client sees its stream end."""
    srv = APIServer(ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1", port=0, compact_interval=0),
                    storage=MemoryStorage())
    await srv.start()
    assert srv.pki is not None
    ctx = ssl.create_default_context(cafile=str(srv.pki.ca_cert))
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx, server_hostname="localhost")
    writer.write(f"GET /api/v1/pods?watch=true&timeoutSeconds=600 HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {srv.tokens.admin}\r\n\r\n".encode())
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(srv.stop(), 10)  # not the watch's 600 s
    await asyncio.wait_for(reader.read(), 10)  # the stream ends
    writer.close()
