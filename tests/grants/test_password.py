"""The password grant on the wire (RFC 6749 §4.3): pools, hashes, the user as principal."""

import pytest
from argon2 import PasswordHasher

from tests.support.manifests import policy, role, secret, user_pool


def start(start_issuer, *extra):
    return start_issuer(
        policy("p", "JWT", grantTypes=["password"], userPool={"secretName": "users"}),
        user_pool("users", {"alice": "wonderland"}),
        role("client-role", "ApiProxy/orders", scope="machine"),
        role("alice-role", "User/alice", scope="human", pool="users"),
        role("elsewhere", "User/alice", scope="other", pool="another-pool"),
        *extra,
    )


def login(issuer, username="alice", password="wonderland", **more):
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    body = {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": "-",
        "username": username,
        "password": password,
    }
    return issuer.post("/auth/jwt", body | more)


def test_roles_of_the_user_not_of_the_client(start_issuer):
    issuer = start(start_issuer)
    response = login(issuer, scope="human")
    assert response.status_code == 200, response.text
    assert login(issuer, scope="machine").json()["error"] == "invalid_scope"
    assert login(issuer, scope="other").json()["error"] == "invalid_scope"


def test_real_secret_is_accepted_too_other_values_are_not(start_issuer):
    issuer = start(start_issuer)
    _, real = issuer.proxy_key("ApiProxy", "orders")
    assert login(issuer, client_secret=real).status_code == 200
    bad = login(issuer, client_secret="guess")
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("username", "password"), [("alice", "nope"), ("mallory", "x")])
def test_bad_user_or_password_is_invalid_grant(start_issuer, username, password):
    issuer = start(start_issuer)
    response = login(issuer, username, password)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_username_is_invalid_request(start_issuer):
    issuer = start(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/jwt",
        {"grant_type": "password", "client_id": client_id, "client_secret": "-", "password": "x"},
    )
    assert response.json()["error"] == "invalid_request"


def test_argon2id_hashes(start_issuer):
    hashed = PasswordHasher(time_cost=1, memory_cost=1024).hash("lookingglass")
    issuer = start_issuer(
        policy("p", "OAuth2", grantTypes=["password"], userPool={"secretName": "users"}),
        secret("users", htpasswd=f"# comment\ncarol:{hashed}\n"),
    )
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "carol",
            "password": "lookingglass",
        },
    )
    assert response.status_code == 200, response.text


def test_bcrypt_2y_prefix(start_issuer):
    import bcrypt

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    issuer = start_issuer(
        policy("p", "JWT", grantTypes=["password"], userPool={"secretName": "users"}),
        secret("users", htpasswd=f"dave:{hashed}\n"),
    )
    assert login(issuer, "dave", "pw").status_code == 200


def test_missing_pool_secret_refuses_every_user(start_issuer):
    issuer = start_issuer(
        policy(
            "p",
            "JWT",
            grantTypes=["password", "client_credentials"],
            userPool={"secretName": "absent"},
        ),
    )
    assert login(issuer).json()["error"] == "invalid_grant"
    client_id, real = issuer.proxy_key("ApiProxy", "orders")
    still = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": real},
    )
    assert still.status_code == 200
