"""Test images made locally (no internet) and a real registry to pull them from.

- `busybox_rootfs(dir)` / `busybox_tar(path)`: a root filesystem from Debian's busybox-static with
  every applet linked, /etc/passwd, /etc/group and a sticky /tmp (what `podfleet images import` takes).
- `layer_tar(path, files)`: a small gzip layer; `{name: None}` makes a directory, whiteouts are
  just files named `.wh.<name>` / `.wh..wh..opq`.
- `oci_archive(work, rootfs_tar, tag)`: a one-layer oci-archive made with umoci (as skopeo writes them).
- `oci_layout_archive(path, images)`: an oci-archive built by hand from layer tars, several
  images sharing layers, with chosen configs.
- `registry(tmp)` (context manager) / `registry_server` (pytest fixture): a real `docker-registry`
  on 127.0.0.1 with a free port and temporary storage; `push(...)` copies an archive into it with skopeo.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def busybox_rootfs(dest: Path) -> Path:
    """A directory tree: /bin/busybox + a symlink per applet, /etc/passwd, /etc/group, /tmp (1777)."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/www"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        link = dest / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    os.chmod(dest / "tmp", 0o1777)
    return dest


def tar_directory(root: Path, dest: Path, mode: str = "w") -> Path:
    """Tar a tree with root-relative names, sorted, owned by root."""
    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(dest, mode) as tar:  # type: ignore[call-overload]
        for p in sorted(root.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(root)), recursive=False, filter=owner)
    return dest


def busybox_tar(dest: Path, extra: dict[str, str] | None = None) -> Path:
    """A busybox root filesystem tarball; `extra` adds files ({"etc/motd": "hi"})."""
    root = busybox_rootfs(dest.parent / (dest.name + ".root"))
    for rel, content in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    tar_directory(root, dest)
    shutil.rmtree(root)
    return dest


def layer_tar(dest: Path, files: dict[str, str | None], compression: str = "gz") -> Path:
    """A layer tarball; a None value makes a directory."""
    dest.write_bytes(layer_blob(files, compression))
    return dest


def layer_blob(files: dict[str, str | None], compression: str = "gz") -> bytes:
    """A layer's bytes: compression "gz", "zstd" or "none"; a None value makes a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = content.encode()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if compression == "gz":
        import gzip

        raw = gzip.compress(raw, mtime=0)
    elif compression == "zstd":
        import zstandard

        raw = zstandard.ZstdCompressor().compress(raw)
    return raw


def oci_archive(work: Path, rootfs_tar: Path, ref_name: str, cmd: list[str] | None = None) -> Path:
    """A one-layer oci-archive made with umoci from a rootfs tarball; `ref_name` is its tag."""
    layout = work / "layout"
    work.mkdir(parents=True, exist_ok=True)

    def umoci(*args: str) -> None:
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:{ref_name}")
    bundle = work / "bundle"
    umoci("unpack", "--image", f"{layout}:{ref_name}", str(bundle))
    with tarfile.open(rootfs_tar) as tar:
        tar.extractall(bundle / "rootfs", filter="fully_trusted")
    umoci("repack", "--image", f"{layout}:{ref_name}", str(bundle))
    config_args = ["--config.env", "PATH=/bin"]
    for c in cmd or ["sh"]:
        config_args += ["--config.cmd", c]
    umoci("config", "--image", f"{layout}:{ref_name}", *config_args)
    out = work / f"{ref_name}.oci.tar"
    tar_directory(layout, out)
    shutil.rmtree(bundle)
    return out


@dataclass
class ImageSpec:
    """One image for `oci_layout_archive`: layer tarballs (bottom first) and its config section."""

    layers: list[Path]
    config: dict[str, Any]


def _sha(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def oci_layout_archive(dest: Path, images: dict[str, ImageSpec]) -> Path:
    """An oci-archive holding several images (tag → spec), layers stored once, built by hand."""
    import gzip

    blobs: dict[str, bytes] = {}

    def put(raw: bytes) -> str:
        digest = _sha(raw)
        blobs[digest] = raw
        return digest

    manifests = []
    for tag, spec in images.items():
        layer_descs, diff_ids = [], []
        for path in spec.layers:
            raw = path.read_bytes()
            plain = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            if raw[:4] == b"\x28\xb5\x2f\xfd":
                import zstandard

                plain = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30)
            media = "application/vnd.oci.image.layer.v1.tar" + (
                "+gzip" if raw[:2] == b"\x1f\x8b" else "+zstd" if raw[:4] == b"\x28\xb5\x2f\xfd" else "")
            layer_descs.append({"mediaType": media, "digest": put(raw), "size": len(raw)})
            diff_ids.append(_sha(plain))
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": spec.config,
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": put(config), "size": len(config)},
                               "layers": layer_descs}).encode()
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
                          "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": manifests}).encode()
    with tarfile.open(dest, "w") as tar:
        def add(name: str, raw: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for digest, raw in blobs.items():
            add(f"blobs/sha256/{digest.split(':', 1)[1]}", raw)
    return dest


@dataclass
class Registry:
    address: str  # "127.0.0.1:PORT"
    storage: Path
    log: Path

    def push(self, archive: Path, ref_name: str, repo_tag: str) -> str:
        """Copy image `ref_name` of an oci-archive to `<address>/<repo_tag>`; returns the pushed reference."""
        dest = f"{self.address}/{repo_tag}"
        push(archive, ref_name, dest)
        return dest


def push(archive: Path, ref_name: str, dest: str) -> None:
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{archive}:{ref_name}",
                    f"docker://{dest}"], check=True, capture_output=True)


@contextlib.contextmanager
def registry(tmp: Path) -> Iterator[str]:
    """A real `docker-registry` on 127.0.0.1 with temporary storage; yields `127.0.0.1:PORT`."""
    with registry_process(tmp) as reg:
        yield reg.address


@contextlib.contextmanager
def registry_process(tmp: Path) -> Iterator[Registry]:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "registry.yml"
    storage = tmp / "registry-data"
    cfg.write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    log = tmp / "registry.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", storage, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[Registry]:
    """A running docker-registry for one test (import this name into the test module to use it)."""
    with registry_process(tmp_path / "registry") as reg:
        yield reg


class FakeRegistry:
    """An OCI distribution API served by aiohttp on 127.0.0.1, for unit tests.

    `auth` is "none", "basic" or "bearer" (401 challenge → `/token`, which wants the basic
    credentials `user`/`password` when `token_needs_login`). `requests` logs every (method, path);
    digests in `tamper` are served with wrong bytes.
    """

    def __init__(self, auth: str = "none", user: str = "u", password: str = "p",
                 token_needs_login: bool = True) -> None:
        self.auth, self.user, self.password, self.token_needs_login = auth, user, password, token_needs_login
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.tamper: set[str] = set()
        self.token = "tok-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
        self._server: Any = None
        self.address = ""

    # ------------------------------------------------------------------ content
    def put_blob(self, raw: bytes) -> str:
        digest = _sha(raw)
        self.blobs[digest] = raw
        return digest

    def put_manifest(self, repo: str, refs: list[str], doc: dict[str, Any], media: str = "") -> str:
        raw = json.dumps(doc).encode()
        digest = _sha(raw)
        for ref in [*refs, digest]:
            self.manifests[(repo, ref)] = (media or doc.get("mediaType", ""), raw)
        return digest

    def add_image(self, repo: str, tag: str, layers: list[bytes], config: dict[str, Any] | None = None,
                  docker_media: bool = False, diff_ids: list[str] | None = None) -> str:
        """Push an image (layer blobs as given: gzip, zstd or plain tar); returns the manifest digest."""
        import gzip

        import zstandard

        ids = []
        for raw in layers:
            if raw[:2] == b"\x1f\x8b":
                ids.append(_sha(gzip.decompress(raw)))
            elif raw[:4] == b"\x28\xb5\x2f\xfd":
                ids.append(_sha(zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30)))
            else:
                ids.append(_sha(raw))
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config or {"Cmd": ["sh"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids or ids}}).encode()
        media = ("application/vnd.docker.distribution.manifest.v2+json" if docker_media
                 else "application/vnd.oci.image.manifest.v1+json")
        layer_media = ("application/vnd.docker.image.rootfs.diff.tar.gzip" if docker_media
                       else "application/vnd.oci.image.layer.v1.tar+gzip")
        doc = {"schemaVersion": 2, "mediaType": media,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": self.put_blob(cfg),
                          "size": len(cfg)},
               "layers": [{"mediaType": layer_media, "digest": self.put_blob(raw), "size": len(raw)} for raw in layers]}
        return self.put_manifest(repo, [tag] if tag else [], doc)

    def add_index(self, repo: str, tag: str, platforms: dict[str, str]) -> str:
        """An image index over manifests already added: {"linux/amd64": digest, ...}."""
        entries = []
        for plat, digest in platforms.items():
            os_, arch = plat.split("/")
            raw = self.manifests[(repo, digest)][1]
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                            "size": len(raw), "platform": {"os": os_, "architecture": arch}})
        return self.put_manifest(repo, [tag], {"schemaVersion": 2, "mediaType":
                                               "application/vnd.oci.image.index.v1+json", "manifests": entries})

    def blob_gets(self) -> list[str]:
        return [p.rsplit("/", 1)[1] for m, p in self.requests if m == "GET" and "/blobs/" in p]

    # ------------------------------------------------------------------ server
    def _authorized(self, request: Any) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            import base64

            return bool(header == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode())
        if self.auth == "bearer":
            return bool(header == f"Bearer {self.token}")
        return True

    def _challenge(self, repo: str) -> dict[str, str]:
        if self.auth == "basic":
            return {"WWW-Authenticate": 'Basic realm="fake"'}
        return {"WWW-Authenticate": f'Bearer realm="http://{self.address}/token",service="fake-registry",'
                                    f'scope="repository:{repo}:pull"'}

    async def start(self) -> str:
        from aiohttp import web
        from aiohttp.test_utils import TestServer

        async def token(request: web.Request) -> web.Response:
            self.token_requests.append(dict(request.query))
            if self.token_needs_login and not self._basic_ok(request.headers.get("Authorization", "")):
                return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
            return web.json_response({"token": self.token, "expires_in": 300})

        async def ping(request: web.Request) -> web.Response:
            return web.json_response({})

        async def manifest(request: web.Request) -> web.Response:
            repo, ref = request.match_info["name"], request.match_info["ref"]
            self.requests.append((request.method, request.path))
            if not self._authorized(request):
                return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401,
                                         headers=self._challenge(repo))
            found = self.manifests.get((repo, ref))
            if found is None:
                return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404)
            media, raw = found
            return web.Response(body=raw, headers={"Content-Type": media, "Docker-Content-Digest": _sha(raw)})

        async def blob(request: web.Request) -> web.StreamResponse:
            repo, digest = request.match_info["name"], request.match_info["digest"]
            self.requests.append((request.method, request.path))
            if not self._authorized(request):
                return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401,
                                         headers=self._challenge(repo))
            raw = self.blobs.get(digest)
            if raw is None:
                return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
            if digest in self.tamper:
                raw = raw[:-4] + b"EVIL" if len(raw) > 4 else b"EVIL"
            return web.Response(body=raw, content_type="application/octet-stream")

        app = web.Application()
        app.router.add_get("/v2/", ping)
        app.router.add_get("/token", token)
        app.router.add_get(r"/v2/{name:.+}/manifests/{ref}", manifest)
        app.router.add_get(r"/v2/{name:.+}/blobs/{digest}", blob)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.address = f"127.0.0.1:{self._server.port}"
        return self.address

    def _basic_ok(self, header: str) -> bool:
        import base64

        return header == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
