"""``gatekey.issuer.jose``: the compact JWS reader and jwcrypto verification (RFC 7515)."""

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK

from gatekey.issuer import jose
from gatekey.issuer.tokens.jws import CompactSigner

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = JWK.from_pyca(PRIVATE.public_key())
OTHER = JWK.from_pyca(ec.generate_private_key(ec.SECP256R1()).public_key())


def _part(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _token(header: dict[str, Any]) -> str:
    return CompactSigner("ES256", PRIVATE, header).sign({"sub": "a"})


def test_a_signed_token_verifies_with_its_key_and_algorithm_only() -> None:
    compact = jose.parse(_token({"kid": "k"}))
    assert compact.header == {"alg": "ES256", "kid": "k"}
    assert compact.claims == {"sub": "a"}
    assert jose.verifies(compact, "ES256", PUBLIC)
    assert not jose.verifies(compact, "ES256", OTHER)
    assert not jose.verifies(compact, "ES384", PUBLIC)  # another curve's algorithm
    assert not jose.verifies(compact, "HS256", PUBLIC)  # a public key is no HMAC secret
    assert not jose.verifies(compact, "none", PUBLIC)


@pytest.mark.parametrize(
    "token",
    [
        "not.a.jwt",
        "a.b",
        "a.b.c.d",
        _part({"alg": "ES256"}) + "." + _part([1]) + ".",
        _part(["ES256"]) + "." + _part({}) + ".",
        _part({"alg": "ES256", "crit": ["exp"], "exp": 1}) + "." + _part({}) + ".",
        _part({"alg": "ES256", "kid": 7}) + "." + _part({}) + ".",
        _part({"alg": "ES256"}) + ".!!!." + "x",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(jose.Malformed):
        jose.parse(token)


def test_a_key_jwcrypto_cannot_load_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not on the curve"):
        jose.load_key({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"})
