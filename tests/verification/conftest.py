"""A world with both modes and both token types, for the verification side."""

from datetime import UTC, datetime

import pytest

from tests.support.manifests import credential, policy, role, user_pool


@pytest.fixture
def world(start_issuer):
    return start_issuer(
        policy(
            "orders-jwt",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy(
            "orders-oauth2",
            "OAuth2",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy(
            "shop-jwt", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders", "payments"]
        ),
        policy(
            "shop-oauth2",
            "OAuth2",
            "ProxyGroup/shop",
            management="ACL",
            proxies=["orders", "payments"],
        ),
        policy("billing-jwt", "JWT", "ApiProxy/billing"),
        credential("svc", ["ProxyGroup/shop"], token={"refresh": {"enabled": True}}),
        credential("other", ["ProxyGroup/shop"]),
        user_pool("users", {"alice": "wonderland"}),
        role("read", "User/alice", "ApiProxy/orders", "Credential/svc", scope="orders.read"),
    )


def issue(issuer, path, client, **more):
    client_id, secret = client
    response = issuer.post(
        path,
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **more,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def iso(posix: float) -> str:
    """POSIX seconds as the RFC 3339 text an ``expiresAt`` holds."""
    return datetime.fromtimestamp(posix, UTC).isoformat()


def orders_entry_ending(start_issuer, ends: float):
    """An issuer whose Credential ``svc`` reaches ``orders`` until ``ends`` (POSIX
    seconds, its first ACL entry's ``expiresAt``) and ``billing`` for good."""
    svc = credential("svc", ["ApiProxy/orders", "ApiProxy/billing"])
    svc["spec"]["acl"][0]["expiresAt"] = iso(ends)
    return start_issuer(
        policy("orders-acl", "JWT", management="ACL"),
        policy("billing-acl", "JWT", "ApiProxy/billing", management="ACL"),
        svc,
    )
