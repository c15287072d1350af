"""A packet's walk through a parsed proxy table: the tests' model of what the kernel does with the
rules the proxy renders, so rule tests assert on behaviour (where does a packet from X to Y:P end
up, is it masqueraded) rather than on text.

It understands the rule vocabulary `podfleet.proxy.rules` writes — an unknown form fails the test,
so the renderer cannot grow a rule the tests do not read. Hooks run as netfilter runs them for the
proxy's priorities: from a pod or another host, nat-prerouting (DNAT) then filter-input (to a local
address) or filter-forward; from this host, filter-output (before DNAT: priority -110) then
nat-output; then nat-postrouting. `numgen random` forks the walk, so a walk returns every outcome.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from podfleet.proxy.nftstate import TableState

NAT_HOOKS = {"prerouting": "nat-prerouting", "output": "nat-output"}


@dataclass(frozen=True)
class Packet:
    saddr: str
    daddr: str
    dport: int
    proto: str = "tcp"
    origin: str = "prerouting"  # "output" for the node's own processes


@dataclass(frozen=True)
class Outcome:
    verdict: str  # accept drop reject
    dnat: str = ""  # "ip:port" when DNATed
    masquerade: bool = False
    affinity: frozenset[str] = frozenset()  # affinity sets the client was recorded in


@dataclass(frozen=True)
class _State:
    pkt: Packet
    mark: int = 0
    dnat: str = ""
    affinity: frozenset[str] = frozenset()

    @property
    def daddr(self) -> str:
        return self.dnat.rsplit(":", 1)[0] if self.dnat else self.pkt.daddr

    @property
    def dport(self) -> int:
        return int(self.dnat.rsplit(":", 1)[1]) if self.dnat else self.pkt.dport


@dataclass
class Walker:
    table: TableState
    local_addrs: frozenset[str]  # the node's own addresses (fib ... type local)
    remembered: Mapping[str, set[str]] = field(default_factory=dict)  # affinity set -> client IPs

    def walk(self, pkt: Packet) -> set[Outcome]:
        out: set[Outcome] = set()
        st = _State(pkt)
        if pkt.origin == "output":
            for verdict, s1 in self._chain_verdicts("filter-output", st):
                if verdict != "accept":
                    out.add(Outcome(verdict))
                    continue
                for v2, s2 in self._chain_verdicts("nat-output", s1):
                    out.add(self._post(v2, s2))
            return out
        for verdict, s1 in self._chain_verdicts(NAT_HOOKS[pkt.origin], st):
            if verdict != "accept":
                out.add(Outcome(verdict))
                continue
            hook = "filter-input" if s1.daddr in self.local_addrs else "filter-forward"
            for v2, s2 in self._chain_verdicts(hook, s1):
                out.add(self._post(v2, s2))
        return out

    def _post(self, verdict: str, st: _State) -> Outcome:
        if verdict != "accept":
            return Outcome(verdict)
        masq = any(v == "masquerade" for v, _ in self._chain_verdicts("nat-postrouting", st))
        return Outcome("accept", st.dnat, masq, st.affinity)

    def _chain_verdicts(self, chain: str, st: _State) -> Iterator[tuple[str, _State]]:
        for v, s in self._run(chain, st):
            yield ("accept" if v in ("continue", "accept") else v), s

    # ---------------------------------------------------------------- rule evaluation
    def _run(self, chain: str, st: _State, start: int = 0) -> Iterator[tuple[str, _State]]:
        rules = self.table.chains[chain].rules
        for i in range(start, len(rules)):
            result = self._rule(rules[i], st)
            if result is None:  # did not match
                continue
            for kind, target, s2 in result:
                if kind == "continue":
                    yield from self._run(chain, s2, i + 1)
                elif kind == "jump":
                    for v, s3 in self._run(target, s2):
                        if v == "continue":
                            yield from self._run(chain, s3, i + 1)
                        else:
                            yield v, s3
                elif kind == "goto":
                    yield from self._run(target, s2)
                elif kind == "return":
                    yield "continue", s2
                else:  # accept drop reject masquerade
                    yield kind, s2
            return
        yield "continue", st

    def _rule(self, rule: str, st: _State) -> list[tuple[str, str, _State]] | None:
        words = rule.split()
        i = 0
        while i < len(words):
            w = words[i:]
            if w[:3] == ["ct", "state", "new"]:
                i += 3
            elif w[:3] == ["mark", "set", "mark"]:
                assert w[3] in ("or", "xor") and int(w[4], 16), rule
                mark = -1 if w[3] == "or" else 0  # one bit is all the proxy uses: -1 set, 0 cleared
                return [("continue", "", replace(st, mark=mark))]
            elif w[:2] == ["mark", "and"] and w[3:5] == ["==", "0"]:
                if st.mark != 0:
                    return None
                i += 5
            elif w[:2] == ["masquerade", "fully-random"]:
                return [("masquerade", "", st)]
            elif w[0] in ("jump", "goto"):
                return [(w[0], w[1], st)]
            elif w[0] in ("return", "accept", "drop"):
                return [(w[0], "", st)]
            elif w[:2] == ["meta", "l4proto"] and w[2] in ("tcp", "udp", "sctp"):
                if st.pkt.proto != w[2]:
                    return None
                i += 3
            elif w[0] == "reject":
                return [("reject", "", st)]
            elif w[:2] == ["dnat", "to"]:
                return [("accept", "", replace(st, dnat=w[2]))]
            elif w[0] == "update":
                name = w[1].lstrip("@")
                assert w[2:] == ["{", "ip", "saddr", "}"], rule
                return [("continue", "", replace(st, affinity=st.affinity | {name}))]
            elif w[0] == "ip" and w[1] in ("saddr", "daddr"):
                if w[2:7] == [".", "meta", "l4proto", ".", "th"] and w[7] == "dport":
                    assert w[8] == "vmap", rule
                    key = f"{st.daddr} . {st.pkt.proto} . {st.dport}"
                    return self._lookup(w[9], key, st)
                addr = st.pkt.saddr if w[1] == "saddr" else st.daddr
                negate = w[2] == "!="
                value = w[3] if negate else w[2]
                if self._addr_matches(addr, value) == negate:
                    return None
                i += 4 if negate else 3
            elif w[0] in ("tcp", "udp", "sctp") and w[1] == "dport":
                if st.pkt.proto != w[0] or st.dport != int(w[2]):
                    return None
                i += 3
            elif w[:4] == ["fib", "daddr", "type", "local"]:
                if st.daddr not in self.local_addrs:
                    return None
                i += 4
            elif w[:4] == ["fib", "saddr", "type", "local"]:
                if st.pkt.saddr not in self.local_addrs:
                    return None
                i += 4
            elif w[:5] == ["meta", "l4proto", ".", "th", "dport"] and w[5] == "vmap":
                return self._lookup(w[6], f"{st.pkt.proto} . {st.dport}", st)
            elif w[:4] == ["numgen", "random", "mod", w[3]] and w[4] == "vmap":
                body = re.search(r"\{ (.*) \}", rule)
                assert body is not None, rule
                branches = [item.split(" : ")[1].split() for item in body.group(1).split(", ")]
                assert len(branches) == int(w[3]), rule
                return [(v[0], v[1], st) for v in branches]
            else:
                raise AssertionError(f"the walker does not know this rule form: {rule!r} (at {' '.join(w)!r})")
        raise AssertionError(f"rule without a verdict or statement: {rule!r}")

    def _lookup(self, ref: str, key: str, st: _State) -> list[tuple[str, str, _State]] | None:
        value = self.table.sets[ref.lstrip("@")].elements.get(key)
        if value is None:
            return None
        words = value.split()
        return [(words[0], words[1] if len(words) > 1 else "", st)]

    def _addr_matches(self, addr: str, value: str) -> bool:
        if value.startswith("@"):
            name = value[1:]
            if name in self.remembered:
                return addr in self.remembered[name]
            return addr in self.table.sets[name].elements
        return ipaddress.ip_address(addr) in ipaddress.ip_network(value)
