"""The nftables seam: run one nft script as one transaction, delete a table.

`NftCommand` runs the real `nft -f -` (script on stdin) through `podfleet.procs`, so the event loop
never forks or waits, optionally inside a given network namespace (tests, the benchmark).
`FakeNft` records every script and applies it to an in-memory kernel (`nftstate`) that refuses what
the kernel refuses, so unit tests see a failed transaction where production would.
"""

from __future__ import annotations

from typing import Protocol

from podfleet import procs
from podfleet.proxy.nftstate import NftScriptError, NftState, TableState, apply_script
from podfleet.proxy.nsexec import netns_argv
from podfleet.proxy.ruleset import FAMILY


class NftError(Exception):
    """nft refused the script (nothing of it was applied) or could not be run."""


class NftRunner(Protocol):
    async def apply(self, script: str) -> None:
        """Run `script` as one transaction: all of it, or (NftError) none of it."""

    async def delete_table(self, table: str) -> None:
        """Delete table `ip <table>` and everything in it; no error if it does not exist."""


def _delete_script(table: str) -> str:
    # add + delete in one transaction: deletes whether or not it exists, and never half-way.
    return f"add table {FAMILY} {table}\ndelete table {FAMILY} {table}\n"


class NftCommand:
    def __init__(self, netns: str | None = None, program: str = "nft", timeout: float = 60.0) -> None:
        self.netns = netns
        self.program = program
        self.timeout = timeout

    async def apply(self, script: str) -> None:
        argv = [*netns_argv(self.netns), self.program, "-f", "-"]
        try:
            res = await procs.run(argv, stdin=script.encode(), timeout=self.timeout, capture=True)
        except (OSError, procs.ProgramTimeout) as e:
            raise NftError(f"{self.program}: {e}") from e
        if not res.ok:
            raise NftError(_first_lines(res.error_text()))

    async def delete_table(self, table: str) -> None:
        await self.apply(_delete_script(table))


def _first_lines(text: str, limit: int = 12) -> str:
    # nft repeats the failing line with a caret marker under it; a handful of errors say enough.
    lines = text.splitlines()
    more = f"\n... ({len(lines) - limit} more lines)" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


class FakeNft:
    def __init__(self) -> None:
        self.state = NftState()
        self.scripts: list[str] = []
        self.fail_next: str | None = None

    async def apply(self, script: str) -> None:
        self.scripts.append(script)
        if self.fail_next:
            msg, self.fail_next = self.fail_next, None
            raise NftError(msg)
        try:
            self.state = apply_script(self.state, script)
        except NftScriptError as e:
            raise NftError(str(e)) from None

    async def delete_table(self, table: str) -> None:
        await self.apply(_delete_script(table))

    def table(self, name: str) -> TableState | None:
        return self.state.table(name, FAMILY)
