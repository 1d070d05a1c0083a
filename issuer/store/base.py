"""What the token stores hold (SQLite for one machine, Redis for replicas); the
interfaces to them are the narrow ports of :mod:`gatekey.issuer.store.ports`.

Tokens are kept only as SHA-256 digests: a leaked store yields no usable token.
"""

import hashlib
from dataclasses import dataclass
from typing import Literal, NamedTuple

from gatekey.operator.model.vocabulary import Management, TokenType


class StoreUnavailable(Exception):
    """The store cannot be reached; the token endpoint answers 503."""


TokenKind = Literal["access", "refresh"]


class TokenRecord(NamedTuple):
    """What is known about one issued opaque access token or refresh token.

    A named tuple rather than a frozen dataclass: as immutable, and built in a fifth of
    the time (a frozen dataclass sets each of its 20 fields through ``object.__setattr__``),
    once per token issued and once per token looked up. The SQLite store's columns are
    its fields, in this order."""

    digest: str
    kind: TokenKind
    chain_id: str
    """All tokens descending from one grant share it; reuse detection revokes it whole."""
    grant_key: str
    """The principal + client + audience, for ``revokePrevious``."""
    client_id: str
    subject: str
    username: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    token_type: TokenType
    """``JWT`` or ``OAuth2``: the endpoint family that issued it."""
    management: Management
    """``Policy`` or ``ACL``."""
    issued_at: float
    expires_at: float | None
    """None for an immortal access token."""
    chain_started_at: float
    refresh_count: int = 0
    used: bool = False
    revoked: bool = False
    namespace: str = ""
    """The namespace of the client it was issued to: client ids are global, but a token
    minted for a client of one namespace never passes for another's proxy."""
    used_at: float | None = None
    """When this refresh token was rotated; None while unused, and for a successor that a
    retry replaced (see ``RefreshRotation.replace_rotation``): no grace period applies to it."""
    jkt: str = ""
    """RFC 9449: the thumbprint of the key the token is bound to (DPoP); "" unbound."""

    def live(self, now: float) -> bool:
        """Neither revoked nor expired."""
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class ChainJwt:
    """A JWT access token minted in a refresh chain: revoking the chain denies its ``jti``."""

    jti: str
    chain_id: str
    expires_at: float | None
    """The JWT's ``exp``; None for an immortal token."""


def token_digest(token: str) -> str:
    """The key a token is stored under: hex SHA-256 (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode()).hexdigest()
