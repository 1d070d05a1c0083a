"""Checks on issued tokens with a JOSE library other than the signer's (jwcrypto, not PyJWT)."""

import base64
import json
from typing import Any

from jwcrypto import jwk, jwt

from tests.support.issuer import RunningIssuer


def verified_claims(issuer: RunningIssuer, token: str, base: str = "/auth") -> dict[str, Any]:
    """The claims of a JWT whose signature checks out against the issuer's JWKS endpoint."""
    keys = jwk.JWKSet.from_json(issuer.get(f"{base}/.well-known/jwks.json").text)
    header = _header(token)
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    checked = jwt.JWT(jwt=token, key=keys, expected_type="JWS", check_claims={})
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
