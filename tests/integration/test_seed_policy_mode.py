"""Seed §1, "Manage From This Policy": every row of its tables, JWT and OAuth2.

The client is the proxy key of the policy's target ("Show Proxy Key"), for an
ApiProxy, a ProxyGroup and a PolicyGroup. Password grants send ``client_secret``
``-``; JWT refresh sends ``-``, OAuth2 refresh the real secret.
"""

import pytest

from tests.support.manifests import policy, role, user_pool
from tests.support.tokens import verified_claims

TARGETS = ["ApiProxy/orders", "ProxyGroup/shop", "PolicyGroup/partners"]
MEMBERS = {"ProxyGroup/shop": ["orders", "payments"], "PolicyGroup/partners": ["orders"]}
ENDPOINT = {"JWT": "/auth/jwt", "OAuth2": "/auth/token"}


def world(type_: str, target: str, **spec):
    return (
        policy(
            "p",
            type_,
            target,
            proxies=MEMBERS.get(target),
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            allowUrlParameters=True,
            token={"ttl": "10m", "refresh": {"enabled": True}},
            **spec,
        ),
        user_pool("users", {"alice": "wonderland"}),
        role("reader", "User/alice", f"{target}", scope="orders.read"),
    )


def check_access_token(issuer, type_, token, *, sub, audience):
    if type_ == "JWT":
        claims = verified_claims(issuer, token)
        assert claims["sub"] == sub
        assert claims["aud"] == audience
        assert claims["iss"].endswith("/auth")
        assert claims["exp"] - claims["iat"] == 600
    else:
        assert token.startswith("gkat_")
        assert len(token) > 40


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_client_credentials_row(start_issuer, type_, target):
    issuer = start_issuer(*world(type_, target))
    kind, _, name = target.partition("/")
    client_id, secret = issuer.proxy_key(kind, name)
    response = issuer.post(
        ENDPOINT[type_],
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    audience = [target] + [f"ApiProxy/{m}" for m in MEMBERS.get(target, [])]
    check_access_token(issuer, type_, body["access_token"], sub=client_id, audience=audience)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_password_row_with_dash_secret(start_issuer, type_, target):
    issuer = start_issuer(*world(type_, target))
    kind, _, name = target.partition("/")
    client_id, _ = issuer.proxy_key(kind, name)
    response = issuer.post(
        ENDPOINT[type_],
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
        },
    )
    assert response.status_code == 200, response.text
    audience = [target] + [f"ApiProxy/{m}" for m in MEMBERS.get(target, [])]
    check_access_token(
        issuer, type_, response.json()["access_token"], sub="alice", audience=audience
    )


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_password_wrong_password_is_invalid_grant(start_issuer, type_):
    issuer = start_issuer(*world(type_, "ApiProxy/orders"))
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        ENDPOINT[type_],
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "nope",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_dash_secret_does_not_work_for_client_credentials(start_issuer, type_):
    issuer = start_issuer(*world(type_, "ApiProxy/orders"))
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        ENDPOINT[type_],
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "-"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_jwt_refresh_row_takes_dash(start_issuer):
    issuer = start_issuer(*world("JWT", "ApiProxy/orders"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    first = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()
    assert first["refresh_token"].startswith("gkrt_")
    refreshed = issuer.post(
        "/auth/jwt",
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": "-",
            "refresh_token": first["refresh_token"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert verified_claims(issuer, body["access_token"])["sub"] == client_id


def test_oauth2_refresh_row_needs_the_real_secret(start_issuer):
    issuer = start_issuer(*world("OAuth2", "ApiProxy/orders"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    first = issuer.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
        },
    ).json()
    with_dash = issuer.post(
        "/auth/token",
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": "-",
            "refresh_token": first["refresh_token"],
        },
    )
    assert with_dash.status_code == 401
    assert with_dash.json()["error"] == "invalid_client"
    refreshed = issuer.post(
        "/auth/token",
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": first["refresh_token"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["access_token"].startswith("gkat_")


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_url_parameters_with_get(start_issuer, type_):
    issuer = start_issuer(*world(type_, "ApiProxy/orders"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.get(
        ENDPOINT[type_],
        params={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_get_without_allow_url_parameters_is_405(start_issuer, type_):
    issuer = start_issuer(policy("p", type_))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.get(
        ENDPOINT[type_],
        params={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
@pytest.mark.parametrize("grant", ["client_credentials", "password"])
def test_scope_row(start_issuer, type_, grant):
    """Seed §1.3: ``scope`` names a role; it comes back in the response (and the JWT)."""
    issuer = start_issuer(*world(type_, "ApiProxy/orders"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    form = {"grant_type": grant, "client_id": client_id, "scope": "orders.read"}
    if grant == "password":
        form |= {"client_secret": "-", "username": "alice", "password": "wonderland"}
    else:
        form["client_secret"] = secret
    response = issuer.post(ENDPOINT[type_], form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "orders.read"
    if type_ == "JWT":
        assert verified_claims(issuer, body["access_token"])["scope"] == "orders.read"


def test_no_role_gives_empty_scope(start_issuer):
    """Seed: "If no role is defined, scope is returned empty"."""
    issuer = start_issuer(policy("p", "JWT"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()
    assert body["scope"] == ""
    assert "scope" not in verified_claims(issuer, body["access_token"])


def test_policy_without_password_grant_refuses_it(start_issuer):
    issuer = start_issuer(policy("p", "JWT"))
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/jwt",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "a",
            "password": "b",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
