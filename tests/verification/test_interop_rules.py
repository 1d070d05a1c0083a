"""What common OAuth clients rely on (issue: works with every client out of the box).

RFC 8414 §3.1 metadata location, a challenge on every 401 (RFC 9110 §15.5.2), RFC 6750
§3 answers for Bearer tokens, no empty ``scope`` where the seed does not ask for one,
and requests that are refused with a reason rather than half read.
"""

import jwt as pyjwt
import pytest

from gatekey.issuer.settings import IssuerSettings
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.verification.conftest import issue
from tests.verification.test_authz import authz

BASES = ["/auth", "/credential"]


@pytest.mark.parametrize("base", BASES)
def test_metadata_at_the_rfc_8414_location_and_the_appended_one(world, base):
    inserted = world.get(f"/.well-known/oauth-authorization-server{base}")
    appended = world.get(f"{base}/.well-known/oauth-authorization-server")
    assert inserted.status_code == appended.status_code == 200
    assert inserted.json() == appended.json()
    metadata = inserted.json()
    assert metadata["issuer"] == world.runtime.settings.issuer_url.rstrip("/") + base
    jwks_path = metadata["jwks_uri"].removeprefix(world.runtime.settings.issuer_url.rstrip("/"))
    keys = world.get(jwks_path).json()["keys"]
    assert keys
    assert all("kid" in k for k in keys)


@pytest.mark.parametrize("path", ["/auth/introspect", "/auth/revoke", "/auth/jwt"])
@pytest.mark.parametrize("how", ["body", "none"])
def test_every_401_carries_a_challenge(world, path, how):
    key = world.proxy_key("ApiProxy", "orders")
    form = {"token": "gkat_x", "grant_type": "client_credentials"}
    if how == "body":
        form |= {"client_id": key[0], "client_secret": "wrong"}
    response = world.post(path, form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="gatekey"'


def test_a_token_not_for_this_proxy_is_insufficient_scope(world):
    key = world.proxy_key("ApiProxy", "billing")
    token = issue(world, "/auth/jwt", key)["access_token"]
    response = authz(world, token, proxy="orders")
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="gatekey", error="insufficient_scope"')


@pytest.mark.parametrize("proxy", [None, "nobody"])
def test_no_or_unknown_proxy_is_a_bare_403(world, proxy):
    """Without X-Gatekey-Proxy (and no --proxy flag) or for an unknown proxy: no token
    could help, so no challenge."""
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    response = authz(world, token, proxy=proxy)
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers


def test_an_empty_scope_stays_in_the_token_response_but_not_elsewhere(world):
    """The seed: "If no role is defined, scope is returned empty". Introspection
    (RFC 7662 §2.2) and the JWT (RFC 9068 §2.2.3) leave an empty scope out."""
    key = world.proxy_key("ApiProxy", "billing")  # holds no role
    body = issue(world, "/auth/jwt", key)
    assert body["scope"] == ""
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert "scope" not in claims
    introspected = world.post(
        "/auth/introspect",
        {"token": body["access_token"], "client_id": key[0], "client_secret": key[1]},
    ).json()
    assert introspected["active"] is True
    assert "scope" not in introspected


def test_a_granted_scope_is_introspected(world):
    key = world.proxy_key("ApiProxy", "orders")
    body = issue(world, "/auth/token", key, scope="orders.read")
    introspected = world.post(
        "/auth/introspect",
        {"token": body["access_token"], "client_id": key[0], "client_secret": key[1]},
    ).json()
    assert introspected["scope"] == "orders.read"


def test_omit_empty_scope_is_an_issuer_wide_choice(start_issuer):
    issuer = start_issuer(
        policy("orders-jwt", "JWT"), settings=IssuerSettings(omit_empty_scope=True)
    )
    body = issue(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders"))
    assert "scope" not in body
    assert body["token_type"] == "Bearer"


def test_a_policy_can_leave_scope_out_altogether(start_issuer):
    issuer = start_issuer(
        policy("orders-jwt", "JWT", tokenManagement={"response": {"include": {"scope": False}}})
    )
    body = issue(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders"))
    assert "scope" not in body


def test_url_parameters_on_post_are_refused_with_the_reason(world):
    key = world.proxy_key("ApiProxy", "orders")
    response = world.session.post(
        world.url + "/auth/jwt",
        params={"grant_type": "client_credentials", "client_id": key[0], "client_secret": key[1]},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "URL parameters are not accepted" in response.json()["error_description"]


def test_a_flood_of_parameters_is_refused(world):
    many = "&".join(["a=1"] * 10_000)  # 40 KB: under the body limit
    response = world.session.post(
        world.url + "/auth/jwt",
        data="grant_type=client_credentials&" + many,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "more than 64 parameters",
    }


def test_a_few_unknown_parameters_are_still_fine(world):
    key = world.proxy_key("ApiProxy", "orders")
    extra = {f"x{i}": "v" for i in range(20)}
    issue(world, "/auth/jwt", key, **extra)


def test_regenerate_for_a_target_no_longer_reached_is_insufficient_scope(start_issuer):
    shop = policy("shop-jwt", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"])
    mall = policy("mall-jwt", "JWT", "ProxyGroup/mall", management="ACL", proxies=["billing"])
    issuer = start_issuer(shop, mall, credential("svc", ["ProxyGroup/shop"]))
    svc = issuer.credential("svc")
    old = issue(issuer, "/credential/jwt", svc)["access_token"]
    write_manifests(issuer.source.folder.root, shop, mall, credential("svc", ["ProxyGroup/mall"]))
    issuer.reload()
    response = issuer.post(
        "/credential/jwt/regenerate",
        {"client_id": svc[0], "client_secret": svc[1]},
        headers={"Authorization": "Bearer " + old},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="gatekey", error="insufficient_scope"')
