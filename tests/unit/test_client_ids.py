"""Who holds a client id across namespaces, and how render refuses the others."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatekey.operator.client_ids import ClientIdClaim, award, claims, holders
from gatekey.operator.model import AuthPolicy, Credential
from gatekey.operator.render import RenderInput, render
from tests.unit.helpers import NOW, FakeEntropy, credential_doc, parse, policy_doc

KEY = {"client_id": "shared", "client_secret": "s3cret"}


def in_ns(doc: dict[str, Any], namespace: str, created: str | None = None) -> dict[str, Any]:
    meta = doc["metadata"] | {"namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    return doc | {"metadata": meta}


def world(*spaces: tuple[str, list[dict[str, Any]], dict[str, dict[str, str]]]):
    """``(namespace, docs, secrets)`` per namespace -> (parsed, secrets, holders)."""
    parsed = {
        ns: [parse(in_ns(d, ns) if "namespace" not in d["metadata"] else d) for d in docs]
        for ns, docs, _ in spaces
    }
    secrets = {ns: s for ns, _, s in spaces}
    found = [c for ns, docs in parsed.items() for c in claims(ns, docs, secrets[ns])]
    return parsed, secrets, holders(found)


def render_ns(namespace, parsed, secrets, held):
    resources = parsed[namespace]
    return render(
        RenderInput(
            namespace=namespace,
            policies=[r for r in resources if isinstance(r, AuthPolicy)],
            credentials=[r for r in resources if isinstance(r, Credential)],
            roles=[],
            secrets=secrets[namespace],
            now=NOW,
            entropy=FakeEntropy(),
            client_id_holders=held,
        )
    )


def test_the_oldest_claim_holds_whatever_the_namespace_order():
    victim = in_ns(credential_doc("victim", clientId="shared"), "zz", "2030-01-01T00:00:00Z")
    late = in_ns(credential_doc("late", clientId="shared"), "aa", "2030-01-02T00:00:00Z")
    parsed, secrets, held = world(("zz", [victim], {}), ("aa", [late], {}))
    assert held["shared"].identity == ("Credential", "zz", "victim")

    kept = render_ns("zz", parsed, secrets, held)
    assert kept.statuses[("Credential", "victim")].ready
    refused = render_ns("aa", parsed, secrets, held)
    status = refused.statuses[("Credential", "late")]
    assert (status.ready, status.reason) == (False, "ClientIdConflict")
    assert "held by another client in another namespace" in status.message
    assert "zz" not in status.message  # another tenant's names stay out of this status
    assert refused.objects == ()  # no ConfigMap, no Secret


def test_an_older_cr_pointed_at_a_served_id_does_not_take_it():
    """Age is the tie-break between new claims only: the id already served stays."""
    old = in_ns(credential_doc("old", clientId="victims-id"), "evil", "2020-01-01T00:00:00Z")
    served = in_ns(credential_doc("victim", clientId="victims-id"), "shop", "2030-01-01T00:00:00Z")
    parsed = {"evil": [parse(old)], "shop": [parse(served)]}
    found = claims("evil", parsed["evil"], {}) + claims(
        "shop", parsed["shop"], {}, served={("Credential", "victim"): "victims-id"}
    )
    held = holders(found)
    assert held["victims-id"].identity == ("Credential", "shop", "victim")
    secrets = {"evil": {}, "shop": {}}
    assert render_ns("evil", parsed, secrets, held).statuses[("Credential", "old")].reason == (
        "ClientIdConflict"
    )
    assert render_ns("shop", parsed, secrets, held).statuses[("Credential", "victim")].ready


def test_a_tie_serves_neither():
    """No guess between claims of the same age: both are refused until one goes."""
    stamp = "2030-01-01T00:00:00Z"
    a = in_ns(credential_doc("b", clientId="shared"), "ns1", stamp)
    b = in_ns(credential_doc("a", clientId="shared"), "ns2", stamp)
    parsed, secrets, held = world(("ns2", [b], {}), ("ns1", [a], {}))
    assert held == {"shared": None}
    for ns, name in (("ns1", "b"), ("ns2", "a")):
        status = render_ns(ns, parsed, secrets, held).statuses[("Credential", name)]
        assert (status.ready, status.reason) == (False, "ClientIdConflict")
        assert "none older than the others" in status.message


def test_a_proxy_key_secret_elsewhere_does_not_take_the_victims_key():
    victim = in_ns(policy_doc("orders"), "shop", "2030-01-01T00:00:00Z")
    attacker = in_ns(policy_doc("mine", target="ApiProxy/mine"), "evil", "2030-01-05T00:00:00Z")
    parsed, secrets, held = world(
        ("shop", [victim], {"apiproxy-orders-proxy-key": KEY}),
        ("evil", [attacker], {"apiproxy-mine-proxy-key": KEY | {"client_secret": "other"}}),
    )
    assert render_ns("shop", parsed, secrets, held).statuses[("AuthPolicy", "orders")].ready
    refused = render_ns("evil", parsed, secrets, held)
    assert refused.statuses[("AuthPolicy", "mine")].reason == "ClientIdConflict"
    assert refused.by_name("Secret", "apiproxy-mine-proxy-key") is None  # not labelled
    assert refused.by_name("ConfigMap", "gatekey-authpolicy-mine") is None


def test_the_policies_of_one_target_share_their_proxy_key():
    jwt = policy_doc("jwt", created="2030-01-02T00:00:00Z")
    oauth = policy_doc("oauth", "OAuth2", created="2030-01-01T00:00:00Z")
    parsed, secrets, held = world(("shop", [jwt, oauth], {"apiproxy-orders-proxy-key": KEY}))
    assert held["shared"].client.members == {("AuthPolicy", "jwt"), ("AuthPolicy", "oauth")}
    assert held["shared"].identity == ("AuthPolicy", "shop", "oauth")  # the oldest names it
    rendered = render_ns("shop", parsed, secrets, held)
    assert all(s.ready for s in rendered.statuses.values())


def test_in_one_namespace_the_holder_is_named():
    policy = policy_doc("orders", created="2030-01-01T00:00:00Z")
    cred = credential_doc("c", clientId="shared") | {
        "metadata": {"name": "c", "creationTimestamp": "2030-01-03T00:00:00Z"}
    }
    parsed, secrets, held = world(("shop", [policy, cred], {"apiproxy-orders-proxy-key": KEY}))
    status = render_ns("shop", parsed, secrets, held).statuses[("Credential", "c")]
    assert status.reason == "ClientIdConflict"
    assert "held by AuthPolicy orders" in status.message


def test_ids_still_to_be_generated_or_unusable_claim_nothing():
    named_missing = credential_doc("a", secretName="nowhere", clientId="x")
    generated = credential_doc("b")
    no_secret_value = credential_doc("c", secretName="half")
    policy = policy_doc("p")  # its proxy key does not exist yet
    _, _, held = world(
        ("ns", [named_missing, generated, no_secret_value, policy], {"half": {"client_id": "y"}})
    )
    assert held == {}


def test_without_holders_render_checks_nothing():
    one = credential_doc("one", clientId="shared")
    two = credential_doc("two", clientId="shared")
    rendered = render(
        RenderInput(
            namespace="default",
            policies=[],
            credentials=[parse(one), parse(two)],
            roles=[],
            secrets={},
            now=NOW,
            entropy=FakeEntropy(),
        )
    )
    assert all(s.ready for s in rendered.statuses.values())  # the embedded mode decides later


# The rule itself, as the issuer applies it to rendered objects -----------------------

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def claim(name: str, created: datetime | None, client_id: str = "id") -> ClientIdClaim[str]:
    return ClientIdClaim(client_id, ("Secret", "ns", name), created, name)


@pytest.mark.parametrize(
    ("claims", "incumbent", "holder"),
    [
        ([claim("a", None)], None, "a"),  # alone: holds, timestamp or not
        ([claim("a", T0 + timedelta(1)), claim("b", T0)], None, "b"),  # the oldest
        ([claim("a", T0), claim("b", T0)], None, None),  # a tie: no one
        ([claim("a", T0), claim("b", None)], None, None),  # an unknown age: no one
        ([claim("a", T0), claim("b", T0 + timedelta(1))], "b", "b"),  # the incumbent stays
        ([claim("a", T0)], "gone", None),  # kept for an absent incumbent
    ],
)
def test_the_rule(claims, incumbent, holder):
    incumbents = {} if incumbent is None else {"id": ("Secret", "ns", incumbent)}
    held, refused = award(claims, incumbents)
    assert (held["id"].client if "id" in held else None) == holder
    assert sorted(c.client for c, _ in refused) == sorted(
        c.client for c in claims if c.client != holder
    )
    assert all(h is None or h.client == holder for _, h in refused)


def test_ids_are_judged_apart():
    held, refused = award([claim("a", None, "x"), claim("b", None, "y")], {})
    assert {cid: c.client for cid, c in held.items()} == {"x": "a", "y": "b"}
    assert refused == []
