"""The narrow store interface every token store implements (SQLite now, Redis for replicas).

Tokens are kept only as SHA-256 digests: a leaked store yields no usable token.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gatekey.operator.model.vocabulary import Management, TokenType


class StoreUnavailable(Exception):
    """The store cannot be reached; the token endpoint answers 503."""


TokenKind = Literal["access", "refresh"]
Event = dict[str, Any]
"""A message every replica hears: ``{"type": "deny", "jti", "until"}`` or
``{"type": "block", "key", "until"}``."""
EventHandler = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is known about one issued opaque access token or refresh token."""

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
    retry replaced (see :meth:`TokenStore.replace_rotation`): no grace period applies to it."""
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


class TokenStore(Protocol):
    """Storage for the stateful parts of a token's life."""

    async def add(self, *records: TokenRecord, jwts: Sequence[ChainJwt] = ()) -> None:
        """Store new tokens, and the JWTs minted in their chains."""
        ...

    async def get(self, digest: str) -> TokenRecord | None:
        """The token stored under ``digest``, live or not; None if unknown or purged."""
        ...

    async def rotate(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt] = (),
        now: float | None = None,
    ) -> bool:
        """In one atomic step: mark the refresh token ``digest`` used (at ``now``, the
        store's clock when None), remember what replaced it, and store ``records`` and
        ``jwts`` (its successors). False, with nothing written, when ``digest`` is not an
        unused, unrevoked refresh token or its chain was revoked (RFC 9700 §4.14)."""
        ...

    async def replace_rotation(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt],
        now: float,
        grace: float,
    ) -> dict[str, float | None] | None:
        """The refresh-token grace period: in one atomic step, replace the answer to the
        rotation of ``digest`` by ``records`` and ``jwts``. The successors it stored are
        killed (its opaque access token revoked, its JWTs denied, its refresh token marked
        used without a grace period, so that presenting it later is a reuse), and the new
        ones stored and remembered in their place: one branch of the chain stays live.

        None, with nothing written, unless ``digest`` is a refresh token rotated less than
        ``grace`` seconds before ``now``, not revoked, its chain not revoked, and its
        successor refresh token neither used nor revoked (once a client used the answer,
        presenting the old token again is a reuse). Else the JWTs denied: ``jti`` -> until.
        """
        ...

    async def revoke(self, digest: str) -> None:
        """Revoke one token (RFC 7009)."""
        ...

    async def deny_jti(self, jti: str, until: float | None) -> None:
        """Put a JWT's ``jti`` on the deny list until its ``exp`` (None: an immortal token)."""
        ...

    async def denied_jtis(self, now: float) -> dict[str, float | None]:
        """The deny list in force: ``jti`` -> until when."""
        ...

    async def revoke_chain(self, chain_id: str) -> dict[str, float | None]:
        """In one atomic step: revoke every token of a chain, put the JWTs minted in it on
        the deny list, and refuse any later rotation in it (RFC 9700 §4.14: refresh-token
        reuse). The JWTs denied: ``jti`` -> until when."""
        ...

    async def revoke_grant(self, grant_key: str) -> None:
        """Revoke every token issued to a principal for a client and audience."""
        ...

    async def remember_once(self, key: str, until: float) -> bool:
        """In one atomic step: remember ``key`` until ``until`` (seconds since the epoch),
        shared by every replica; False if it is already remembered (a replayed client
        assertion ``jti``, RFC 7523 §3; a DPoP proof ``jti``, RFC 9449 §11.1)."""
        ...

    async def count_failure(self, key: str, window: float) -> int:
        """Count one failed authentication for ``key``; failures within ``window`` seconds."""
        ...

    async def clear_failures(self, key: str) -> None:
        """Forget the failures of ``key`` (after a success)."""
        ...

    async def block(self, key: str, until: float) -> None:
        """Refuse ``key`` until ``until`` (kept across restarts, shared by replicas)."""
        ...

    async def blocks(self, now: float) -> dict[str, float]:
        """The blocks in force: key -> until when."""
        ...

    async def publish(self, event: Event) -> None:
        """Tell every replica (this one included) about ``event``."""
        ...

    def subscribe(self, handler: EventHandler) -> None:
        """Call ``handler`` for every published event."""
        ...

    async def run(self) -> None:
        """Background work until cancelled (listening to other replicas); may return at once."""
        ...

    async def purge(self, now: float) -> int:
        """Forget tokens that can no longer be used; how many were removed."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...
