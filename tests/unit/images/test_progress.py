"""How `podfleet images pull` shows progress: the pure formatting, and PullDisplay on a StringIO in
both its terminal and plain modes."""

from __future__ import annotations

import asyncio
import io

import pytest

from podfleet.images.interface import LayerProgress, LayerState, PullProgress
from podfleet.images.progress import (
    PullDisplay,
    bar,
    finished_line,
    frame,
    human_bytes,
    human_duration,
    layer_line,
    redraw,
    summary_line,
    total_line,
)

MiB = 1 << 20
A, B, C = ("sha256:" + h * 64 for h in "abc")


def layer(digest: str, state: LayerState, done: int, total: int) -> LayerProgress:
    return LayerProgress(digest, state, done, total)


def snapshot(*layers: LayerProgress, elapsed: float = 2.0) -> PullProgress:
    fetched = [la for la in layers if la.state is not LayerState.PRESENT]
    return PullProgress(layers[-1], layers, sum(la.bytes_done for la in fetched),
                        sum(la.bytes_total for la in fetched), elapsed)


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
                                         (int(3.2 * MiB), "3.2 MiB"), (5 << 30, "5.0 GiB"),
                                         (3 << 50, "3072.0 TiB"), (-5, "0 B")])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_human_duration() -> None:
    assert [human_duration(s) for s in (0.04, 2.345, 59.9, 65, 3600)] == ["0.0s", "2.3s", "59.9s", "1m05s", "60m00s"]


def test_bar() -> None:
    assert bar(0, 10) == "[          ]"
    assert bar(0.1, 10) == "[>         ]"
    assert bar(0.5, 10) == "[====>     ]"
    assert bar(1, 10) == bar(7, 10) == "[==========]"
    assert all(len(bar(f / 20, 10)) == 12 for f in range(21))


def test_layer_and_total_lines() -> None:
    w = 10
    assert layer_line(layer(A, LayerState.WAITING, 0, MiB), w) == f"{'a' * 12} [          ] waiting"
    assert layer_line(layer(A, LayerState.DOWNLOADING, MiB // 2, MiB), w) == \
        f"{'a' * 12} [====>     ] 512.0 KiB / 1.0 MiB"
    assert layer_line(layer(A, LayerState.DOWNLOADING, 300, 0), w).endswith("[          ] 300 B")  # size unknown
    assert layer_line(layer(A, LayerState.UNPACKING, MiB, MiB), w).endswith("[==========] 1.0 MiB unpacking")
    assert layer_line(layer(A, LayerState.DONE, MiB, MiB), w).endswith("[==========] 1.0 MiB done")
    assert layer_line(layer(A, LayerState.PRESENT, 0, MiB), w).endswith("[==========] already present")
    p = snapshot(layer(A, LayerState.DONE, 3 * MiB, 3 * MiB), layer(B, LayerState.DOWNLOADING, MiB, 5 * MiB))
    assert total_line(p, w) == f"{'total':<12} [====>     ] 4.0 MiB / 8.0 MiB  2.0 MiB/s"


def test_a_frame_has_a_line_per_layer_and_the_total_none_wider_than_the_terminal() -> None:
    p = snapshot(layer(A, LayerState.PRESENT, 0, MiB), layer(B, LayerState.DOWNLOADING, 10 * MiB, 40 * MiB))
    lines = frame(p, 100)
    assert [line[:12] for line in lines] == ["a" * 12, "b" * 12, "total       "]
    assert "[" + "=" * 40 + "]" in lines[0]  # the bar grows with the terminal, up to 40
    assert all(len(line) < 40 for line in frame(p, 40))


def test_redraw_moves_up_over_the_last_frame_and_clears_each_line() -> None:
    assert redraw(["x", "y"], 0) == "\rx\x1b[K\n\ry\x1b[K\n"
    assert redraw(["x", "y"], 2) == "\x1b[2A\rx\x1b[K\n\ry\x1b[K\n"


def test_plain_lines_and_summary() -> None:
    assert finished_line(layer(A, LayerState.DONE, int(3.2 * MiB), int(3.2 * MiB))) == f"{'a' * 12}: 3.2 MiB done"
    assert finished_line(layer(B, LayerState.PRESENT, 0, MiB)) == f"{'b' * 12}: already present"
    p = snapshot(layer(A, LayerState.DONE, 30 * MiB, 30 * MiB), layer(B, LayerState.PRESENT, 0, MiB), elapsed=4)
    assert summary_line(p) == "total: 30.0 MiB in 4.0s, average 7.5 MiB/s"
    assert summary_line(snapshot(layer(B, LayerState.PRESENT, 0, MiB))) == \
        "total: nothing to download (all layers already present)"
    assert summary_line(None).startswith("total: nothing to download")


class Screen(io.StringIO):
    """Output that tells the test's loop when the display (writing from a worker thread) wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.get_running_loop()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        self.loop.call_soon_threadsafe(self.written.set)
        return n


async def wait_for_text(out: Screen, text: str) -> None:
    async with asyncio.timeout(5):
        while True:
            out.written.clear()
            if text in out.getvalue():
                return
            await out.written.wait()


async def test_terminal_mode_redraws_the_frame_in_place_then_prints_the_summary() -> None:
    out = Screen()
    async with PullDisplay(out, tty=True, columns=80, interval=0.01) as d:
        d.update(snapshot(layer(A, LayerState.DOWNLOADING, 0, MiB), layer(B, LayerState.WAITING, 0, MiB)))
        await wait_for_text(out, "waiting")
        d.update(snapshot(layer(A, LayerState.DONE, MiB, MiB), layer(B, LayerState.DONE, MiB, MiB)))
    text = out.getvalue()
    first, _, rest = text.partition("\x1b[3A")  # the second frame starts by going up over the first
    assert first.count("\n") == 3 and "0 B / 1.0 MiB" in first and "\x1b[" not in first.replace("\x1b[K", "")
    assert rest.count("1.0 MiB done") == 2 and rest.endswith("total: 2.0 MiB in 2.0s, average 1.0 MiB/s\n")


async def test_plain_mode_prints_each_layer_once_when_it_finishes_and_no_escapes() -> None:
    out = Screen()
    async with PullDisplay(out, tty=False, interval=0.01) as d:
        d.update(snapshot(layer(A, LayerState.PRESENT, 0, MiB), layer(B, LayerState.DOWNLOADING, 0, 2 * MiB)))
        await wait_for_text(out, "already present")
        d.update(snapshot(layer(A, LayerState.PRESENT, 0, MiB), layer(B, LayerState.UNPACKING, 2 * MiB, 2 * MiB)))
        d.update(snapshot(layer(A, LayerState.PRESENT, 0, MiB), layer(B, LayerState.DONE, 2 * MiB, 2 * MiB)))
    assert out.getvalue() == (f"{'a' * 12}: already present\n{'b' * 12}: 2.0 MiB done\n"
                              "total: 2.0 MiB in 2.0s, average 1.0 MiB/s\n")


async def test_a_failed_pull_shows_where_it_stopped_without_a_summary() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        async with PullDisplay(out, tty=False, interval=60) as d:
            d.update(snapshot(layer(A, LayerState.DONE, MiB, MiB), layer(B, LayerState.DOWNLOADING, 0, MiB)))
            raise RuntimeError("registry went away")
    assert out.getvalue() == f"{'a' * 12}: 1.0 MiB done\n"
