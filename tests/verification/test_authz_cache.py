"""Attacks on the remembered ``/authz`` passes, over HTTP against a served issuer: each
first makes ``/authz`` remember a pass, then changes what it depends on, and expects
the refusal the whole check gives."""

import time

from tests.support.manifests import credential, policy
from tests.tenancy.conftest import attacker, victim
from tests.verification.conftest import iso, issue, orders_entry_ending
from tests.verification.test_authz import authz
from tests.verification.test_revocation import revoke


def _remembered(issuer, token, proxy="orders", path="/authz"):
    """``/authz`` passes ``token`` for ``proxy`` more than once: its pass is remembered."""
    for _ in range(3):
        response = authz(issuer, token, proxy, path=path)
        assert response.status_code == 200, response.headers


def _edit(issuer, old, new):
    """Replace ``old`` wherever it is in the manifests, and reload them."""
    manifests = issuer.source.folder.root / "manifests.yaml"
    text = manifests.read_text()
    assert old in text
    manifests.write_text(text.replace(old, new))
    issuer.reload()


def test_a_credential_expiring_while_remembered_stops_its_tokens(start_issuer):
    soon = iso(time.time() + 600)  # the issuer's clock starts later, and only moves on
    issuer = start_issuer(
        policy("orders-acl", "JWT", management="ACL"),
        credential("svc", ["ApiProxy/orders"], expiresAt=soon),
    )
    token = issue(issuer, "/credential/jwt", issuer.credential("svc"))["access_token"]
    _remembered(issuer, token)
    issuer.clock.advance(601)  # the token itself lives an hour
    response = authz(issuer, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_pass_decided_just_before_an_acl_entry_ends_is_not_remembered_past_it(start_issuer):
    """The last millisecond before ``expiresAt``: the pass must end with the entry, not
    hold until the next end (or the next configuration)."""
    ends = float(int(time.time()) + 600)
    issuer = orders_entry_ending(start_issuer, ends)
    token = issue(issuer, "/credential/jwt", issuer.credential("svc"))["access_token"]
    issuer.clock.now = ends - 0.0005
    assert authz(issuer, token, "orders").status_code == 200
    issuer.clock.now = ends + 100  # the token lives an hour; the entry has ended
    assert authz(issuer, token, "orders").status_code == 403


def test_an_acl_entry_expiring_while_remembered_stops_reaching_the_proxy(start_issuer):
    issuer = orders_entry_ending(start_issuer, time.time() + 600)
    token = issue(issuer, "/credential/jwt", issuer.credential("svc"))["access_token"]
    _remembered(issuer, token, "orders")
    _remembered(issuer, token, "billing")
    issuer.clock.advance(601)
    refused = authz(issuer, token, "orders")
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert authz(issuer, token, "billing").status_code == 200  # its entry never expires


def test_a_revoked_policy_token_is_refused_under_every_remembered_proxy_name(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    names = ["orders", "ApiProxy/orders", "default/orders"]
    for name in names:
        _remembered(world, token, name)
    assert revoke(world, "/auth", key, token).status_code == 200
    for name in names:
        assert authz(world, token, name).status_code == 401, name


def test_a_revoked_opaque_token_is_refused_after_passing_many_times(world):
    """An opaque token's revocation lands in the store alone (no deny list)."""
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/token", key)["access_token"]
    _remembered(world, token)
    assert revoke(world, "/auth", key, token).status_code == 200
    response = authz(world, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_acl_change_after_a_remembered_pass_takes_effect(world):
    token = issue(world, "/credential/jwt", world.credential("svc"))["access_token"]
    _remembered(world, token, "orders")
    _edit(
        world,
        "name: svc\nspec:\n  acl:\n  - kind: ProxyGroup\n    name: shop",
        "name: svc\nspec:\n  acl:\n  - kind: ApiProxy\n    name: payments",
    )
    assert authz(world, token, "orders").status_code == 403
    assert authz(world, token, "payments").status_code == 200


def test_a_proxy_leaving_the_group_after_a_remembered_pass_is_refused(world):
    token = issue(world, "/credential/jwt", world.credential("svc"))["access_token"]
    _remembered(world, token, "payments")
    _edit(world, "- orders\n    - payments\n", "- orders\n")  # both of the group's policies
    assert authz(world, token, "payments").status_code == 403
    assert authz(world, token, "orders").status_code == 200


def test_a_remembered_pass_at_home_never_passes_for_another_namespace(start_issuer):
    issuer = start_issuer(*victim(), *attacker())
    evil = issue(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders", "evil"))
    token = evil["access_token"]
    _remembered(issuer, token, "evil/orders")
    for name in ["orders", "default/orders", "ApiProxy/orders", "ApiProxy/default/orders"]:
        assert authz(issuer, token, name).status_code == 403, name
    _remembered(issuer, token, "ApiProxy/evil/orders")


def test_a_claim_change_after_a_remembered_pass_is_decided_again(start_issuer):
    routes = {"default": "Deny", "rules": [{"require": {"claims": {"tier": "gold"}}}]}
    issuer = start_issuer(
        policy("orders-acl", "JWT", management="ACL", routes=routes),
        credential("svc", ["ApiProxy/orders"], claims=[{"key": "tier", "value": "gold"}]),
    )
    token = issue(issuer, "/credential/jwt", issuer.credential("svc"))["access_token"]
    _remembered(issuer, token, path="/authz/any")
    _edit(issuer, "value: gold", "value: silver")
    assert authz(issuer, token, path="/authz/any").status_code == 403
