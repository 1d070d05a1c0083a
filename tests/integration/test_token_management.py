"""Token Management Settings shape the response, never the JWT (docs/contract.md)."""

import jwt as pyjwt
import pytest

from gatekey.issuer.settings import IssuerSettings
from gatekey.operator.model import ResponseSettings, TokenManagement
from tests.support.manifests import policy
from tests.support.tokens import verified_claims

ALGORITHMS = [
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
]


def issue(issuer, type_="JWT"):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/jwt" if type_ == "JWT" else "/auth/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_renamed_fields_and_milliseconds(start_issuer):
    response = {
        "fieldNames": {"access_token": "token", "expires_in": "ttl"},
        "expiresInUnit": "milliseconds",
    }
    issuer = start_issuer(
        policy(
            "p",
            "JWT",
            token={"ttl": "2m", "refresh": {"enabled": True}},
            tokenManagement={"response": response},
        )
    )
    body = issue(issuer)
    assert set(body) == {"token", "token_type", "ttl", "refresh_token", "scope"}
    assert body["ttl"] == 120_000
    claims = verified_claims(issuer, body["token"])
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize("field", ["token_type", "expires_in", "refresh_token", "scope"])
def test_fields_can_be_left_out(start_issuer, field):
    issuer = start_issuer(
        policy(
            "p",
            "OAuth2",
            token={"refresh": {"enabled": True}},
            tokenManagement={"response": {"include": {field: False}}},
        )
    )
    body = issue(issuer, "OAuth2")
    assert field not in body
    assert "access_token" in body


def test_issuer_wide_defaults_and_partial_override(start_issuer):
    defaults = TokenManagement(
        response=ResponseSettings(field_names={"scope": "roles"}, include={"token_type": False})
    )
    issuer = start_issuer(
        policy("p", "JWT", tokenManagement={"response": {"include": {"token_type": True}}}),
        settings=IssuerSettings(token_management=defaults),
    )
    body = issue(issuer)
    assert body["token_type"] == "Bearer"
    assert "roles" in body
    assert "scope" not in body


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_signs_verifiable_tokens(start_issuer, alg):
    issuer = start_issuer(policy("p", "JWT", token={"algorithm": alg}))
    token = issue(issuer)["access_token"]
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == alg
    if alg.startswith("HS"):
        import json

        keys = json.loads(issuer.secret("gatekey-signing-keys")["keys.json"])
        from jwcrypto import jwk, jwt

        key = jwk.JWK(**next(k["jwk"] for k in keys if k["alg"] == alg))
        assert jwt.JWT(jwt=token, key=key).claims
        assert issuer.get("/auth/.well-known/jwks.json").json() == {"keys": []}
    else:
        assert verified_claims(issuer, token)["aud"] == ["ApiProxy/orders"]


def test_extra_audience_values(start_issuer):
    issuer = start_issuer(policy("p", "JWT", token={"audience": ["https://orders.example"]}))
    claims = verified_claims(issuer, issue(issuer)["access_token"])
    assert claims["aud"] == ["ApiProxy/orders", "https://orders.example"]


def test_jwt_claims_shape(start_issuer):
    issuer = start_issuer(policy("p", "JWT"))
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    claims = verified_claims(issuer, issue(issuer)["access_token"])
    assert set(claims) >= {"iss", "sub", "aud", "client_id", "iat", "nbf", "exp", "jti"}
    assert claims["client_id"] == client_id
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 3600


def test_immortal_jwt_has_no_exp(start_issuer):
    issuer = start_issuer(policy("p", "JWT", token={"immortal": True}))
    body = issue(issuer)
    assert "expires_in" not in body
    assert "exp" not in verified_claims(issuer, body["access_token"])
