"""Seed §2, "Manage From ACL": each Credential is a client, JWT and OAuth2.

``client_id``/``client_secret`` are the Credential's for every grant, refresh
included; token settings come from the Credential; the audience is the ACL's
targets that have an ACL-mode policy of the endpoint's type.
"""

from datetime import UTC, datetime, timedelta

import pytest

from gatekey.issuer.settings import IssuerSettings
from gatekey.operator.model import TokenManagement
from tests.support.manifests import credential, policy, role, user_pool
from tests.support.tokens import verified_claims

ENDPOINT = {"JWT": "/credential/jwt", "OAuth2": "/credential/token"}
SHOP = ["ProxyGroup/shop", "ApiProxy/orders", "ApiProxy/payments"]


def world(type_: str, *extra, grant_types=("client_credentials", "password"), **cred_spec):
    return (
        policy(
            "shop",
            type_,
            "ProxyGroup/shop",
            management="ACL",
            proxies=["orders", "payments"],
            userPool={"secretName": "users"},
        ),
        credential(
            "billing",
            ["ProxyGroup/shop"],
            token={"grantTypes": list(grant_types), "ttl": "5m", "refresh": {"enabled": True}},
            **cred_spec,
        ),
        user_pool("users", {"alice": "wonderland"}),
        role("reader", "User/alice", "Credential/billing", scope="orders.read"),
        *extra,
    )


def form(issuer, grant, **more):
    client_id, secret = issuer.credential("billing")
    return {"grant_type": grant, "client_id": client_id, "client_secret": secret, **more}


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_client_credentials_row(start_issuer, type_):
    issuer = start_issuer(*world(type_))
    response = issuer.post(ENDPOINT[type_], form(issuer, "client_credentials"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 300
    if type_ == "JWT":
        claims = verified_claims(issuer, body["access_token"], "/credential")
        client_id, _ = issuer.credential("billing")
        assert claims["sub"] == claims["client_id"] == client_id
        assert claims["aud"] == SHOP
        assert claims["iss"].endswith("/credential")
    else:
        assert body["access_token"].startswith("gkat_")


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_password_row_uses_the_credential_secret(start_issuer, type_):
    issuer = start_issuer(*world(type_))
    response = issuer.post(
        ENDPOINT[type_],
        form(issuer, "password", username="alice", password="wonderland", scope="orders.read"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "orders.read"
    dash = form(issuer, "password", username="alice", password="wonderland") | {
        "client_secret": "-"
    }
    refused = issuer.post(ENDPOINT[type_], dash)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize("type_", ["JWT", "OAuth2"])
def test_refresh_row_uses_the_credential_secret(start_issuer, type_):
    issuer = start_issuer(*world(type_))
    first = issuer.post(ENDPOINT[type_], form(issuer, "client_credentials")).json()
    refreshed = issuer.post(
        ENDPOINT[type_], form(issuer, "refresh_token", refresh_token=first["refresh_token"])
    )
    assert refreshed.status_code == 200, refreshed.text
    again = issuer.post(
        ENDPOINT[type_],
        form(issuer, "refresh_token", refresh_token=refreshed.json()["refresh_token"]),
    )
    assert again.status_code == 200, again.text


def test_grant_not_in_token_settings_is_unauthorized_client(start_issuer):
    issuer = start_issuer(*world("JWT", grant_types=("client_credentials",)))
    response = issuer.post(
        "/credential/jwt", form(issuer, "password", username="alice", password="wonderland")
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_disabled_credential_is_invalid_client(start_issuer):
    issuer = start_issuer(*world("JWT", disabled=True))
    response = issuer.post("/credential/jwt", form(issuer, "client_credentials"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_expired_credential_is_invalid_client(start_issuer):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    issuer = start_issuer(*world("OAuth2", expiresAt=past))
    response = issuer.post("/credential/token", form(issuer, "client_credentials"))
    assert response.status_code == 401


def test_acl_entry_past_expiry_is_left_out_of_the_audience(start_issuer):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    issuer = start_issuer(
        policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        policy("solo", "JWT", "ApiProxy/billing", management="ACL"),
        {
            "apiVersion": "gatekey.io/v1alpha1",
            "kind": "Credential",
            "metadata": {"name": "billing"},
            "spec": {
                "acl": [
                    {"kind": "ApiProxy", "name": "billing", "expiresAt": past},
                    {"kind": "ProxyGroup", "name": "shop"},
                ]
            },
        },
    )
    body = issuer.post("/credential/jwt", form(issuer, "client_credentials")).json()
    assert verified_claims(issuer, body["access_token"], "/credential")["aud"] == [
        "ProxyGroup/shop",
        "ApiProxy/orders",
    ]


def test_acl_without_a_policy_of_this_type_is_refused(start_issuer):
    issuer = start_issuer(*world("JWT"))
    response = issuer.post("/credential/token", form(issuer, "client_credentials"))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_resource_narrows_the_audience_and_outside_is_invalid_target(start_issuer):
    issuer = start_issuer(
        policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        policy("solo", "JWT", "ApiProxy/billing", management="ACL"),
        credential("billing", ["ProxyGroup/shop", "ApiProxy/billing"]),
    )
    body = issuer.post(
        "/credential/jwt", form(issuer, "client_credentials", resource="ApiProxy/billing")
    ).json()
    assert verified_claims(issuer, body["access_token"], "/credential")["aud"] == [
        "ApiProxy/billing"
    ]
    outside = issuer.post(
        "/credential/jwt", form(issuer, "client_credentials", resource="ApiProxy/elsewhere")
    )
    assert outside.status_code == 400
    assert outside.json()["error"] == "invalid_target"


def test_password_audience_narrows_to_targets_whose_pool_knows_the_user(start_issuer):
    issuer = start_issuer(
        policy(
            "shop",
            "JWT",
            "ProxyGroup/shop",
            management="ACL",
            proxies=["orders"],
            userPool={"secretName": "staff"},
        ),
        policy(
            "solo", "JWT", "ApiProxy/billing", management="ACL", userPool={"secretName": "partners"}
        ),
        credential(
            "billing", ["ApiProxy/billing", "ProxyGroup/shop"], token={"grantTypes": ["password"]}
        ),
        user_pool("staff", {"alice": "wonderland"}),
        user_pool("partners", {"bob": "builder"}),
    )
    body = issuer.post(
        "/credential/jwt", form(issuer, "password", username="alice", password="wonderland")
    ).json()
    claims = verified_claims(issuer, body["access_token"], "/credential")
    assert claims["aud"] == ["ProxyGroup/shop", "ApiProxy/orders"]
    assert claims["sub"] == "alice"


def test_credential_metadata_in_jwt_and_response(start_issuer):
    claims = [
        {"key": "team", "value": "billing"},
        {"key": "tier", "value": "gold", "claimName": "plan", "includeInTokenResponse": True},
        {"key": "pin", "value": "1234", "secret": True, "includeInTokenResponse": True},
        {"key": "hidden", "value": "x", "includeInJwt": False},
    ]
    issuer = start_issuer(*world("JWT", claims=claims))
    body = issuer.post("/credential/jwt", form(issuer, "client_credentials")).json()
    token_claims = verified_claims(issuer, body["access_token"], "/credential")
    assert token_claims["team"] == "billing"
    assert token_claims["plan"] == "gold"
    assert "pin" not in token_claims
    assert "1234" not in body["access_token"]
    assert "hidden" not in token_claims
    assert body["tier"] == "gold"
    assert body["pin"] == "1234"
    assert "team" not in body


def test_metadata_value_from_a_secret(start_issuer):
    from tests.support.manifests import secret

    claims = [
        {
            "key": "region",
            "valueFrom": {"secretKeyRef": {"name": "meta", "key": "r"}},
            "includeInTokenResponse": True,
        }
    ]
    issuer = start_issuer(*world("OAuth2", secret("meta", r="eu-west"), claims=claims))
    body = issuer.post("/credential/token", form(issuer, "client_credentials")).json()
    assert body["region"] == "eu-west"


def test_algorithm_and_settings_come_from_the_first_matching_acl_entry(start_issuer):
    issuer = start_issuer(
        policy(
            "solo",
            "JWT",
            "ApiProxy/billing",
            management="ACL",
            token={"algorithm": "EdDSA"},
            tokenManagement={"response": {"include": {"scope": False}}},
        ),
        policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        credential("billing", ["ApiProxy/nowhere", "ApiProxy/billing", "ProxyGroup/shop"]),
    )
    body = issuer.post("/credential/jwt", form(issuer, "client_credentials")).json()
    assert "scope" not in body
    import jwt as pyjwt

    assert pyjwt.get_unverified_header(body["access_token"])["alg"] == "EdDSA"
    claims = verified_claims(issuer, body["access_token"], "/credential")
    assert claims["aud"] == ["ApiProxy/billing", "ProxyGroup/shop", "ApiProxy/orders"]


def test_metadata_key_equal_to_a_configured_response_field_is_rejected(start_issuer):
    renamed = {"response": {"fieldNames": {"access_token": "token"}}}
    issuer = start_issuer(
        policy("shop", "OAuth2", "ProxyGroup/shop", management="ACL", tokenManagement=renamed),
        credential(
            "billing",
            ["ProxyGroup/shop"],
            claims=[{"key": "token", "value": "x", "includeInTokenResponse": True}],
        ),
    )
    (error,) = issuer.build.errors
    assert str(error).startswith("manifests.yaml[-] spec.claims.0.key: Credential billing: ")
    assert "claims key 'token' is a token response field name" in str(error)
    refused = issuer.post("/credential/token", form(issuer, "client_credentials"))
    assert refused.status_code == 401


def test_metadata_key_equal_to_an_issuer_wide_response_field_is_rejected(start_issuer):
    renamed = TokenManagement.model_validate({"response": {"fieldNames": {"scope": "scopes"}}})
    issuer = start_issuer(
        policy("shop", "OAuth2", "ProxyGroup/shop", management="ACL"),
        credential("billing", ["ProxyGroup/shop"], claims=[{"key": "scopes", "value": "x"}]),
        settings=IssuerSettings(token_management=renamed),
    )
    (error,) = issuer.build.errors
    assert "spec.claims.0.key: Credential billing: claims key 'scopes'" in str(error)
    refused = issuer.post("/credential/token", form(issuer, "client_credentials"))
    assert refused.status_code == 401
