"""How `podfleet images pull` shows a pull's progress: live bars on a terminal, plain lines otherwise.

The formatting functions are pure. `PullDisplay.update` is the store's progress callback: it only
keeps the latest snapshot; a task renders it at most every `interval` seconds and writes in a worker
thread, so a slow terminal or pipe never holds up the download on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import TextIO

from podfleet.images.interface import LayerProgress, LayerState, PullProgress

_UP = "\x1b[{}A"  # cursor up N lines
_CLEAR = "\x1b[K"  # erase to the end of the line
_NAME = 12  # short digests, as docker prints them


def human_bytes(n: float) -> str:
    """1536 → "1.5 KiB" (binary units, one decimal; plain bytes below 1 KiB)."""
    if n < 1024:
        return f"{max(0, int(n))} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def short_digest(digest: str) -> str:
    return digest.partition(":")[2][:_NAME] or digest[:_NAME]


def fraction(done: int, total: int) -> float:
    return min(1.0, done / total) if total > 0 else 0.0


def rate(p: PullProgress) -> float:
    """Average bytes per second since the pull began."""
    return p.bytes_done / p.elapsed if p.elapsed > 0 else 0.0


def bar(part: float, width: int) -> str:
    """`[=====>    ]` for 0 ≤ part ≤ 1 (ASCII, so any terminal encoding prints it)."""
    full = int(max(0.0, min(1.0, part)) * width)
    if full >= width:
        return "[" + "=" * width + "]"
    head = ">" if full > 0 else " "
    return "[" + "=" * max(0, full - 1) + head + " " * (width - max(full, 1)) + "]"


def layer_status(layer: LayerProgress) -> str:
    if layer.state is LayerState.WAITING:
        return "waiting"
    if layer.state is LayerState.PRESENT:
        return "already present"
    if layer.state is LayerState.DOWNLOADING:
        of = f" / {human_bytes(layer.bytes_total)}" if layer.bytes_total else ""
        return f"{human_bytes(layer.bytes_done)}{of}"
    return f"{human_bytes(layer.bytes_done)} {'unpacking' if layer.state is LayerState.UNPACKING else 'done'}"


def bar_width(columns: int) -> int:
    return max(10, min(40, columns - 50))


def layer_line(layer: LayerProgress, width: int) -> str:
    part = 1.0 if layer.finished or layer.state is LayerState.UNPACKING else fraction(layer.bytes_done,
                                                                                      layer.bytes_total)
    return f"{short_digest(layer.digest):<{_NAME}} {bar(part, width)} {layer_status(layer)}"


def total_line(p: PullProgress, width: int) -> str:
    part = 1.0 if p.finished else fraction(p.bytes_done, p.bytes_total)
    return (f"{'total':<{_NAME}} {bar(part, width)} {human_bytes(p.bytes_done)} / {human_bytes(p.bytes_total)}"
            f"  {human_bytes(rate(p))}/s")


def frame(p: PullProgress, columns: int) -> list[str]:
    """The terminal picture: a line per layer and the total, each cut to fit so none wraps."""
    width = bar_width(columns)
    lines = [layer_line(layer, width) for layer in p.layers] + [total_line(p, width)]
    return [line[: max(1, columns - 1)] for line in lines]


def redraw(lines: list[str], drawn: int) -> str:
    """Escape codes and text replacing the `drawn` lines above the cursor with `lines`."""
    up = _UP.format(drawn) if drawn else ""
    return up + "".join(f"\r{line}{_CLEAR}\n" for line in lines)


def finished_line(layer: LayerProgress) -> str:
    """The plain-output line for a layer that has just finished."""
    if layer.state is LayerState.PRESENT:
        return f"{short_digest(layer.digest)}: already present"
    return f"{short_digest(layer.digest)}: {human_bytes(layer.bytes_done)} done"


def summary_line(p: PullProgress | None) -> str:
    if p is None or p.bytes_total == 0:
        return "total: nothing to download (all layers already present)"
    return (f"total: {human_bytes(p.bytes_done)} in {human_duration(p.elapsed)}, "
            f"average {human_bytes(rate(p))}/s")


class PullDisplay:
    """`async with PullDisplay(out, tty) as d: await store.ensure(..., progress=d.update)`."""

    def __init__(self, out: TextIO, tty: bool, columns: int = 80, interval: float = 0.1) -> None:
        self.out = out
        self.tty = tty
        self.columns = columns
        self.interval = interval
        self.latest: PullProgress | None = None
        self._shown: PullProgress | None = None
        self._drawn = 0  # terminal lines of the last frame
        self._printed: set[int] = set()  # layers whose plain line went out
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def update(self, p: PullProgress) -> None:
        self.latest = p

    async def __aenter__(self) -> PullDisplay:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # renders the last snapshot on its way out
        if et is None:
            await asyncio.to_thread(self._write, summary_line(self.latest) + "\n")

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
            await self._render()
        await self._render()  # the last snapshot, even when the pull ended before this task first ran

    async def _render(self) -> None:
        p = self.latest
        if p is None or p is self._shown:
            return
        self._shown = p
        text = self._frame_text(p) if self.tty else self._lines_text(p)
        if text:
            await asyncio.to_thread(self._write, text)

    def _frame_text(self, p: PullProgress) -> str:
        lines = frame(p, self.columns)
        text = redraw(lines, self._drawn)
        self._drawn = len(lines)
        return text

    def _lines_text(self, p: PullProgress) -> str:
        new = [i for i, layer in enumerate(p.layers) if layer.finished and i not in self._printed]
        self._printed.update(new)
        return "".join(finished_line(p.layers[i]) + "\n" for i in new)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
