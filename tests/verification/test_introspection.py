"""RFC 7662 introspection at /auth/introspect and /credential/introspect."""

import pytest

from tests.verification.conftest import issue


def introspect(issuer, base, client, token, **more):
    client_id, secret = client
    response = issuer.post(
        f"{base}/introspect",
        {"token": token, "client_id": client_id, "client_secret": secret, **more},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("path", ["/auth/jwt", "/auth/token"])
def test_active_policy_mode_token(world, path):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, path, key, scope="orders.read")["access_token"]
    body = introspect(world, "/auth", key, token)
    assert body["active"] is True
    assert body["client_id"] == key[0]
    assert body["sub"] == key[0]
    assert body["scope"] == "orders.read"
    assert body["aud"] == ["ApiProxy/orders"]
    assert body["token_type"] == "Bearer"
    assert body["iss"].endswith("/auth")
    assert body["exp"] - body["iat"] == 3600


def test_password_token_has_username(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = world.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": key[0],
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
        },
    ).json()["access_token"]
    body = introspect(world, "/auth", key, token)
    assert body["username"] == "alice"
    assert body["sub"] == "alice"


@pytest.mark.parametrize("path", ["/credential/jwt", "/credential/token"])
def test_active_acl_mode_token(world, path):
    svc = world.credential("svc")
    token = issue(world, path, svc)["access_token"]
    body = introspect(world, "/credential", svc, token)
    assert body["active"] is True
    assert body["aud"] == ["ProxyGroup/shop", "ApiProxy/orders", "ApiProxy/payments"]


def test_inactive_cases(world):
    key = world.proxy_key("ApiProxy", "orders")
    jwt = issue(world, "/auth/jwt", key)["access_token"]
    tampered = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    assert introspect(world, "/auth", key, tampered) == {"active": False}
    assert introspect(world, "/auth", key, "gkat_unknown") == {"active": False}
    assert introspect(world, "/auth", key, "not-a-token") == {"active": False}
    world.clock.advance(3601)
    assert introspect(world, "/auth", key, jwt) == {"active": False}


def test_token_of_another_client_is_inactive(world):
    svc, other = world.credential("svc"), world.credential("other")
    token = issue(world, "/credential/token", svc)["access_token"]
    assert introspect(world, "/credential", other, token) == {"active": False}


def test_refresh_token_with_hint(world):
    svc = world.credential("svc")
    refresh = issue(world, "/credential/token", svc)["refresh_token"]
    body = introspect(world, "/credential", svc, refresh, token_type_hint="refresh_token")
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"


def test_introspection_needs_client_authentication(world):
    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    response = world.post(
        "/auth/introspect", {"token": token, "client_id": key[0], "client_secret": "-"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_disabled_credential_tokens_go_inactive(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/jwt", svc)["access_token"]
    manifests = world.source.folder.root / "manifests.yaml"
    text = manifests.read_text()
    manifests.write_text(text.replace("name: svc\nspec:\n", "name: svc\nspec:\n  disabled: true\n"))
    world.reload()
    other = world.credential("other")
    assert introspect(world, "/credential", other, token) == {"active": False}
