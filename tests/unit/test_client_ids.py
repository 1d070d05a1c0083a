"""Who holds a client id across namespaces, and how render refuses the others."""

from typing import Any

from gatekey.operator.client_ids import claims, holders
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
    assert (held["shared"].namespace, held["shared"].name) == ("zz", "victim")

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
    assert (held["victims-id"].namespace, held["victims-id"].name) == ("shop", "victim")
    secrets = {"evil": {}, "shop": {}}
    assert render_ns("evil", parsed, secrets, held).statuses[("Credential", "old")].reason == (
        "ClientIdConflict"
    )
    assert render_ns("shop", parsed, secrets, held).statuses[("Credential", "victim")].ready


def test_ties_go_by_namespace_then_name():
    a = credential_doc("b", clientId="shared")
    b = credential_doc("a", clientId="shared")
    _, _, held = world(("ns2", [b], {}), ("ns1", [a], {}))
    assert (held["shared"].namespace, held["shared"].name) == ("ns1", "b")


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
    assert held["shared"].members == {("AuthPolicy", "jwt"), ("AuthPolicy", "oauth")}
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
