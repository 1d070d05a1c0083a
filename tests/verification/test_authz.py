"""/authz: forward authentication for the proxy (docs/api.md, RFC 6750 §3)."""

import pytest

from tests.verification.conftest import issue
from tests.verification.test_revocation import revoke


def authz(issuer, token=None, proxy="orders", method="GET", path="/authz", bare=False):
    headers = {}
    if token is not None:
        headers["Authorization"] = token if bare else f"Bearer {token}"
    if proxy is not None:
        headers["X-Gatekey-Proxy"] = proxy
    return issuer.session.request(method, issuer.url + path, headers=headers, timeout=5)


@pytest.mark.parametrize("path", ["/auth/jwt", "/auth/token"])
def test_valid_token_gives_identity_headers(world, path):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, path, key, scope="orders.read")["access_token"]
    response = authz(world, token)
    assert response.status_code == 200
    assert response.headers["X-Authenticated-UserId"] == key[0]
    assert response.headers["X-Authenticated-ClientId"] == key[0]
    assert response.headers["X-Authenticated-UserRoles"] == "orders.read"


def test_bare_token_and_any_method_and_sub_path(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    assert authz(world, token, bare=True).status_code == 200
    assert authz(world, token, method="DELETE", path="/authz/v1/orders/7").status_code == 200
    assert authz(world, token, proxy="ApiProxy/orders").status_code == 200


def test_missing_token_gets_a_bare_challenge(world):
    response = authz(world)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatekey"'


@pytest.mark.parametrize("token", ["forged.jwt.value", "gkat_unknown", "gkrt_refresh"])
def test_bad_token_is_invalid_token(world, token):
    response = authz(world, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_token_is_invalid_token(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    assert authz(world, token).status_code == 200  # cached now
    world.clock.advance(3601)
    assert authz(world, token).status_code == 401


def test_token_for_another_proxy_is_403(world):
    key = world.proxy_key("ApiProxy", "billing")
    token = issue(world, "/auth/jwt", key)["access_token"]
    assert authz(world, token, proxy="billing").status_code == 200
    assert authz(world, token, proxy="orders").status_code == 403


def test_unknown_proxy_is_403(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    assert authz(world, token, proxy="nowhere").status_code == 403
    assert authz(world, token, proxy=None).status_code == 403


def test_group_token_is_valid_at_each_member(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    assert authz(world, token, proxy="orders").status_code == 200
    assert authz(world, token, proxy="payments").status_code == 200
    assert authz(world, token, proxy="billing").status_code == 403


def test_revocation_takes_effect_at_once_on_the_cached_path(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    assert authz(world, token).status_code == 200
    revoke(world, "/credential", svc, token)
    assert authz(world, token).status_code == 401


def _edit(world, old, new):
    manifests = world.source.folder.root / "manifests.yaml"
    manifests.write_text(manifests.read_text().replace(old, new, 1))
    world.reload()


def test_disabled_credential_stops_at_once_on_the_cached_path(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    assert authz(world, token).status_code == 200
    _edit(world, "name: svc\nspec:\n", "name: svc\nspec:\n  disabled: true\n")
    assert authz(world, token).status_code == 401


def test_acl_change_takes_effect(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    _edit(
        world,
        "name: svc\nspec:\n  acl:\n  - kind: ProxyGroup\n    name: shop",
        "name: svc\nspec:\n  acl:\n  - kind: ApiProxy\n    name: billing",
    )
    assert authz(world, token).status_code == 403


def test_deleted_policy_stops_its_tokens(world):
    key = world.proxy_key("ApiProxy", "billing")
    token = issue(world, "/auth/jwt", key)["access_token"]
    _edit(world, "name: billing-jwt", "name: billing-jwt-gone")  # same target, new name: kept
    assert authz(world, token, proxy="billing").status_code == 200
    manifests = world.source.folder.root / "manifests.yaml"
    docs = manifests.read_text().split("\n---\n")
    manifests.write_text("\n---\n".join(d for d in docs if "billing-jwt-gone" not in d))
    world.reload()
    assert authz(world, token, proxy="billing").status_code in (401, 403)


def test_sidecar_proxy_setting(start_issuer):
    from gatekey.issuer.settings import IssuerSettings
    from tests.support.manifests import policy

    issuer = start_issuer(
        policy("p", "JWT"),
        policy("q", "JWT", "ApiProxy/billing"),
        settings=IssuerSettings(proxies=("orders",)),
    )
    key = issuer.proxy_key("ApiProxy", "orders")
    token = issue(issuer, "/auth/jwt", key)["access_token"]
    assert authz(issuer, token, proxy=None).status_code == 200
    billing = issue(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "billing"))["access_token"]
    assert authz(issuer, billing, proxy="billing").status_code == 403  # not this sidecar's
