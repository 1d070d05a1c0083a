"""``private_key_jwt`` with the public keys in a Secret (``jwksSecretRef``), over HTTP.

The Credential (or the proxy key's AuthPolicy) names a Secret of its namespace and a
key holding a JWK Set; render copies the keys into what the issuer serves from. A real
client library (Authlib) signs the assertions. A change to the Secret alone switches
the keys; a missing or malformed Secret leaves the client served by its secret only,
and the embedded mode names the file and the field.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from gatekey.issuer.settings import IssuerSettings
from tests.support.issuer import RunningIssuer, running_issuer, write_manifests
from tests.support.manifests import credential, policy, secret

ISSUER = "http://gatekey.test"
KEY = ec.generate_private_key(ec.SECP256R1())
NEW_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks_text(key: Any, kid: str) -> str:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig"}]})


def write_keys(folder: Path, billing: str, orders: str) -> None:
    write_manifests(
        folder,
        secret("billing-keys", **{"jwks.json": billing}),
        secret("orders-keys", keys=orders),
        name="keys.yaml",
    )


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[RunningIssuer]:
    folder = tmp_path / "m"
    write_manifests(
        folder,
        policy("pj", "JWT", proxyKeyJwksSecretRef={"name": "orders-keys", "key": "keys"}),
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwksSecretRef={"name": "billing-keys"}),
    )
    write_keys(folder, jwks_text(KEY, "k1"), jwks_text(KEY, "k1"))
    with running_issuer(folder, tmp_path / "s", IssuerSettings(issuer_url=ISSUER)) as running:
        yield running


def authlib_token(issuer: RunningIssuer, client_id: str, key: Any, path: str) -> dict[str, Any]:
    auth = PrivateKeyJWT(ISSUER + path, claims={"exp": int(time.time()) + 60}, alg="ES256")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    session = OAuth2Session(client_id, ECKey.import_key(pem), token_endpoint_auth_method=auth)
    return session.fetch_token(issuer.url + path, grant_type="client_credentials")


def refused(issuer: RunningIssuer, client_id: str, key: Any, path: str) -> str:
    with pytest.raises(OAuthError) as caught:
        authlib_token(issuer, client_id, key, path)
    return str(caught.value)


def test_keys_from_a_secret_authenticate_a_credential_and_a_proxy_key(issuer):
    client_id, _ = issuer.credential("billing")
    token = authlib_token(issuer, client_id, KEY, "/credential/jwt")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    assert claims["aud"] == ["ApiProxy/payments"]

    key_id, _ = issuer.proxy_key("ApiProxy", "orders")
    assert authlib_token(issuer, key_id, KEY, "/auth/jwt")["token_type"] == "Bearer"
    assert "invalid_client" in refused(issuer, key_id, NEW_KEY, "/auth/jwt")


def test_a_change_to_the_secret_alone_switches_the_keys(issuer, tmp_path):
    client_id, _ = issuer.credential("billing")
    write_keys(tmp_path / "m", jwks_text(NEW_KEY, "k2"), jwks_text(KEY, "k1"))
    assert issuer.reload().errors == ()
    assert "invalid_client" in refused(issuer, client_id, KEY, "/credential/jwt")
    assert authlib_token(issuer, client_id, NEW_KEY, "/credential/jwt")["access_token"]


@pytest.mark.parametrize(
    ("billing", "why"),
    [
        ('{"keys": [', "is not a public JWK Set (Invalid JSON"),
        (
            json.dumps({"keys": []}),
            "is not a public JWK Set (keys: Tuple should have at least 1 item",
        ),
        (  # a private key is refused, never copied into a ConfigMap
            json.dumps({"keys": [{**json.loads(jwks_text(KEY, "k"))["keys"][0], "d": "AAAA"}]}),
            "is not a public JWK Set (keys.0.d: Extra inputs are not permitted)",
        ),
    ],
)
def test_a_malformed_jwks_is_named_and_the_secret_still_works(issuer, tmp_path, billing, why):
    client_id, client_secret = issuer.credential("billing")
    write_keys(tmp_path / "m", billing, jwks_text(KEY, "k1"))
    (error,) = issuer.reload().errors
    assert str(error).startswith("manifests.yaml[-] spec.jwksSecretRef: Credential billing: ")
    assert f"Secret billing-keys key jwks.json {why}" in str(error)
    assert "AAAA" not in str(error)
    assert "invalid_client" in refused(issuer, client_id, KEY, "/credential/jwt")
    form = {"grant_type": "client_credentials", "client_id": client_id}
    by_secret = issuer.post("/credential/jwt", form | {"client_secret": client_secret})
    assert by_secret.status_code == 200


def test_a_missing_secret_or_key_is_named(issuer, tmp_path):
    (tmp_path / "m" / "keys.yaml").unlink()
    errors = sorted(str(e) for e in issuer.reload().errors)
    assert errors == [
        "manifests.yaml[-] spec.jwksSecretRef: Credential billing: "
        "Secret billing-keys with key jwks.json (a JWK Set) not found",
        "manifests.yaml[-] spec.proxyKeyJwksSecretRef: AuthPolicy pj: "
        "Secret orders-keys with key keys (a JWK Set) not found",
    ]
