"""JWT access tokens signed on the hot path (RFC 9068 shape, RFC 7515 compact JWS).

Keys are parsed once per ``kid`` (jwcrypto's JWK loader, :mod:`gatekey.issuer.jose`)
and signed with :class:`~gatekey.issuer.tokens.jws.CompactSigner`.
"""

from typing import Any

from jwcrypto.common import base64url_decode
from jwcrypto.jwk import JWK

from gatekey.issuer.jose import load_key
from gatekey.issuer.tokens.jws import CompactSigner
from gatekey.operator.signing_keys import SigningKey

ACCESS_TOKEN_TYP = "at+jwt"
"""RFC 9068 §2.1: the ``typ`` header of a JWT access token."""


KeyId = tuple[str, str, str]
"""``(namespace, kid, alg)``: a ``kid`` alone is public, and another namespace may publish
the same one with its own key; cached material must never cross namespaces."""


class KeyMaterial:
    """Loaded JWKs by namespace and ``kid``: loading a JWK costs more than a signature."""

    def __init__(self) -> None:
        self._keys: dict[KeyId, JWK] = {}

    def __call__(self, key: SigningKey, namespace: str) -> JWK:
        slot = (namespace, key.kid, key.alg)
        material = self._keys.get(slot)
        if material is None:
            material = self._keys[slot] = load_key(key.jwk)
        return material

    def signing(self, key: SigningKey, namespace: str) -> Any:
        """The ``cryptography`` private key, or the HMAC secret's bytes, of ``key``."""
        jwk = self(key, namespace)
        if jwk.get("kty") == "oct":
            return base64url_decode(jwk.get("k"))
        return jwk.get_op_key("sign")


class JwtSigner:
    """Signs claims with a :class:`SigningKey`; header carries ``kid`` and ``typ: at+jwt``."""

    def __init__(self, material: KeyMaterial | None = None) -> None:
        self.material = material or KeyMaterial()
        self._signers: dict[KeyId, CompactSigner] = {}

    def sign(self, claims: dict[str, Any], key: SigningKey, namespace: str) -> str:
        """The compact JWS of ``claims`` under ``key``, a key of ``namespace``."""
        slot = (namespace, key.kid, key.alg)
        signer = self._signers.get(slot)
        if signer is None:
            header = {"kid": key.kid, "typ": ACCESS_TOKEN_TYP}
            material = self.material.signing(key, namespace)
            signer = self._signers[slot] = CompactSigner(key.alg, material, header)
        return signer.sign(claims)
