"""``private_key_jwt`` client authentication (RFC 7523 §2.2), from outside over HTTP.

A real client library (Authlib's ``PrivateKeyJWT``) gets tokens with an EC and an RSA
key, for a Credential and for a proxy key; hand-made bad assertions are all 401
``invalid_client`` and count toward the lockout like a bad secret.
"""

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from tests.support.issuer import RunningIssuer, running_issuer, write_manifests
from tests.support.manifests import credential, policy

ISSUER = "http://gatekey.test"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if kid.startswith("ec") else jwt.algorithms.RSAAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    folder = tmp_path_factory.mktemp("pkjwt")
    jwks = {"keys": [_jwk(EC_KEY, "ec-1"), _jwk(RSA_KEY, "rsa-1")]}
    write_manifests(
        folder / "m",
        policy("pj", "JWT", proxyKeyJwks={"keys": [_jwk(EC_KEY, "ec-1")]}),
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwks=jwks),
        credential("plain", ["ApiProxy/payments"]),
    )
    settings = IssuerSettings(issuer_url=ISSUER)
    limits = ThrottleSettings(slow_after=50, delay_seconds=0.01, block_after=60)
    with running_issuer(folder / "m", folder / "s", settings, limits) as running:
        yield running


def _assertion(
    client_id: str,
    key: Any = EC_KEY,
    alg: str = "ES256",
    kid: str | None = "ec-1",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/credential/jwt",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    } | claims
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def _post(issuer: RunningIssuer, assertion: str, path: str = "/credential/jwt", **more: str):
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": TYPE,
        "client_assertion": assertion,
    } | more
    return issuer.post(path, form)


def _authlib_token(issuer: RunningIssuer, client_id: str, key: Any, alg: str, path: str):
    # Authlib's assertions live an hour by default, longer than Gatekey accepts: give an
    # exp, in a fresh object each time (Authlib writes its jti into the claims it is given).
    auth = PrivateKeyJWT(ISSUER + path, claims={"exp": int(time.time()) + 60}, alg=alg)
    imported = (RSAKey if alg[0] in "RP" else ECKey).import_key(_pem(key))
    session = OAuth2Session(client_id, imported, token_endpoint_auth_method=auth)
    return session.fetch_token(issuer.url + path, grant_type="client_credentials")


@pytest.mark.parametrize(
    ("key", "alg"), [(EC_KEY, "ES256"), (RSA_KEY, "RS256"), (RSA_KEY, "PS256")]
)
def test_authlib_gets_tokens_for_a_credential(issuer: RunningIssuer, key: Any, alg: str) -> None:
    client_id, _ = issuer.credential("billing")
    token = _authlib_token(issuer, client_id, key, alg, "/credential/jwt")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    assert claims["aud"] == ["ApiProxy/payments"]


def test_authlib_gets_tokens_for_a_proxy_key(issuer: RunningIssuer) -> None:
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    token = _authlib_token(issuer, client_id, EC_KEY, "ES256", "/auth/jwt")
    assert token["token_type"] == "Bearer"


def test_the_issuer_identifier_is_an_audience_and_the_secret_still_works(issuer):
    client_id, secret = issuer.credential("billing")
    assert _post(issuer, _assertion(client_id, aud=ISSUER + "/credential")).status_code == 200
    by_secret = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
    }
    assert issuer.post("/credential/jwt", by_secret).status_code == 200


def test_metadata_advertises_private_key_jwt(issuer: RunningIssuer) -> None:
    body = issuer.get("/credential/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert "none" not in body["token_endpoint_auth_signing_alg_values_supported"]
    assert not any(
        a.startswith("HS") for a in body["token_endpoint_auth_signing_alg_values_supported"]
    )


def _unsigned(client_id: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER + "/credential/jwt",
              "exp": now + 60, "jti": str(uuid.uuid4())}  # fmt: skip
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hmac_with_public_key(client_id: str) -> str:
    """The classic confusion: HS256 keyed with the bytes of the client's public key."""
    public = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER + "/credential/jwt",
              "exp": now + 60, "jti": str(uuid.uuid4())}  # fmt: skip
    header = part_json({"alg": "HS256", "typ": "JWT", "kid": "ec-1"})
    body = part_json(claims)
    import hashlib
    import hmac

    signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def part_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


BAD = {
    "expired": (
        lambda c: _assertion(c, exp=int(time.time()) - 5, iat=int(time.time()) - 65),
        "expired",
    ),
    "too long-lived": (lambda c: _assertion(c, exp=int(time.time()) + 3600), "longer than"),
    "no exp": (lambda c: _assertion(c, exp=None), '"exp"'),
    "no jti": (lambda c: _assertion(c, jti=None), '"jti"'),
    "issued in the future": (lambda c: _assertion(c, iat=int(time.time()) + 600), "future"),
    "wrong aud": (lambda c: _assertion(c, aud="https://elsewhere.example/token"), "Audience"),
    "other endpoint's aud": (lambda c: _assertion(c, aud=ISSUER + "/auth/jwt"), "Audience"),
    "wrong iss": (lambda c: _assertion(c, iss="someone-else"), "issuer"),
    "alg none": (_unsigned, "'none' is not allowed"),
    "HS256 with the public key": (_hmac_with_public_key, "'HS256' is not allowed"),
    "a key not in the JWKS": (lambda c: _assertion(c, key=OTHER_KEY), "not signed by a key"),
    "a key not in the JWKS, no kid": (
        lambda c: _assertion(c, key=OTHER_KEY, kid=None),
        "not signed by a key",
    ),
    "RSA key named by the EC kid": (
        lambda c: _assertion(c, key=RSA_KEY, alg="RS256"),
        "not signed by a key",
    ),
    "huge": (lambda c: _assertion(c, padding="x" * 20_000), "longer than 8192"),
    "not a JWT": (lambda c: "not.a.jwt", "not a JWT"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_assertions_are_invalid_client(issuer: RunningIssuer, case: str) -> None:
    client_id, _ = issuer.credential("billing")
    make, reason = BAD[case]
    response = _post(issuer, make(client_id), client_id=client_id)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]


def test_a_replayed_assertion_is_refused(issuer: RunningIssuer) -> None:
    client_id, _ = issuer.credential("billing")
    assertion = _assertion(client_id)
    assert _post(issuer, assertion).status_code == 200
    replayed = _post(issuer, assertion)
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["error_description"]


def test_a_client_without_keys_cannot_use_an_assertion(issuer: RunningIssuer) -> None:
    client_id, _ = issuer.credential("plain")
    response = _post(issuer, _assertion(client_id))
    assert response.status_code == 401


def test_mixing_methods_and_a_wrong_type_are_invalid_request(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.credential("billing")
    both = _post(issuer, _assertion(client_id), client_secret=secret)
    assert both.status_code == 400
    wrong_type = _post(issuer, _assertion(client_id), client_assertion_type="urn:x")
    assert wrong_type.status_code == 400
    other_id = _post(issuer, _assertion(client_id), client_id="someone-else")
    assert other_id.status_code == 401


def test_bad_assertions_count_toward_the_lockout(tmp_path: Path) -> None:
    write_manifests(
        tmp_path / "m",
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwks={"keys": [_jwk(EC_KEY, "ec-1")]}),
    )
    settings = IssuerSettings(issuer_url=ISSUER)
    limits = ThrottleSettings(slow_after=2, delay_seconds=0.01, block_after=3)
    with running_issuer(tmp_path / "m", tmp_path / "s", settings, limits) as issuer:
        client_id, _ = issuer.credential("billing")
        statuses = [
            _post(issuer, _assertion(client_id, key=OTHER_KEY)).status_code for _ in range(3)
        ]
        assert statuses == [401, 401, 401]
        assert _post(issuer, _assertion(client_id)).status_code == 429
