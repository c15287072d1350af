"""The store's small JSON index: references (tags and digests) → manifest digest → image record.

`index.json` is rewritten atomically (temporary file + rename) under an exclusive `flock` on
`index.lock`, so the agent and a `podfleet images` command can change it at the same time. Readers
take no lock: they keep the last parsed copy and re-read only when the file changed (one `stat`),
which is what lets `ImageStore.get` answer without blocking I/O on the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
VERSION = 2


@dataclass
class ImageRecord:
    manifest: str  # digest of the platform manifest
    config: str  # digest of the image config: the image ID
    layers: list[str]  # diff IDs, bottom first
    blobs: list[str]  # layer blob digests, same order (kept in blobs/ when we have them)
    config_section: dict[str, Any] = field(default_factory=dict)  # the config's `config` object
    size: int = 0
    extra: list[str] = field(default_factory=list)  # other digests naming this image (an index's)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageRecord:
        return cls(str(d["manifest"]), str(d["config"]), list(d.get("layers") or []), list(d.get("blobs") or []),
                   dict(d.get("config_section") or {}), int(d.get("size") or 0), list(d.get("extra") or []))


@dataclass
class IndexData:
    refs: dict[str, str] = field(default_factory=dict)  # reference key → manifest digest
    images: dict[str, ImageRecord] = field(default_factory=dict)  # manifest digest → record

    def refs_to(self, manifest: str) -> list[str]:
        return sorted(k for k, v in self.refs.items() if v == manifest)

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "refs": dict(sorted(self.refs.items())),
                "images": {k: asdict(v) for k, v in sorted(self.images.items())}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IndexData:
        if "version" not in d:  # the first layout: {ref: {manifest, config, layers}}
            data = cls()
            for ref, e in d.items():
                if isinstance(e, dict) and "manifest" in e:
                    data.refs[ref] = e["manifest"]
                    data.images[e["manifest"]] = ImageRecord(e["manifest"], e["config"], list(e["layers"]), [])
            return data
        return cls(dict(d.get("refs") or {}),
                   {k: ImageRecord.from_json(v) for k, v in (d.get("images") or {}).items()})


class ImageIndex:
    def __init__(self, root: Path) -> None:
        self.path = root / "index.json"
        self._lock_path = root / "index.lock"
        self._cache: IndexData = IndexData()
        self._stamp: tuple[int, int, int] | None = None
        self._mutex = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self) -> IndexData:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return IndexData()
        if not raw.strip():
            return IndexData()
        loaded = json.loads(raw)
        return IndexData.from_json(loaded) if isinstance(loaded, dict) else IndexData()

    def snapshot(self) -> IndexData:
        """The current index (shared: do not mutate)."""
        with self._mutex:
            stamp = self._stat()
            if stamp != self._stamp:
                self._cache, self._stamp = self._read(), stamp
            return self._cache

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)

    def update(self, change: Callable[[IndexData], T]) -> T:
        """Apply `change` to a fresh copy under the lock and write it back if it did not raise."""
        with self._locked():
            data = self._read()
            result = change(data)
            fd, tmp = tempfile.mkstemp(prefix=".index-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(data.to_json(), f, indent=1)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            with self._mutex:
                self._cache, self._stamp = data, self._stat()
            return result
