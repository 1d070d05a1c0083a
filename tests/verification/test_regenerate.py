"""/auth/jwt/regenerate and /credential/jwt/regenerate."""

from tests.support.tokens import verified_claims
from tests.verification.conftest import issue


def regenerate(issuer, base, client, token):
    client_id, secret = client
    return issuer.post(
        f"{base}/jwt/regenerate",
        {"client_id": client_id, "client_secret": secret},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_new_jti_fresh_times_same_subject_and_scope(world):
    key = world.proxy_key("ApiProxy", "orders")
    old = issue(world, "/auth/jwt", key, scope="orders.read")["access_token"]
    world.clock.advance(60)
    response = regenerate(world, "/auth", key, old)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    new = response.json()["access_token"]
    before, after = verified_claims(world, old), verified_claims(world, new)
    assert after["jti"] != before["jti"]
    assert after["iat"] == before["iat"] + 60
    assert after["exp"] - after["iat"] == 3600
    assert (after["sub"], after["scope"], after["aud"]) == (
        before["sub"],
        before["scope"],
        before["aud"],
    )


def test_the_old_token_is_denied_afterwards(world):
    svc = world.credential("svc")
    old = issue(world, "/credential/jwt", svc)["access_token"]
    assert regenerate(world, "/credential", svc, old).status_code == 200
    again = regenerate(world, "/credential", svc, old)
    assert_invalid_token(again)


def assert_invalid_token(response):
    """RFC 6750 §3.1: 401 invalid_token, with the same code in the Bearer challenge."""
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


def test_another_clients_token_is_refused(world):
    svc, other = world.credential("svc"), world.credential("other")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    refused = regenerate(world, "/credential", other, token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_expired_token_is_refused(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    world.clock.advance(3601)
    assert_invalid_token(regenerate(world, "/auth", key, token))


def test_dash_secret_is_not_enough(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    response = regenerate(world, "/auth", (key[0], "-"), token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_missing_bearer_is_a_bare_bearer_challenge(world):
    """RFC 6750 §3.1: a request without a token gets a challenge without an error code."""
    key = world.proxy_key("ApiProxy", "orders")
    response = world.post("/auth/jwt/regenerate", {"client_id": key[0], "client_secret": key[1]})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatekey"'
    assert response.json()["error"] == "invalid_request"
