"""The refresh_token grant on the wire (RFC 6749 §6, RFC 9700 §4.14)."""

import pytest

from tests.support.manifests import policy, role, user_pool

ENDPOINT = {"JWT": "/auth/jwt", "OAuth2": "/auth/token"}


def start(start_issuer, type_="OAuth2", refresh=None, **token):
    return start_issuer(
        policy(
            "p",
            type_,
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={
                "ttl": "10m",
                "refresh": {"enabled": True, "ttl": "1h", **(refresh or {})},
                **token,
            },
        ),
        user_pool("users", {"alice": "wonderland"}),
        role("read", "User/alice", "ApiProxy/orders", scope="read"),
        role("write", "User/alice", "ApiProxy/orders", scope="write"),
    )


def obtain(issuer, type_="OAuth2", **more):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = issuer.post(ENDPOINT[type_], body | more)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(issuer, token, type_="OAuth2", **more):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": secret,
        "refresh_token": token,
    }
    return issuer.post(ENDPOINT[type_], body | more)


def test_rotates_on_every_use_and_the_old_one_dies(start_issuer):
    issuer = start(start_issuer)
    first = obtain(issuer)
    second = refresh(issuer, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert refresh(issuer, second.json()["refresh_token"]).status_code == 200


def test_reuse_of_a_rotated_token_revokes_the_chain(start_issuer):
    issuer = start(start_issuer)
    first = obtain(issuer)
    second = refresh(issuer, first["refresh_token"]).json()
    replay = refresh(issuer, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token died with the chain.
    after = refresh(issuer, second["refresh_token"])
    assert after.json()["error"] == "invalid_grant"


def test_window_counts_from_the_chain_first_issue(start_issuer):
    issuer = start(start_issuer)
    token = obtain(issuer)["refresh_token"]
    issuer.clock.advance(50 * 60)
    token = refresh(issuer, token).json()["refresh_token"]
    issuer.clock.advance(11 * 60)  # 61 minutes after the first issue: past the 1h window
    late = refresh(issuer, token)
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"


def test_max_count_limits_refreshes_per_chain(start_issuer):
    issuer = start(start_issuer, refresh={"maxCount": 2})
    token = obtain(issuer)["refresh_token"]
    for _ in range(2):
        response = refresh(issuer, token)
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
    third = refresh(issuer, token)
    assert third.status_code == 400
    assert third.json()["error"] == "invalid_grant"


def test_scope_may_narrow_never_widen(start_issuer):
    issuer = start(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    first = issuer.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
            "scope": "read",
        },
    ).json()
    widened = refresh(issuer, first["refresh_token"], scope="read write")
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"
    kept = refresh(issuer, first["refresh_token"]).json()
    assert kept["scope"] == "read"


def test_scope_narrowing_keeps_only_what_is_asked(start_issuer):
    issuer = start(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    first = issuer.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
            "scope": "read write",
        },
    ).json()
    assert first["scope"] == "read write"
    narrowed = refresh(issuer, first["refresh_token"], scope="write").json()
    assert narrowed["scope"] == "write"


def test_refresh_token_of_another_client_is_invalid_grant(start_issuer):
    issuer = start_issuer(
        policy("a", "OAuth2", "ApiProxy/a", token={"refresh": {"enabled": True}}),
        policy("b", "OAuth2", "ApiProxy/b", token={"refresh": {"enabled": True}}),
    )
    a_id, a_secret = issuer.proxy_key("ApiProxy", "a")
    b_id, b_secret = issuer.proxy_key("ApiProxy", "b")
    token = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials", "client_id": a_id, "client_secret": a_secret},
    ).json()["refresh_token"]
    stolen = issuer.post(
        "/auth/token",
        {
            "grant_type": "refresh_token",
            "client_id": b_id,
            "client_secret": b_secret,
            "refresh_token": token,
        },
    )
    assert stolen.json()["error"] == "invalid_grant"


def test_unknown_and_missing_refresh_tokens(start_issuer):
    issuer = start(start_issuer)
    assert refresh(issuer, "gkrt_nope").json()["error"] == "invalid_grant"
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    missing = issuer.post(
        "/auth/token",
        {"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret},
    )
    assert missing.json()["error"] == "invalid_request"


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_no_refresh_token_when_refresh_is_off_or_immortal(start_issuer, type_):
    issuer = start_issuer(
        policy("p", type_, token={"immortal": True, "refresh": {"enabled": True}})
    )
    body = obtain(issuer, type_)
    assert "refresh_token" not in body
    assert "expires_in" not in body
    refused = refresh(issuer, "gkrt_x", type_)
    assert refused.json()["error"] == "unauthorized_client"


def test_password_refresh_stops_when_the_user_leaves_the_pool(start_issuer):
    issuer = start(start_issuer)
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
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
    (issuer.source.folder.root / "manifests.yaml").write_text(
        (issuer.source.folder.root / "manifests.yaml").read_text().replace("alice:", "gone:")
    )
    issuer.reload()
    response = refresh(issuer, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


def test_revoke_previous_revokes_earlier_tokens_of_the_principal(start_issuer):
    issuer = start(start_issuer, revokePrevious=True)
    first = obtain(issuer)
    obtain(issuer)
    response = refresh(issuer, first["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def authz(issuer, token):
    headers = {"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": "orders"}
    return issuer.get("/authz", headers=headers).status_code


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_reuse_kills_every_access_token_of_the_chain(start_issuer, type_):
    issuer = start(start_issuer, type_)
    first = obtain(issuer, type_)
    second = refresh(issuer, first["refresh_token"], type_).json()
    assert [authz(issuer, t["access_token"]) for t in (first, second)] == [200, 200]
    assert refresh(issuer, first["refresh_token"], type_).json()["error"] == "invalid_grant"
    # JWTs included: their jti was recorded against the chain and is now denied.
    assert [authz(issuer, t["access_token"]) for t in (first, second)] == [401, 401]


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_revoking_a_refresh_token_kills_the_access_tokens_of_its_chain(start_issuer, type_):
    issuer = start(start_issuer, type_)
    first = obtain(issuer, type_)
    second = refresh(issuer, first["refresh_token"], type_).json()
    other = obtain(issuer, type_)  # another chain of the same client
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    revoked = issuer.post(
        "/auth/revoke",
        {"token": second["refresh_token"], "client_id": client_id, "client_secret": secret},
    )
    assert revoked.status_code == 200
    assert [authz(issuer, t["access_token"]) for t in (first, second, other)] == [401, 401, 200]
    assert refresh(issuer, second["refresh_token"], type_).json()["error"] == "invalid_grant"
