"""The route matcher as a function: normal forms, and the tricks that must not slip through."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekey.issuer.routes import CACHE_SIZE, compile_routes, normalise_path
from gatekey.operator.model.routes import Routes


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/admin", "/admin"),
        ("/admin/", "/admin"),
        ("//admin", "/admin"),
        ("/ADMIN", "/admin"),
        ("/Admin/Users", "/admin/users"),
        ("/x/../admin", "/admin"),
        ("/admin/../admin", "/admin"),
        ("/./admin/.", "/admin"),
        ("/../../admin", "/admin"),
        ("/%61dmin", "/admin"),
        ("/%2e%2e/admin", "/admin"),
        ("/x/%2E%2E/admin", "/admin"),
        ("/admin?debug=1", "/admin"),
        ("/admin#frag", "/admin"),
        ("/", "/"),
        ("/a%20b", "/a b"),
    ],
)
def test_normal_forms(raw, normal):
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "admin",  # not absolute
        "",
        "/admin%2fusers",  # an encoded slash: the backend may or may not split there
        "/admin%2Fusers",
        "/admin%5cusers",  # an encoded backslash
        "/admin\\users",
        "/admin%00",
        "/admin%0a",
        "/%252e%252e/admin",  # a second layer of encoding
        "/admin%ZZ",
        "/adm\x01in",
    ],
)
def test_ambiguous_paths_have_no_normal_form(raw):
    assert normalise_path(raw) is None


def routes(*rules, default="Allow"):
    return compile_routes(Routes.model_validate({"default": default, "rules": list(rules)}))


ADMIN = {"path": {"prefix": "/admin"}, "require": {"allOf": ["admin"]}}


def decide(compiled, method, raw, scope=(), claims=None):
    return compiled.decide(method, normalise_path(raw), frozenset(scope), lambda: claims or {})


@pytest.mark.parametrize(
    "raw", ["/admin", "/admin/", "/ADMIN", "//admin", "/x/../admin", "/%61dmin/users"]
)
def test_tricks_still_hit_the_admin_rule(raw):
    compiled = routes(ADMIN)
    assert not decide(compiled, "GET", raw).allowed
    assert decide(compiled, "GET", raw, {"admin"}).allowed


def test_prefix_is_by_whole_segments():
    compiled = routes(ADMIN, default="Deny")
    assert decide(compiled, "GET", "/admin/x", {"admin"}).allowed
    assert not decide(compiled, "GET", "/administrator", {"admin"}).allowed


def test_first_matching_rule_decides_and_methods_narrow():
    compiled = routes(
        {"path": {"exact": "/orders"}, "methods": ["GET"], "require": {"anyOf": ["r", "w"]}},
        {"path": {"exact": "/orders"}, "methods": ["POST"], "require": {"allOf": ["w"]}},
        {"path": {"glob": "/orders/*/lines/**"}, "action": "Deny"},
        default="Deny",
    )
    assert decide(compiled, "GET", "/orders", {"r"}).allowed
    assert not decide(compiled, "POST", "/orders", {"r"}).allowed
    refused = decide(compiled, "POST", "/orders", {"r"})
    assert refused.required == ("w",)
    assert decide(compiled, "POST", "/orders", {"w"}).allowed
    assert not decide(compiled, "GET", "/orders/7/lines", {"r", "w"}).allowed
    assert not decide(compiled, "GET", "/orders/7/lines/1/x", {"r", "w"}).allowed
    assert not decide(compiled, "DELETE", "/orders", {"r", "w"}).allowed  # default Deny


def test_globs():
    compiled = routes({"path": {"glob": "/a/*/c"}, "action": "Deny"})
    assert not decide(compiled, "GET", "/a/b/c").allowed
    assert decide(compiled, "GET", "/a/b/x/c").allowed
    everything = routes({"path": {"glob": "/**"}, "action": "Deny"})
    assert not decide(everything, "GET", "/").allowed
    assert not decide(everything, "GET", "/deep/path").allowed


def test_claims_of_the_credential():
    compiled = routes({"require": {"claims": {"tier": "gold"}}}, default="Deny")
    assert decide(compiled, "GET", "/x", claims={"tier": "gold"}).allowed
    assert not decide(compiled, "GET", "/x", claims={"tier": "silver"}).allowed
    assert not decide(compiled, "GET", "/x").allowed


def test_an_unknown_path_is_refused_when_any_rule_exists():
    def none():
        return {}

    assert not routes(ADMIN).decide("GET", None, frozenset({"admin"}), none).allowed
    assert routes().decide("GET", None, frozenset(), none).allowed
    assert not routes(default="Deny").decide("GET", None, frozenset(), none).allowed


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"path": {"glob": "/a**"}}, "** must be a whole path segment"),
        ({"path": {"prefix": "admin"}}, "String should match pattern"),
        ({"path": {"prefix": "/a", "exact": "/a"}}, "exactly one of exact, prefix and glob"),
        ({"path": {}}, "exactly one of exact, prefix and glob"),
        ({"methods": ["get"]}, "String should match pattern"),
        ({"require": {"allOf": ["bad scope"]}}, "String should match pattern"),
        ({"action": "Maybe"}, "Input should be 'Allow' or 'Deny'"),
    ],
)
def test_bad_rules_are_refused_at_validation(rule, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Routes.model_validate({"rules": [rule]})


# --- literal-prefix dispatch and the decision cache (issue 13.4) ---------------------

SEGMENTS = ["a", "B", "ab"]
"""Few, so that rule patterns and request paths share prefixes often."""
PATTERNS = st.lists(st.sampled_from([*SEGMENTS, "*", "**", "a?", "b*"]), max_size=3)
PATHS = st.lists(st.sampled_from([*SEGMENTS, "b", ".."]), max_size=4)


@st.composite
def rule_sets(draw):
    rules = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["exact", "prefix", "glob", None]))
        segments = draw(PATTERNS)
        if kind != "glob":
            segments = [s for s in segments if "*" not in s and "?" not in s]
        rule = {
            "action": draw(st.sampled_from(["Allow", "Deny"])),
            "methods": draw(st.sampled_from([[], ["GET"], ["POST", "GET"]])),
        }
        if kind is not None:
            rule["path"] = {kind: "/" + "/".join(segments)}
        rules.append(rule)
    return rules


@settings(max_examples=500, deadline=None)
@given(rule_sets(), PATHS, st.sampled_from(["GET", "POST", "PUT"]))
def test_dispatch_picks_the_first_matching_rule_like_trying_every_rule(rules, path, method):
    """The tree only skips rules that cannot match: the decision is the one trying every
    rule in order gives."""
    compiled = routes(*rules, default="Deny")
    normal = normalise_path("/" + "/".join(path))
    matchable = "" if normal == "/" else normal
    expected = next(
        (
            r
            for r in compiled.rules
            if (not r.methods or method in r.methods) and r.path.fullmatch(matchable)
        ),
        None,
    )
    assert compiled._first_match(method, normal) is expected


def test_remembered_decisions_are_per_scope_and_target():
    compiled = routes(ADMIN, default="Deny")
    assert not compiled.decide_request("GET", "/admin", (), dict).allowed
    assert compiled.decide_request("GET", "/admin", ("admin",), dict).allowed
    assert not compiled.decide_request("GET", "/ADMIN/../admin", (), dict).allowed
    assert not compiled.decide_request("GET", "/elsewhere", ("admin",), dict).allowed
    assert len(compiled.cache) == 4


def test_decisions_that_read_credential_metadata_are_not_remembered():
    compiled = routes({"require": {"claims": {"tier": "gold"}}}, default="Deny")
    assert compiled.decide_request("GET", "/x", (), lambda: {"tier": "gold"}).allowed
    assert not compiled.decide_request("GET", "/x", (), lambda: {"tier": "silver"}).allowed
    assert compiled.cache == {}


def test_the_decision_cache_stays_bounded():
    compiled = routes(ADMIN)
    for i in range(CACHE_SIZE + 10):
        compiled.decide_request("GET", f"/p{i}", (), dict)
    assert len(compiled.cache) <= CACHE_SIZE
