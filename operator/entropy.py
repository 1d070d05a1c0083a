"""Randomness, injected into ``render`` so that tests can make it repeatable."""

import secrets
from typing import Any, Protocol

from jwcrypto import jwk

_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_HMAC_BITS = {"HS256": 256, "HS384": 384, "HS512": 512}
RSA_BITS = 2048


class Entropy(Protocol):
    """Where new secrets and signing keys come from."""

    def token(self, nbytes: int) -> str:
        """``nbytes`` random bytes, base64url without padding."""
        ...

    def signing_key(self, alg: str) -> dict[str, Any]:
        """A new private JWK (RFC 7517) for JWS algorithm ``alg``, with ``kid`` set."""
        ...


class SystemEntropy:
    """The operating system's CSPRNG (``secrets``, and jwcrypto for keys)."""

    def token(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)

    def signing_key(self, alg: str) -> dict[str, Any]:
        return with_kid(generate_jwk(alg))


def generate_jwk(alg: str) -> jwk.JWK:
    """A new key suited to ``alg``: EC curves per RFC 7518 §3.4, Ed25519, RSA-2048, HMAC."""
    if alg in _EC_CURVES:
        return jwk.JWK.generate(kty="EC", crv=_EC_CURVES[alg])
    if alg == "EdDSA":
        return jwk.JWK.generate(kty="OKP", crv="Ed25519")
    if alg in _HMAC_BITS:
        return jwk.JWK.generate(kty="oct", size=_HMAC_BITS[alg])
    if alg[:2] in ("RS", "PS"):
        return jwk.JWK.generate(kty="RSA", size=RSA_BITS)
    raise ValueError(f"unsupported algorithm {alg}")


def with_kid(key: jwk.JWK) -> dict[str, Any]:
    """The private JWK as a dict, ``kid`` set to its RFC 7638 thumbprint."""
    exported: dict[str, Any] = key.export(private_key=True, as_dict=True)
    exported["kid"] = key.thumbprint()
    return exported
