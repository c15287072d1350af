"""`podfleet images ...` through `register()` on a stand-in top-level parser (the CLI's own wiring
is the lead's): import, load, ls, pull (from the aiohttp fake registry), rm."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from image_helpers import FakeRegistry, ImageSpec, layer_blob, layer_tar, oci_layout_archive
from podfleet.images.commands import register


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="podfleet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    rc: int = args.func(args)
    return rc


async def acli(*argv: str) -> int:
    """The command runs its own event loop, so it runs in a thread (the fake registry serves in ours)."""
    return await asyncio.to_thread(cli, *argv)


async def test_images_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "node")
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(layer_blob({"bin/tool": "x"}, "none"))
    assert await acli("images", "--data-dir", data, "import", str(tar), "example.local/tool:1") == 0
    assert "Imported image: example.local/tool:1" in capsys.readouterr().out
    arch = oci_layout_archive(tmp_path / "app.tar", {"v1": ImageSpec([layer_tar(tmp_path / "l.tgz", {"a": "1"})],
                                                                     {})})
    assert await acli("images", "load", str(arch), "--data-dir", data) == 0  # --data-dir after the subcommand too
    assert "Loaded image: localhost/app:v1" in capsys.readouterr().out
    reg = FakeRegistry()
    await reg.start()
    try:
        pulled = reg.add_image("lib/pulled", "2", [layer_blob({"p": "1"})])
        assert await acli("images", "--data-dir", data, "pull", f"{reg.address}/lib/pulled:2") == 0
        assert f"Pulled image: {reg.address}/lib/pulled:2 ({reg.address}/lib/pulled@sha256:" in capsys.readouterr().out
    finally:
        await reg.stop()
    assert await acli("images", "--data-dir", data, "ls") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["IMAGE", "IMAGE", "ID", "SIZE", "LAYERS"]
    refs = [line.split()[0] for line in out[1:]]
    assert refs == sorted(refs)
    assert {"example.local/tool:1", "localhost/app:v1", f"{reg.address}/lib/pulled:2"} <= set(refs)
    assert await acli("images", "--data-dir", data, "rm", "example.local/tool:1", "localhost/app:v1") == 0
    assert capsys.readouterr().out == "Removed: example.local/tool:1\nRemoved: localhost/app:v1\n"
    await acli("images", "--data-dir", data, "ls", "-q")
    assert capsys.readouterr().out.split() == [f"{reg.address}/lib/pulled:2", f"{reg.address}/lib/pulled@{pulled}"]
    assert await acli("images", "--data-dir", data, "rm", "example.local/tool:1") == 1
    assert "not found (ImageNotFound)" in capsys.readouterr().err
    assert await acli("images", "--data-dir", data, "pull", "Not/Valid") == 1
    assert "InvalidImageName" in capsys.readouterr().err
