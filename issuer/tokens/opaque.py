"""Opaque tokens: 256 random bits, base64url, with a recognisable prefix (docs/api.md).

The prefix lets secret scanners find leaked tokens; only the digest is stored.
"""

import itertools
import secrets

from gatekey.issuer.store.base import token_digest

ACCESS_PREFIX = "gkat_"
REFRESH_PREFIX = "gkrt_"


def new_token(prefix: str) -> tuple[str, str]:
    """A new token and the digest it is stored under."""
    token = prefix + secrets.token_urlsafe(32)
    return token, token_digest(token)


class _Ids:
    """Unique, not secret, identifiers (``jti``, chain ids): a random 96-bit prefix per
    process and a counter. Nothing is derived from them, so they need no CSPRNG call
    each (one costs more than the rest of building the id)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_urlsafe(12)
        self._next = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._next):x}"


new_id = _Ids()
"""A new unique identifier."""
