"""JWT access tokens signed on the hot path (RFC 9068 shape, RFC 7515 compact JWS).

Keys are parsed once per ``kid`` (PyJWT's JWK parser) and signed with
:class:`~gatekey.issuer.tokens.jws.CompactSigner`.
"""

from typing import Any

import jwt

from gatekey.issuer.tokens.jws import CompactSigner
from gatekey.operator.signing_keys import SigningKey

ACCESS_TOKEN_TYP = "at+jwt"
"""RFC 9068 §2.1: the ``typ`` header of a JWT access token."""


class KeyMaterial:
    """Parsed key objects by ``kid``: parsing a JWK costs more than a signature."""

    def __init__(self) -> None:
        self._keys: dict[str, Any] = {}

    def __call__(self, key: SigningKey) -> Any:
        material = self._keys.get(key.kid)
        if material is None:
            material = self._keys[key.kid] = jwt.PyJWK(key.jwk, algorithm=key.alg).key
        return material


class JwtSigner:
    """Signs claims with a :class:`SigningKey`; header carries ``kid`` and ``typ: at+jwt``."""

    def __init__(self, material: KeyMaterial | None = None) -> None:
        self.material = material or KeyMaterial()
        self._signers: dict[str, CompactSigner] = {}

    def sign(self, claims: dict[str, Any], key: SigningKey) -> str:
        signer = self._signers.get(key.kid)
        if signer is None:
            header = {"kid": key.kid, "typ": ACCESS_TOKEN_TYP}
            signer = self._signers[key.kid] = CompactSigner(key.alg, self.material(key), header)
        return signer.sign(claims)
