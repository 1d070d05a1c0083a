"""Real OAuth clients nobody here wrote: authlib, requests-oauthlib, PyJWT's PyJWKClient."""

import jwt as pyjwt
import pytest
from authlib.integrations.requests_client import OAuth2Session
from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.support.manifests import credential, policy, role, user_pool


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    """oauthlib refuses plain HTTP unless told the transport is trusted (loopback here)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def world(start_issuer):
    return start_issuer(
        policy(
            "p",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy("shop", "OAuth2", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        credential("svc", ["ProxyGroup/shop"], token={"refresh": {"enabled": True}}),
        user_pool("users", {"alice": "wonderland"}),
        role("read", "User/alice", "ApiProxy/orders", "Credential/svc", scope="orders.read"),
    )


def test_authlib_client_credentials_with_basic(start_issuer):
    issuer = world(start_issuer)
    client_id, secret = issuer.credential("svc")
    session = OAuth2Session(
        client_id, secret, scope="orders.read", token_endpoint_auth_method="client_secret_basic"
    )
    token = session.fetch_token(issuer.url + "/credential/token", grant_type="client_credentials")
    assert token["access_token"].startswith("gkat_")
    assert token["scope"] == "orders.read"


def test_authlib_password_then_refresh(start_issuer):
    issuer = world(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    session = OAuth2Session(client_id, "-", token_endpoint_auth_method="client_secret_post")
    token = session.fetch_token(
        issuer.url + "/auth/jwt", username="alice", password="wonderland", scope="orders.read"
    )
    assert token["scope"] == "orders.read"
    refreshed = session.refresh_token(
        issuer.url + "/auth/jwt", refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["scope"] == "orders.read"


def test_requests_oauthlib_backend_application_client(start_issuer):
    issuer = world(start_issuer)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    session = OAuthlibSession(client=BackendApplicationClient(client_id=client_id))
    token = session.fetch_token(issuer.url + "/auth/jwt", client_id=client_id, client_secret=secret)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600


def test_requests_oauthlib_legacy_application_client_password(start_issuer):
    issuer = world(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    session = OAuthlibSession(client=LegacyApplicationClient(client_id=client_id))
    token = session.fetch_token(
        issuer.url + "/auth/jwt",
        username="alice",
        password="wonderland",
        client_id=client_id,
        client_secret="-",
        include_client_id=True,
    )
    assert token["access_token"]


def test_pyjwt_jwk_client_verifies_against_the_jwks_endpoint(start_issuer):
    issuer = world(start_issuer)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    token = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    jwks = pyjwt.PyJWKClient(issuer.url + "/auth/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience="ApiProxy/orders",
        issuer="http://127.0.0.1:8080/auth",
    )
    assert claims["client_id"] == client_id
