"""Scope rules: parsing a request, resolving it against held roles, narrowing on refresh."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekey.issuer.errors import InvalidScope
from gatekey.issuer.scopes import narrow_scope, parse_scope, resolve_scope
from gatekey.operator.model import ScopeSettings

HELD = frozenset({"orders.read", "orders.write"})


def rules(**kw) -> ScopeSettings:
    return ScopeSettings(**kw)


# parse_scope ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", " ", "   "])
def test_parse_empty_is_none(raw):
    assert parse_scope(raw) is None


def test_parse_splits_on_spaces():
    assert parse_scope("a  b a ") == frozenset({"a", "b"})
    assert parse_scope("orders:read urn:x/y") == frozenset({"orders:read", "urn:x/y"})


@pytest.mark.parametrize("raw", ['a"b', "a\\b", "a\tb", "caf\u00e9", "a\nb", "x\x7f"])
def test_parse_invalid_characters(raw):
    with pytest.raises(InvalidScope) as caught:
        parse_scope(raw)
    assert caught.value.error == "invalid_scope"
    assert caught.value.status == 400


@given(
    st.lists(
        st.text(
            alphabet=st.characters(
                min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'
            ),
            min_size=1,
        )
    )
)
def test_parse_accepts_every_scope_token(tokens):
    parsed = parse_scope(" ".join(tokens))
    assert parsed == (frozenset(tokens) or None)


# resolve_scope ---------------------------------------------------------------------


def test_strict_grants_requested_when_held():
    assert resolve_scope(frozenset({"orders.read"}), HELD, rules()) == ("orders.read",)


def test_strict_refuses_mismatch():
    with pytest.raises(InvalidScope, match="admin"):
        resolve_scope(frozenset({"orders.read", "admin"}), HELD, rules(on_mismatch="Strict"))


def test_lenient_grants_intersection():
    granted = resolve_scope(frozenset({"orders.read", "admin"}), HELD, rules(on_mismatch="Lenient"))
    assert granted == ("orders.read",)


def test_lenient_with_nothing_held_in_common_is_empty():
    assert resolve_scope(frozenset({"admin"}), HELD, rules(on_mismatch="Lenient")) == ()


def test_ignore_grants_all_held_on_mismatch():
    granted = resolve_scope(frozenset({"admin"}), HELD, rules(on_mismatch="Ignore"))
    assert granted == ("orders.read", "orders.write")


def test_ignore_grants_all_held_without_request():
    assert resolve_scope(None, HELD, rules(on_mismatch="Ignore")) == (
        "orders.read",
        "orders.write",
    )


def test_not_requested_none_gives_no_scope():
    assert resolve_scope(None, HELD, rules(when_not_requested="None")) == ()


def test_not_requested_all_gives_all_held():
    assert resolve_scope(None, HELD, rules(when_not_requested="All")) == (
        "orders.read",
        "orders.write",
    )


def test_no_roles_gives_empty_scope_by_default():
    assert resolve_scope(None, frozenset(), rules(when_not_requested="All")) == ()


def test_reject_when_no_roles():
    for requested in (None, frozenset({"orders.read"})):
        with pytest.raises(InvalidScope):
            resolve_scope(requested, frozenset(), rules(reject_when_no_roles=True))


def test_reject_when_no_roles_lets_holders_through():
    strict = rules(reject_when_no_roles=True)
    assert resolve_scope(None, HELD, strict) == ()


def test_reject_when_no_roles_has_no_effect_with_ignore():
    ignore = rules(on_mismatch="Ignore", reject_when_no_roles=True)
    assert resolve_scope(frozenset({"admin"}), frozenset(), ignore) == ()
    assert resolve_scope(None, frozenset(), ignore) == ()


def test_result_is_sorted():
    held = frozenset({"c", "a", "b"})
    assert resolve_scope(frozenset({"c", "a"}), held, rules()) == ("a", "c")


@given(
    st.frozensets(st.sampled_from("abcde")),
    st.frozensets(st.sampled_from("abcde")),
    st.sampled_from(["Strict", "Lenient", "Ignore"]),
)
def test_never_grants_more_than_held(requested, held, on_mismatch):
    try:
        granted = resolve_scope(requested or None, held, rules(on_mismatch=on_mismatch))
    except InvalidScope:
        assert on_mismatch == "Strict"
        assert requested - held
        return
    assert set(granted) <= held


# narrow_scope ----------------------------------------------------------------------


def test_narrow_keeps_a_subset():
    assert narrow_scope(frozenset({"orders.read"}), ("orders.read", "orders.write"), HELD) == (
        "orders.read",
    )


def test_narrow_refuses_widening():
    with pytest.raises(InvalidScope):
        narrow_scope(frozenset({"orders.read", "orders.write"}), ("orders.read",), HELD)


def test_narrow_without_request_keeps_original():
    assert narrow_scope(None, ("orders.read", "orders.write"), HELD) == (
        "orders.read",
        "orders.write",
    )


def test_narrow_drops_roles_taken_away():
    assert narrow_scope(None, ("orders.read", "orders.write"), frozenset({"orders.write"})) == (
        "orders.write",
    )
    assert narrow_scope(frozenset({"orders.read"}), ("orders.read",), frozenset()) == ()


def test_narrow_same_scope_is_fine():
    assert narrow_scope(frozenset({"orders.read"}), ("orders.read",), HELD) == ("orders.read",)
