"""What an nft script does to the kernel's tables, in memory: the engine of `FakeNft`, and how tests
read a rendered script back as structure (chains, rules, map elements) instead of comparing text.

It understands the commands the proxy writes (add/delete/flush of tables, chains, rules, sets, maps
and elements, `ip` family) and applies them as the kernel does in one transaction — all or nothing,
with the kernel's refusals, which the contract tests check against real nft:

- `add` of something that exists is a no-op (an element only if its value is the same; a set only
  if its type and flags are); `delete`/`flush` of something missing fails;
- a rule or element naming a chain or set that does not exist fails;
- a chain or set still referenced cannot be deleted; and a chain pointed at by a map element when
  the transaction started cannot be deleted within it — kernels before 6.2 release that reference
  only some time after the transaction (newer ones allow it; the fake keeps to the stricter rule
  the proxy must live with).

Rules are kept as text: what a rule matches is the business of whoever reads it (tests walk them).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

_REF = re.compile(r"\b(?:goto|jump) ([A-Za-z0-9_./-]+)")
_SET_REF = re.compile(r"@([A-Za-z0-9_./-]+)")
_BRACES = re.compile(r"^\{(.*)\}$", re.S)


class NftScriptError(Exception):
    """The script was refused; nothing of it was applied. The message names the line."""


@dataclass
class SetState:
    type: str
    flags: tuple[str, ...] = ()
    timeout: int = 0
    elements: dict[str, str] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return " : " in self.type


@dataclass
class ChainState:
    base: str = ""
    rules: list[str] = field(default_factory=list)


@dataclass
class TableState:
    chains: dict[str, ChainState] = field(default_factory=dict)
    sets: dict[str, SetState] = field(default_factory=dict)

    def chain_refs(self) -> dict[str, int]:
        """How often each chain is jumped to (rules and map elements)."""
        refs: dict[str, int] = {}
        for c in self.chains.values():
            for r in c.rules:
                for target in _REF.findall(r):
                    refs[target] = refs.get(target, 0) + 1
        for s in self.sets.values():
            for v in s.elements.values():
                for target in _REF.findall(v):
                    refs[target] = refs.get(target, 0) + 1
        return refs

    def element_chain_refs(self) -> set[str]:
        return {t for s in self.sets.values() for v in s.elements.values() for t in _REF.findall(v)}

    def set_refs(self) -> set[str]:
        return {n for c in self.chains.values() for r in c.rules for n in _SET_REF.findall(r)}

    def summary(self) -> dict[str, dict[str, int]]:
        """Rule counts per chain and element counts per set/map: what the contract tests compare
        between the fake and the kernel."""
        return {"chains": {n: len(c.rules) for n, c in self.chains.items()},
                "sets": {n: len(s.elements) for n, s in self.sets.items()}}


@dataclass
class NftState:
    tables: dict[tuple[str, str], TableState] = field(default_factory=dict)

    def table(self, name: str, family: str = "ip") -> TableState | None:
        return self.tables.get((family, name))


def _parse_set_spec(body: str) -> SetState:
    st = SetState(type="")
    for part in (p.strip() for p in body.split(";")):
        if not part:
            continue
        word, _, rest = part.partition(" ")
        if word == "type":
            st.type = " ".join(rest.split())
        elif word == "flags":
            st.flags = tuple(sorted(f.strip() for f in rest.split(",") if f.strip()))
        elif word == "timeout":
            st.timeout = int(rest.rstrip("s"))
        elif word == "comment":
            continue
        else:
            raise NftScriptError(f"unsupported set property {word!r}")
    if not st.type:
        raise NftScriptError("set without a type")
    return st


def _split_elements(body: str) -> list[tuple[str, str]]:
    out = []
    for item in (i.strip() for i in body.split(",")):
        if not item:
            continue
        key, sep, value = item.partition(" : ")
        out.append((" ".join(key.split()), " ".join(value.split()) if sep else ""))
    return out


class _Transaction:
    def __init__(self, state: NftState) -> None:
        self.before = state
        self.state = copy.deepcopy(state)
        self._key = ("", "")

    def _table(self, family: str, name: str) -> TableState:
        t = self.state.tables.get((family, name))
        if t is None:
            raise NftScriptError(f"table {family} {name}: No such file or directory")
        return t

    def _check_refs(self, t: TableState, text: str) -> None:
        for target in _REF.findall(text):
            if target not in t.chains:
                raise NftScriptError(f"chain {target}: No such file or directory")
        for name in _SET_REF.findall(text):
            if name not in t.sets:
                raise NftScriptError(f"set {name}: No such file or directory")

    def line(self, text: str) -> None:
        words = text.split(None, 4)
        if len(words) < 4:
            raise NftScriptError("syntax error")
        verb, obj, family, table = words[:4]
        rest = words[4] if len(words) > 4 else ""
        if family != "ip":
            raise NftScriptError(f"unsupported family {family!r}")
        if obj == "table":
            self._table_cmd(verb, family, table, rest)
            return
        t = self._table(family, table)
        self._key = (family, table)
        name, _, tail = rest.partition(" ")
        if not name:
            raise NftScriptError("syntax error: missing name")
        if obj == "chain":
            self._chain_cmd(t, verb, name, tail.strip())
        elif obj == "rule" and verb == "add":
            if name not in t.chains:
                raise NftScriptError(f"chain {name}: No such file or directory")
            if not tail.strip():
                raise NftScriptError("syntax error: empty rule")
            self._check_refs(t, tail)
            t.chains[name].rules.append(" ".join(tail.split()))
        elif obj in ("set", "map"):
            self._set_cmd(t, verb, obj, name, tail.strip())
        elif obj == "element":
            self._element_cmd(t, verb, name, tail.strip())
        else:
            raise NftScriptError(f"syntax error: {verb} {obj}")

    def _table_cmd(self, verb: str, family: str, table: str, rest: str) -> None:
        key = (family, table)
        if verb == "add":
            self.state.tables.setdefault(key, TableState())
        elif verb == "delete":
            self._table(family, table)
            del self.state.tables[key]
        elif verb == "flush":
            t = self._table(family, table)
            for c in t.chains.values():
                c.rules.clear()
            for s in t.sets.values():
                s.elements.clear()
        else:
            raise NftScriptError(f"syntax error: {verb} table")

    def _chain_cmd(self, t: TableState, verb: str, name: str, tail: str) -> None:
        if verb == "add":
            base = ""
            if tail:
                m = _BRACES.match(tail)
                if not m:
                    raise NftScriptError("syntax error in chain declaration")
                base = " ".join(m.group(1).replace(";", " ").split())
            existing = t.chains.get(name)
            if existing is None:
                t.chains[name] = ChainState(base)
            elif base and existing.base != base:
                raise NftScriptError(f"chain {name}: Operation not supported")
        elif verb == "flush":
            if name not in t.chains:
                raise NftScriptError(f"chain {name}: No such file or directory")
            t.chains[name].rules.clear()
        elif verb == "delete":
            if name not in t.chains:
                raise NftScriptError(f"chain {name}: No such file or directory")
            before = self.before.tables.get(self._key)
            held = before.element_chain_refs() if before is not None else set()
            if t.chain_refs().get(name) or name in held:
                raise NftScriptError(f"chain {name}: Device or resource busy")
            del t.chains[name]
        else:
            raise NftScriptError(f"syntax error: {verb} chain")

    def _set_cmd(self, t: TableState, verb: str, obj: str, name: str, tail: str) -> None:
        if verb == "add":
            m = _BRACES.match(tail)
            if not m:
                raise NftScriptError(f"syntax error in {obj} declaration")
            spec = _parse_set_spec(m.group(1))
            if (obj == "map") != spec.is_map:
                raise NftScriptError(f"{obj} {name}: type does not fit a {obj}")
            existing = t.sets.get(name)
            if existing is None:
                t.sets[name] = spec
            elif existing.type != spec.type or _flags(existing.flags) != _flags(spec.flags):
                raise NftScriptError(f"{obj} {name}: File exists")
            return
        s = t.sets.get(name)
        if s is None or (obj == "map") != s.is_map:
            raise NftScriptError(f"{obj} {name}: No such file or directory")
        if verb == "flush":
            s.elements.clear()
        elif verb == "delete":
            if name in t.set_refs():
                raise NftScriptError(f"{obj} {name}: Device or resource busy")
            del t.sets[name]
        else:
            raise NftScriptError(f"syntax error: {verb} {obj}")

    def _element_cmd(self, t: TableState, verb: str, name: str, tail: str) -> None:
        s = t.sets.get(name)
        if s is None:
            raise NftScriptError(f"set {name}: No such file or directory")
        m = _BRACES.match(tail)
        if not m:
            raise NftScriptError("syntax error in element list")
        for key, value in _split_elements(m.group(1)):
            if verb == "add":
                if s.is_map != bool(value):
                    raise NftScriptError(f"element {key}: data does not fit {name}")
                self._check_refs(t, value)
                if key in s.elements and s.elements[key] != value:
                    raise NftScriptError(f"element {key}: File exists")
                s.elements[key] = value
            elif verb == "delete":
                if key not in s.elements:
                    raise NftScriptError(f"element {key}: No such file or directory")
                del s.elements[key]
            else:
                raise NftScriptError(f"syntax error: {verb} element")


def _flags(flags: tuple[str, ...]) -> tuple[str, ...]:
    # The kernel does not keep "dynamic" (a set updated from the packet path gets it anyway), so
    # re-adding a set with or without it is the same set.
    return tuple(f for f in flags if f != "dynamic")


def apply_script(state: NftState, script: str) -> NftState:
    """The state after `script` ran as one transaction; raises NftScriptError (state untouched)."""
    tx = _Transaction(state)
    for n, raw in enumerate(script.splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            tx.line(text)
        except NftScriptError as e:
            raise NftScriptError(f"line {n}: {e}: {text[:200]}") from None
    return tx.state


def parse_script(script: str) -> NftState:
    """A script applied to nothing: how tests read a rendered table back."""
    return apply_script(NftState(), script)
