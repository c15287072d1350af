"""Pulling from an OCI distribution API (an aiohttp fake on 127.0.0.1) into the real store:
platform choice, pull policies, shared downloads, digest verification, basic and bearer auth."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from image_helpers import FakeRegistry, free_port
from image_helpers import layer_blob as layer
from podfleet.images.interface import Credentials, DigestMismatch, ImageError
from podfleet.images.store import OverlayImageStore


@pytest.fixture
async def reg() -> AsyncIterator[FakeRegistry]:
    r = FakeRegistry()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
def store(tmp_path: Path) -> OverlayImageStore:
    return OverlayImageStore(tmp_path / "images")


def stored_files(store: OverlayImageStore) -> tuple[list[str], list[str]]:
    return sorted(os.listdir(store.blobs.dir)), sorted(os.listdir(store.layers.dir))


async def test_index_resolves_to_linux_amd64_and_digests_are_remembered(reg: FakeRegistry,
                                                                         store: OverlayImageStore) -> None:
    amd = reg.add_image("lib/app", "", [layer({"arch": "amd64"})], {"Cmd": ["amd64"], "Env": ["A=1"]})
    arm = reg.add_image("lib/app", "", [layer({"arch": "arm64"})], {"Cmd": ["arm64"]})
    idx = reg.add_index("lib/app", "1", {"linux/arm64": arm, "linux/amd64": amd})
    img = await store.ensure(f"{reg.address}/lib/app:1")
    assert img.manifest_digest == amd and img.config["Cmd"] == ["amd64"]
    assert img.image_config.env_map == {"A": "1"}
    assert set(img.repo_digests) == {f"{reg.address}/lib/app@{idx}", f"{reg.address}/lib/app@{amd}"}
    arm_blobs = {d["digest"] for d in json.loads(reg.manifests[("lib/app", arm)][1])["layers"]}
    assert not arm_blobs & set(reg.blob_gets())
    root = store.layers.path(img.layers[0])
    assert (root / "arch").read_text() == "amd64"
    before = len(reg.requests)
    for ref in (f"{reg.address}/lib/app@{idx}", f"{reg.address}/lib/app@{amd}"):  # present: no registry contact
        assert (await store.ensure(ref, "IfNotPresent")).id == img.id
    assert len(reg.requests) == before


async def test_pull_policies(reg: FakeRegistry, store: OverlayImageStore) -> None:
    reg.add_image("app", "v", [layer({"a": "1"}), layer({"b": "2"})])
    ref = f"{reg.address}/app:v"
    with pytest.raises(ImageError) as e:
        await store.ensure(ref, "Never")
    assert e.value.reason == "ErrImageNeverPull" and not reg.requests
    first = await store.ensure(ref, "IfNotPresent")
    n = len(reg.requests)
    assert (await store.ensure(ref, "IfNotPresent")).id == first.id and len(reg.requests) == n
    assert (await store.ensure(ref, "Never")).id == first.id and len(reg.requests) == n
    # The tag moves to a new image sharing the first layer: Always re-resolves and fetches only what is new.
    blobs_before = set(reg.blob_gets())
    reg.add_image("app", "v", [layer({"a": "1"}), layer({"c": "3"})], {"Cmd": ["new"]})
    second = await store.ensure(ref, "Always")
    new_gets = reg.blob_gets()[len(blobs_before):]
    assert second.id != first.id and second.config["Cmd"] == ["new"] and len(new_gets) == 2  # config + layer c
    assert second.layers[0] == first.layers[0] and len(os.listdir(store.layers.dir)) == 3
    n = len(reg.requests)
    assert (await store.ensure(ref, "Always")).id == second.id
    assert len(reg.requests) == n + 1  # only the manifest: nothing missing
    with pytest.raises(ImageError) as e:
        await store.ensure("Bad Name", "IfNotPresent")
    assert e.value.reason == "InvalidImageName"


async def test_concurrent_pulls_download_each_blob_once(reg: FakeRegistry, store: OverlayImageStore) -> None:
    big = layer({f"f{i}": "x" * 2000 for i in range(200)})
    digest = reg.add_image("app", "1", [big, layer({"top": "1"})])
    reg.put_manifest("app", ["alias"], json.loads(reg.manifests[("app", digest)][1]))
    refs = [f"{reg.address}/app:1"] * 3 + [f"{reg.address}/app:alias", f"{reg.address}/app@{digest}"]
    images = await asyncio.gather(*(store.ensure(r) for r in refs))
    assert len({i.id for i in images}) == 1
    gets = reg.blob_gets()
    assert len(gets) == len(set(gets)) == 3  # config + two layers, each once
    assert {i.ref for i in store.list()} >= {f"{reg.address}/app:1", f"{reg.address}/app:alias"}


async def test_tampered_blob_is_refused_and_nothing_corrupt_is_kept(reg: FakeRegistry,
                                                                    store: OverlayImageStore) -> None:
    good = layer({"ok": "1"})
    bad = layer({"payload": "x" * 5000})
    reg.add_image("app", "1", [good, bad])
    bad_digest = next(d for d, raw in reg.blobs.items() if raw == bad)
    reg.tamper.add(bad_digest)
    with pytest.raises(DigestMismatch, match="digest mismatch") as e:
        await store.ensure(f"{reg.address}/app:1")
    assert e.value.reason == "ErrImagePull"
    blobs, _ = stored_files(store)
    assert bad_digest.split(":")[1] not in blobs and not [b for b in blobs if b.startswith(".tmp")]
    assert not [name for name in os.listdir(store.layers.dir) if name.startswith(".tmp")]
    assert store.get(f"{reg.address}/app:1") is None and store.list() == []
    reg.tamper.clear()  # the registry is fixed: the next pull works and reuses what was verified
    img = await store.ensure(f"{reg.address}/app:1")
    assert (store.layers.path(img.layers[1]) / "payload").read_text() == "x" * 5000


async def test_tampered_manifest_and_config_are_refused(reg: FakeRegistry, store: OverlayImageStore) -> None:
    digest = reg.add_image("app", "1", [layer({"a": "1"})])
    manifest = json.loads(reg.manifests[("app", digest)][1])
    reg.tamper.add(manifest["config"]["digest"])
    with pytest.raises(DigestMismatch):
        await store.ensure(f"{reg.address}/app:1")
    other = reg.add_image("app", "2", [layer({"b": "1"})])
    media, raw = reg.manifests[("app", other)]
    reg.manifests[("app", other)] = (media, raw.replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    with pytest.raises(DigestMismatch, match="manifest digest mismatch"):
        await store.ensure(f"{reg.address}/app@{other}")
    assert store.list() == []


async def test_config_lying_about_diff_ids_is_refused(reg: FakeRegistry, store: OverlayImageStore) -> None:
    real = layer({"real": "1"})
    victim = "sha256:" + "ab" * 32  # another image's layer name
    reg.add_image("app", "1", [real], diff_ids=[victim])
    with pytest.raises(DigestMismatch, match="diff ID"):
        await store.ensure(f"{reg.address}/app:1")
    assert not store.layers.has(victim) and os.listdir(store.layers.dir) == []


async def test_compressions_and_docker_media_types(reg: FakeRegistry, store: OverlayImageStore) -> None:
    reg.add_image("app", "1", [layer({"g": "gz"}), layer({"z": "zstd"}, "zstd"), layer({"p": "plain"}, "none")],
                  docker_media=True)
    img = await store.ensure(f"{reg.address}/app:1")
    got = [sorted(os.listdir(store.layers.path(d))) for d in img.layers]
    assert got == [["g"], ["z"], ["p"]]


async def test_unusable_manifests_and_missing_images(reg: FakeRegistry, store: OverlayImageStore) -> None:
    reg.put_manifest("old", ["1"], {"schemaVersion": 1, "name": "old", "fsLayers": []},
                     "application/vnd.docker.distribution.manifest.v1+prettyjws")
    with pytest.raises(ImageError, match="schema 1"):
        await store.ensure(f"{reg.address}/old:1")
    arm = reg.add_image("armonly", "", [layer({"a": "1"})])
    reg.add_index("armonly", "1", {"linux/arm64": arm})
    with pytest.raises(ImageError, match="linux/amd64"):
        await store.ensure(f"{reg.address}/armonly:1")
    with pytest.raises(ImageError, match="not found") as e:
        await store.ensure(f"{reg.address}/nothing:1")
    assert e.value.reason == "ErrImagePull"
    with pytest.raises(ImageError, match=r"127\.0\.0\.1") as e:
        await store.ensure(f"127.0.0.1:{free_port()}/closed:1")
    assert e.value.reason == "ErrImagePull"


@pytest.mark.parametrize("needs_login", [True, False])
async def test_bearer_token_flow(store: OverlayImageStore, needs_login: bool) -> None:
    reg = FakeRegistry(auth="bearer", user="alice", password="s3cret", token_needs_login=needs_login)
    await reg.start()
    try:
        reg.add_image("team/app", "1", [layer({"a": "1"})])
        ref = f"{reg.address}/team/app:1"
        if needs_login:
            with pytest.raises(ImageError, match="unauthorized"):
                await store.ensure(ref)
            with pytest.raises(ImageError, match="unauthorized"):
                await store.ensure(ref, credentials=Credentials("alice", "wrong"))
        img = await store.ensure(ref, credentials=Credentials("alice", "s3cret") if needs_login else None)
        assert img.layers
        assert reg.token_requests[-1] == {"service": "fake-registry", "scope": "repository:team/app:pull"}
    finally:
        await reg.stop()


async def test_basic_auth(store: OverlayImageStore) -> None:
    reg = FakeRegistry(auth="basic", user="bob", password="pw")
    await reg.start()
    try:
        reg.add_image("app", "1", [layer({"a": "1"})])
        with pytest.raises(ImageError, match="authentication required"):
            await store.ensure(f"{reg.address}/app:1")
        with pytest.raises(ImageError, match="unauthorized"):
            await store.ensure(f"{reg.address}/app:1", credentials=Credentials("bob", "nope"))
        assert (await store.ensure(f"{reg.address}/app:1", credentials=Credentials("bob", "pw"))).layers
    finally:
        await reg.stop()
