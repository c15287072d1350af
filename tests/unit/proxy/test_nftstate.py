"""The in-memory kernel behind FakeNft: transactions are all or nothing, and it refuses what the
kernel refuses (the contract tests hold these same cases against real nft)."""

from __future__ import annotations

import pytest

from podfleet.proxy.nftstate import NftScriptError, NftState, apply_script, parse_script

BASE = """\
add table ip t
add chain ip t top { type nat hook prerouting priority -100; }
add chain ip t a
add map ip t m { type ipv4_addr . inet_proto . inet_service : verdict; }
add set ip t s { type ipv4_addr; }
add rule ip t top ip daddr . meta l4proto . th dport vmap @m
add element ip t m { 10.0.0.1 . tcp . 80 : goto a }
add element ip t s { 10.0.0.9 }
"""


def base() -> NftState:
    return parse_script(BASE)


@pytest.mark.parametrize(("script", "error"), [
    ("add rule ip t nosuch accept", "nosuch: No such file"),
    ("add rule ip t a goto nosuch", "nosuch: No such file"),
    ("add rule ip t a ip saddr @nosuch accept", "nosuch: No such file"),
    ("add element ip t m { 10.0.0.2 . tcp . 80 : goto nosuch }", "nosuch: No such file"),
    ("add element ip t m { 10.0.0.1 . tcp . 80 : goto top }", "File exists"),
    ("delete element ip t m { 10.0.0.7 . tcp . 80 }", "No such file"),
    ("flush chain ip t nosuch", "No such file"),
    ("delete chain ip t a", "busy"),  # a map element points at it
    ("delete map ip t m", "busy"),  # a rule looks it up
    ("add chain ip t top { type nat hook prerouting priority -90; }", "not supported"),
    ("add set ip t s { type ipv4_addr; flags interval; }", "File exists"),
    ("delete table ip nosuch", "No such file"),
    ("bogus", "syntax error"),
    ("add rule ip6 t a accept", "unsupported family"),
])
def test_refused(script: str, error: str) -> None:
    with pytest.raises(NftScriptError, match=error):
        apply_script(base(), script)


def test_a_refused_transaction_changes_nothing() -> None:
    before = base()
    with pytest.raises(NftScriptError, match="line 2"):
        apply_script(before, "flush chain ip t top\nadd rule ip t a goto nosuch\n")
    t = before.table("t")
    assert t is not None and t.chains["top"].rules


def test_idempotent_adds() -> None:
    again = apply_script(base(), BASE.replace("add rule ip t top ip daddr . meta l4proto . th dport vmap @m\n", ""))
    assert again.table("t") == base().table("t")


def test_chain_unmapped_in_this_transaction_is_deletable_only_in_the_next() -> None:
    unmap = "delete element ip t m { 10.0.0.1 . tcp . 80 }\n"
    with pytest.raises(NftScriptError, match="busy"):
        apply_script(base(), unmap + "delete chain ip t a\n")
    later = apply_script(apply_script(base(), unmap), "delete chain ip t a\n")
    t = later.table("t")
    assert t is not None and "a" not in t.chains


def test_a_chain_jumped_to_by_a_rule_is_busy_until_the_rule_goes() -> None:
    s = apply_script(base(), "add chain ip t b\nadd rule ip t a jump b\n")
    with pytest.raises(NftScriptError, match="busy"):
        apply_script(s, "delete chain ip t b\n")
    t = apply_script(s, "flush chain ip t a\ndelete chain ip t b\n").table("t")
    assert t is not None and "b" not in t.chains


def test_dynamic_flag_is_not_part_of_the_sets_identity() -> None:
    s = apply_script(base(), "add set ip t aff { type ipv4_addr; flags dynamic,timeout; timeout 60s; }\n")
    apply_script(s, "add set ip t aff { type ipv4_addr; flags timeout; timeout 60s; }\n")


def test_delete_table_takes_everything() -> None:
    assert apply_script(base(), "delete table ip t\n").table("t") is None


def test_summary() -> None:
    t = base().table("t")
    assert t is not None
    assert t.summary() == {"chains": {"top": 1, "a": 0}, "sets": {"m": 1, "s": 1}}
