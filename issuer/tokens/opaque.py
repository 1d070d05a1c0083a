"""Opaque tokens: 256 random bits, base64url, with a recognisable prefix (DESIGN §4).

The prefix lets secret scanners find leaked tokens; only the digest is stored.
"""

import secrets

from gatekey.issuer.store.base import token_digest

ACCESS_PREFIX = "gkat_"
REFRESH_PREFIX = "gkrt_"


def new_token(prefix: str) -> tuple[str, str]:
    """A new token and the digest it is stored under."""
    token = prefix + secrets.token_urlsafe(32)
    return token, token_digest(token)


def new_id() -> str:
    """A random identifier (``jti``, chain id): 128 bits, base64url."""
    return secrets.token_urlsafe(16)
