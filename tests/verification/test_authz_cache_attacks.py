"""More attacks on the remembered ``/authz`` passes, over HTTP against served issuers:
each makes ``/authz`` remember a pass, then changes what it depends on (a refresh chain
revoked or replayed, here or on another replica; the route asked about; a second
``Authorization`` header) and expects the whole check's answer."""

import json
import socket
from contextlib import ExitStack

import pytest
import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import eventually, gatekey
from tests.support.workers import issuers
from tests.verification.test_authz import authz
from tests.verification.test_authz_cache import _remembered
from tests.verification.test_regenerate import regenerate
from tests.verification.test_revocation import revoke

ROUTES = {
    "default": "Deny",
    "rules": [
        {"path": {"prefix": "/admin"}, "action": "Deny"},
        {"path": {"glob": "/orders/**"}, "methods": ["GET", "HEAD"]},
    ],
}


@pytest.fixture
def chains(start_issuer):
    return start_issuer(policy("orders-jwt", "JWT", token={"refresh": {"enabled": True}}))


def _grant(issuer, client, **form):
    client_id, secret = client
    data = {"grant_type": "client_credentials", **form}
    response = issuer.post("/auth/jwt", {**data, "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    return response.json()


def test_revoking_the_refresh_token_stops_the_chain_s_remembered_jwts(chains):
    key = chains.proxy_key("ApiProxy", "orders")
    first = _grant(chains, key)
    second = _grant(chains, key, grant_type="refresh_token", refresh_token=first["refresh_token"])
    for answer in (first, second):
        _remembered(chains, answer["access_token"])
    assert revoke(chains, "/auth", key, second["refresh_token"]).status_code == 200
    for answer in (first, second):
        refused = authz(chains, answer["access_token"])
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_a_replayed_refresh_token_stops_the_chain_s_remembered_jwts(chains):
    key = chains.proxy_key("ApiProxy", "orders")
    first = _grant(chains, key)
    second = _grant(chains, key, grant_type="refresh_token", refresh_token=first["refresh_token"])
    _remembered(chains, second["access_token"])
    client_id, secret = key
    replay = chains.post(
        "/auth/jwt",
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert replay.status_code == 400
    assert authz(chains, second["access_token"]).status_code == 401


def test_a_second_authorization_header_is_not_ignored(chains):
    """RFC 6750 §3.1: a request that repeats the token (two ``Authorization`` fields) is
    ``invalid_request``. nginx's ``auth_request`` passes both to ``/authz`` and both on to
    the API: the one the issuer looked at need not be the one the API reads."""
    key = chains.proxy_key("ApiProxy", "orders")
    token = _grant(chains, key)["access_token"]
    _remembered(chains, token)
    for second in (f"Bearer {token}x", "Bearer another"):
        status = _with_two_authorizations(chains, f"Bearer {token}", second)
        assert status in (400, 401), (second, status)


def _with_two_authorizations(issuer, first: str, second: str) -> int:
    """The status of ``/authz`` asked with two ``Authorization`` fields (a raw socket:
    HTTP libraries merge repeated fields)."""
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            (
                "GET /authz HTTP/1.1\r\nHost: x\r\nX-Gatekey-Proxy: orders\r\n"
                f"Authorization: {first}\r\nAuthorization: {second}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return int(received.split()[1])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/authz/admin"),
        ("GET", "/authz/ADMIN"),
        ("GET", "/authz//admin"),
        ("GET", "/authz/%61dmin"),
        ("GET", "/authz/orders/../admin"),
        ("DELETE", "/authz/orders/7"),
        ("POST", "/authz/orders/7"),
        ("GET", "/authz/elsewhere"),
        ("GET", "/authz"),
    ],
)
def test_a_pass_remembered_for_one_route_never_opens_another(start_issuer, method, path):
    """Envoy's form: the method is the request's, the path is appended to ``/authz``."""
    issuer = start_issuer(policy("orders-jwt", "JWT", routes=ROUTES))
    token = _grant(issuer, issuer.proxy_key("ApiProxy", "orders"))["access_token"]
    _remembered(issuer, token, path="/authz/orders/7")
    assert authz(issuer, token, method="HEAD", path="/authz/orders/7").status_code == 200
    refused = authz(issuer, token, method=method, path=path)
    assert refused.status_code == 403, refused.headers
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


@pytest.mark.parametrize("store", ["sqlite-two-serves", "redis"])
def test_a_refresh_replay_on_one_replica_stops_a_pass_remembered_on_another(tmp_path, store):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("orders-jwt", "JWT", token={"refresh": {"enabled": True}}))
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    with ExitStack() as stack:
        a, b = issuers(stack, store, tmp_path, manifests, state)
        form = {"grant_type": "client_credentials", **key}
        first = requests.post(a + "/auth/jwt", data=form, timeout=10).json()
        refresh = {**form, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = requests.post(a + "/auth/jwt", data=refresh, timeout=10).json()
        headers = {"Authorization": f"Bearer {second['access_token']}", "X-Gatekey-Proxy": "orders"}

        def on_b() -> int:
            return requests.get(b + "/authz", headers=headers, timeout=5).status_code

        assert [on_b() for _ in range(3)] == [200, 200, 200]  # remembered on B
        assert requests.post(a + "/auth/jwt", data=refresh, timeout=10).status_code == 400
        eventually(lambda: on_b() == 401, timeout=2.0)


def test_a_removed_signing_key_stops_the_tokens_it_signed_even_seen_before(chains):
    """A key taken out of the key set (a leaked key, deleted from the state dir; the next
    one is generated) no longer verifies anything: a token it signed is refused like one
    signed by a stranger, whether or not ``/authz`` saw it before. Both were minted under
    the same key; only one of them was checked while the key was there."""
    key = chains.proxy_key("ApiProxy", "orders")
    seen, unseen = (_grant(chains, key)["access_token"] for _ in range(2))
    _remembered(chains, seen)
    old = chains.get("/auth/.well-known/jwks.json").json()["keys"]
    (chains.source.state.root / "secrets" / "default" / "gatekey-signing-keys.json").unlink()
    chains.reload()
    assert chains.get("/auth/.well-known/jwks.json").json()["keys"] != old
    refused = authz(chains, unseen)
    assert refused.status_code == 401
    assert "unknown signing key" in refused.headers["WWW-Authenticate"]
    assert authz(chains, seen).status_code == 401, "a verification remembered past its key"


def test_a_regenerated_jwt_s_predecessor_stops_passing_though_remembered(chains):
    key = chains.proxy_key("ApiProxy", "orders")
    old = _grant(chains, key)["access_token"]
    _remembered(chains, old)
    answer = regenerate(chains, "/auth", key, old)
    assert answer.status_code == 200, answer.text
    assert authz(chains, old).status_code == 401
    _remembered(chains, answer.json()["access_token"])


def test_a_policy_removed_stops_its_remembered_tokens(start_issuer):
    """The token's client (the target's proxy key) is gone with its only policy; a token
    of it must not pass, whether the proxy is still named by another policy or not."""
    billing = policy("billing-jwt", "JWT", "ApiProxy/billing")
    group = policy("shop-jwt", "OAuth2", "ProxyGroup/shop", proxies=["orders"])
    issuer = start_issuer(policy("orders-jwt", "JWT"), billing, group)
    token = _grant(issuer, issuer.proxy_key("ApiProxy", "orders"))["access_token"]
    _remembered(issuer, token)
    write_manifests(issuer.source.folder.root, billing, group)
    issuer.reload()
    refused = authz(issuer, token)
    assert refused.status_code == 401, refused.headers
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
