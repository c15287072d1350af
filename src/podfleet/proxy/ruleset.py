"""An nftables table as data (chains, maps, sets), and the nft script that takes the kernel from one
such table to another in a single transaction. Pure: no I/O.

`full_script` replaces the table wholesale (add, delete, re-create: atomic, and it works whether the
table exists or not); the proxy uses it when it does not know what the kernel holds (first sync, after
a failure). `update_script` changes only what differs — chains whose rules changed are flushed and
refilled, map elements added and deleted one by one, ClientIP affinity sets (filled by packets)
left alone — so a sync after one endpoint changed is a handful of commands, not the whole table.

A chain that is no longer wanted is flushed at once but deleted only in a later transaction, at
least `STALE_CHAIN_GRACE` seconds on: kernels before 6.2 (Debian 12's is 6.1) notice that a removed
map element no longer points at a chain only some time after the transaction, and refuse to delete
it until then, as kube-proxy found. `plan_sync` keeps that bookkeeping.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

FAMILY = "ip"
STALE_CHAIN_GRACE = 1.0
TABLE_COMMENT = "podfleet Service proxy"

_SET_REF = re.compile(r"@([A-Za-z0-9_./-]+)")


@dataclass(frozen=True)
class Chain:
    name: str
    rules: tuple[str, ...] = ()
    base: str = ""  # "type nat hook prerouting priority -100" for a chain on a netfilter hook


@dataclass(frozen=True)
class NftSet:
    """A named set, or a map when `type` has a data part (" : verdict")."""

    name: str
    type: str
    elements: Mapping[str, str] = field(default_factory=dict)  # key -> value ("" in a set)
    flags: tuple[str, ...] = ()
    timeout: int = 0  # seconds an element lives (sets with the timeout flag)
    dynamic: bool = False  # elements are added by packets (`update @set`): never listed, flushed or diffed

    @property
    def is_map(self) -> bool:
        return " : " in self.type

    @property
    def kind(self) -> str:
        return "map" if self.is_map else "set"

    def spec(self) -> str:
        parts = [f"type {self.type};"]
        if self.flags:
            parts.append(f"flags {','.join(self.flags)};")
        if self.timeout:
            parts.append(f"timeout {self.timeout}s;")
        return " ".join(parts)

    def same_spec(self, other: NftSet) -> bool:
        return (self.type, self.flags, self.timeout, self.dynamic) == (other.type, other.flags, other.timeout,
                                                                       other.dynamic)


@dataclass(frozen=True)
class Ruleset:
    table: str
    chains: Mapping[str, Chain] = field(default_factory=dict)  # in the order they are written
    sets: Mapping[str, NftSet] = field(default_factory=dict)

    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())


def _refers_to(c: Chain, sets: Collection[str]) -> bool:
    return any(name in sets for r in c.rules if "@" in r for name in _SET_REF.findall(r))


def _element(key: str, value: str) -> str:
    return f"{key} : {value}" if value else key


def _elements_line(verb: str, rs_table: str, s: NftSet, items: Iterable[tuple[str, str]]) -> str | None:
    body = ", ".join(_element(k, v) for k, v in items)
    return f"{verb} element {FAMILY} {rs_table} {s.name} {{ {body} }}" if body else None


def _chain_decl(table: str, c: Chain) -> str:
    return f"add chain {FAMILY} {table} {c.name} {{ {c.base}; }}" if c.base else f"add chain {FAMILY} {table} {c.name}"


def _set_decl(table: str, s: NftSet) -> str:
    return f"add {s.kind} {FAMILY} {table} {s.name} {{ {s.spec()} }}"


def _rules(table: str, c: Chain) -> list[str]:
    return [f"add rule {FAMILY} {table} {c.name} {r}" for r in c.rules]


def _ordered_rule_chains(chains: Iterable[Chain]) -> list[Chain]:
    # Rules holding an anonymous verdict map (`numgen ... vmap { ... }`) go first: binding such a map
    # walks the whole transaction so far in the kernel, so late in a long transaction each one costs
    # thousands of steps (10 % of a 10,000-endpoint sync).
    first: list[Chain] = []
    rest: list[Chain] = []
    for c in chains:
        (first if any("vmap {" in r for r in c.rules) else rest).append(c)
    return first + rest


def full_script(rs: Ruleset) -> str:
    """Replace table `rs.table` with `rs`, whatever the kernel has (or not) under that name."""
    t = rs.table
    lines = [f"add table {FAMILY} {t}", f"delete table {FAMILY} {t}",
             f'add table {FAMILY} {t} {{ comment "{TABLE_COMMENT}"; }}']
    lines += [_chain_decl(t, c) for c in rs.chains.values()]
    lines += [_set_decl(t, s) for s in rs.sets.values()]
    for c in _ordered_rule_chains(rs.chains.values()):
        lines += _rules(t, c)
    for s in rs.sets.values():
        if not s.dynamic and (line := _elements_line("add", t, s, s.elements.items())):
            lines.append(line)
    return "\n".join(lines) + "\n"


def compatible(old: Ruleset, new: Ruleset) -> bool:
    """Whether `update_script` can take the kernel from `old` to `new` (a chain cannot move to another
    hook or priority in place)."""
    if old.table != new.table:
        return False
    return all(old.chains[n].base == c.base for n, c in new.chains.items() if n in old.chains)


def update_script(old: Ruleset, new: Ruleset, delete_chains: Collection[str] = (), *,
                  rewrite_all: bool = False) -> str:
    """The script taking the kernel from `old` (what it holds) to `new`; "" when nothing differs.

    `delete_chains`: chains of `old` that are empty and unreferenced already, deleted at the end.
    Chains of `old` missing from `new` are flushed, not deleted. `rewrite_all` flushes and
    refills every chain and map even where nothing seems to differ (the periodic full sync, which
    repairs anything changed behind the proxy's back); affinity sets keep their contents.
    """
    if not compatible(old, new):
        raise ValueError("rulesets are not compatible; use full_script")
    t = new.table
    respecified = {n for n, s in new.sets.items() if n in old.sets and not old.sets[n].same_spec(s)}
    dropped_sets = [n for n in old.sets if n not in new.sets]
    renewed_sets = respecified | set(dropped_sets)
    lines: list[str] = []

    added_chains = [c for n, c in new.chains.items() if n not in old.chains]
    lines += [_chain_decl(t, c) for c in added_chains]

    changed: list[Chain] = []
    for n, c in new.chains.items():
        before = old.chains.get(n)
        if before is None:
            continue
        if rewrite_all or before.rules != c.rules or (renewed_sets and _refers_to(before, renewed_sets)):
            changed.append(c)
    flushed = [c.name for c in changed] + [n for n, c in old.chains.items() if n not in new.chains and c.rules]
    lines += [f"flush chain {FAMILY} {t} {n}" for n in flushed]

    additions: list[str] = []
    for n, s in new.sets.items():
        before_set = old.sets.get(n)
        if before_set is None or n in respecified:
            if not s.dynamic and (line := _elements_line("add", t, s, s.elements.items())):
                additions.append(line)
            continue
        if s.dynamic:
            continue
        if rewrite_all:
            lines.append(f"flush {s.kind} {FAMILY} {t} {n}")
            if line := _elements_line("add", t, s, s.elements.items()):
                additions.append(line)
            continue
        gone = [k for k, v in before_set.elements.items() if s.elements.get(k) != v]
        if line := _elements_line("delete", t, s, ((k, "") for k in gone)):
            lines.append(line)
        fresh = [(k, v) for k, v in s.elements.items() if before_set.elements.get(k) != v]
        if line := _elements_line("add", t, s, fresh):
            additions.append(line)

    lines += [f"delete {old.sets[n].kind} {FAMILY} {t} {n}" for n in [*dropped_sets, *sorted(respecified)]]
    lines += [_set_decl(t, s) for n, s in new.sets.items() if n not in old.sets or n in respecified]
    for c in _ordered_rule_chains([*added_chains, *changed]):
        lines += _rules(t, c)
    lines += additions
    lines += [f"delete chain {FAMILY} {t} {n}" for n in delete_chains]
    if not lines:
        return ""
    # `add table` first: a no-op on the table we keep, and a clear error if it vanished.
    return "\n".join([f"add table {FAMILY} {t}", *lines]) + "\n"


@dataclass(frozen=True)
class SyncPlan:
    script: str  # "" when the kernel already holds the desired table
    applied: Ruleset  # what the kernel holds once `script` ran (stale chains included, empty)
    stale_since: dict[str, float]  # chains left empty for deletion later, and since when
    full_replace: bool = False
    # Deleting chains emptied by an earlier sync, in a transaction of its own after `script`: on
    # kernels that release references late it may still fail, and that must not cost the sync.
    cleanup: str = ""
    cleanup_chains: tuple[str, ...] = ()


def without_chains(rs: Ruleset, names: Collection[str]) -> Ruleset:
    gone = set(names)
    return Ruleset(rs.table, {n: c for n, c in rs.chains.items() if n not in gone}, rs.sets)


def plan_sync(applied: Ruleset | None, desired: Ruleset, stale_since: Mapping[str, float], now: float, *,
              rewrite_all: bool = False, grace: float = STALE_CHAIN_GRACE) -> SyncPlan:
    """What to run to get from `applied` (the proxy's record of the kernel's table; None when it does
    not know) to `desired`, and the record afterwards. Chains `desired` drops are flushed now, and
    deleted by the cleanup of the first plan made `grace` seconds or more later."""
    if applied is None or not compatible(applied, desired):
        return SyncPlan(full_script(desired), desired, {}, full_replace=True)
    gone = [n for n in applied.chains if n not in desired.chains]
    stale = {n: stale_since.get(n, now) for n in gone}
    delete_now = tuple(n for n in gone if not applied.chains[n].rules and now - stale[n] >= grace)
    script = update_script(applied, desired, rewrite_all=rewrite_all)
    after = Ruleset(desired.table, {**desired.chains, **{n: Chain(n) for n in stale}}, desired.sets)
    cleanup = "".join(f"delete chain {FAMILY} {desired.table} {n}\n" for n in delete_now)
    return SyncPlan(script, after, stale, cleanup=cleanup, cleanup_chains=delete_now)
