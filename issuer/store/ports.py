"""The token store, as narrow ports: one per concern, each caller depends on the ones it
uses (as fosite's storage interfaces are one per flow: ``AccessTokenStorage``,
``RefreshTokenStorage``, ``TokenRevocationStorage``, ``ClientAssertionJWTValid``).

Both stores (:class:`~gatekey.issuer.store.sqlite.SQLiteStore`,
:class:`~gatekey.issuer.store.redis.RedisStore`) implement every port; :class:`TokenStore`
is their sum, for the places that wire the issuer together. Every method may raise
:class:`~gatekey.issuer.store.base.StoreUnavailable` (the token endpoint answers 503).
"""

from collections.abc import Sequence
from typing import Protocol

from gatekey.issuer.store.base import ChainJwt, TokenRecord
from gatekey.issuer.store.events import Event, EventHandler


class TokenReader(Protocol):
    """Looks up an opaque access token or a refresh token (introspection, ``/authz``)."""

    async def get(self, digest: str) -> TokenRecord | None:
        """The token stored under ``digest``, live or not; None if unknown or purged."""
        ...


class TokenWriter(Protocol):
    """Stores what a grant issued (RFC 6749 §5.1)."""

    async def add(self, *records: TokenRecord, jwts: Sequence[ChainJwt] = ()) -> None:
        """Store new tokens, and the JWTs minted in their chains."""
        ...

    async def revoke_grant(self, grant_key: str) -> None:
        """Revoke every token issued to a principal for a client and audience
        (``revokePrevious``)."""
        ...


class RefreshRotation(Protocol):
    """Rotates refresh tokens (RFC 6749 §6, RFC 9700 §4.14)."""

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


class TokenRevocation(Protocol):
    """Revokes stored tokens (RFC 7009)."""

    async def revoke(self, digest: str) -> None:
        """Revoke one token."""
        ...

    async def revoke_chain(self, chain_id: str) -> dict[str, float | None]:
        """In one atomic step: revoke every token of a chain, put the JWTs minted in it on
        the deny list, and refuse any later rotation in it (RFC 9700 §4.14: refresh-token
        reuse). The JWTs denied: ``jti`` -> until when."""
        ...


class DeniedJtis(Protocol):
    """The durable JWT deny list (revoked ``jti`` values)."""

    async def deny_jti(self, jti: str, until: float | None) -> None:
        """Put a JWT's ``jti`` on the deny list until its ``exp`` (None: an immortal token)."""
        ...

    async def denied_jtis(self, now: float) -> dict[str, float | None]:
        """The deny list in force: ``jti`` -> until when."""
        ...


class ReplayCache(Protocol):
    """One-time values shared by every issuer process."""

    async def remember_once(self, key: str, until: float) -> bool:
        """In one atomic step: remember ``key`` until ``until`` (seconds since the epoch);
        False if it is already remembered (a replayed client assertion ``jti``, RFC 7523
        §3; a DPoP proof ``jti``, RFC 9449 §11.1)."""
        ...


class FailureCounters(Protocol):
    """Failed authentications and the blocks they arm (docs/security.md)."""

    async def count_failure(self, key: str, window: float) -> int:
        """Count one failed authentication for ``key``; failures within ``window`` seconds."""
        ...

    async def clear_failures(self, key: str) -> None:
        """Forget the failures of ``key`` (after a success)."""
        ...

    async def block(self, key: str, until: float) -> None:
        """Refuse ``key`` until ``until`` (kept across restarts, shared by every process)."""
        ...

    async def blocks(self, now: float) -> dict[str, float]:
        """The blocks in force: key -> until when."""
        ...


class EventPublisher(Protocol):
    """Tells every issuer process of a change it keeps in memory."""

    async def publish(self, event: Event) -> None:
        """Tell every process (this one included, at once) about ``event``."""
        ...


class EventBus(EventPublisher, Protocol):
    """Publishes events and hears those of every process."""

    def subscribe(self, handler: EventHandler) -> None:
        """Call ``handler`` for every event, published here or by another process."""
        ...


class Lifecycle(Protocol):
    """What the server does with a store around serving."""

    async def run(self) -> None:
        """Background work until cancelled (hearing other processes' events)."""
        ...

    async def purge(self, now: float) -> int:
        """Forget what can no longer be used; how many tokens were removed."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


class GrantStore(
    TokenReader, TokenWriter, RefreshRotation, TokenRevocation, EventPublisher, Protocol
):
    """What the grants use: issue, rotate, and on a reuse revoke a chain and tell every
    process of the JWTs denied."""


class ChainRevocation(TokenRevocation, EventPublisher, Protocol):
    """Revoking a refresh chain: the store revokes it, every process hears of its JWTs."""


class ThrottleStore(FailureCounters, EventBus, Protocol):
    """What brute-force protection uses: counters, blocks, and the events that carry them."""


class TokenStore(
    GrantStore, DeniedJtis, ReplayCache, FailureCounters, EventBus, Lifecycle, Protocol
):
    """Every port: what a store implements and what the issuer is wired with."""
