"""The issuer's domain types: the authenticated client, the grant's decision, the chain it
continues, and what a grant is given to decide with (pure: no I/O, no HTTP).

Client authentication (:mod:`gatekey.issuer.clients`) makes a :class:`Client`; a grant
(:mod:`gatekey.issuer.grants`) turns it and a :class:`GrantContext` into a :class:`Grant`;
the minter (:mod:`gatekey.issuer.tokens.mint`) turns that into tokens.
"""

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Literal, NamedTuple, Protocol

from gatekey.issuer.clock import instant
from gatekey.issuer.snapshot import CredentialView, PolicyView, Snapshot
from gatekey.issuer.store.ports import GrantStore
from gatekey.operator.model.token_settings import TokenSettings
from gatekey.operator.model.vocabulary import Endpoint


@dataclass(frozen=True)
class Client:
    """A client authenticated at one endpoint, with what applies to it there."""

    client_id: str
    endpoint: Endpoint
    policy: PolicyView
    """Where the algorithm and Token Management Settings come from (ACL: first matching entry)."""
    targets: tuple[PolicyView, ...]
    """Policy mode: the policy; ACL mode: the ACL-mode policy of each usable ACL entry."""
    token: TokenSettings
    grant_types: frozenset[str]
    held_scopes: frozenset[str]
    """Scopes held by the client itself (the proxy key's target, or the Credential)."""
    credential: CredentialView | None = None
    secret: Literal["current", "previous"] | None = None
    """Which secret generation authenticated (None: none was needed, the seed's ``-``, or a
    ``private_key_jwt`` assertion)."""

    @cached_property
    def audience(self) -> tuple[str, ...]:
        """Every target's audience values, in order, without repeats."""
        return tuple(dict.fromkeys(a for p in self.targets for a in p.audience))

    def narrowed(self, targets: tuple[PolicyView, ...]) -> "Client":
        """The client for ``targets`` only (a non-empty subset of its own, in its order):
        the first of them gives the algorithm and the Token Management Settings, as the
        first ACL entry does for the whole client. RFC 8707 ``resource``, a password
        user's pools, and a renewed token's audience narrow a client this way."""
        return replace(self, targets=targets, policy=targets[0])


class Chain(NamedTuple):
    """Where a refreshed token continues a chain (a NamedTuple: a new one is made for
    every stored token that starts a chain)."""

    chain_id: str
    started_at: float
    refresh_count: int
    rotates: str | None = None
    """The digest of the refresh token this one replaces: used up when the new one is stored."""


class Grant(NamedTuple):
    """A grant's decision: who gets a token with what scope for which audience.

    A NamedTuple, as :class:`GrantContext`: made on every token request, at a quarter of
    a frozen dataclass's cost (which sets each field through ``object.__setattr__``);
    immutable all the same (``_replace`` makes a changed copy)."""

    client: Client
    grant_type: str
    subject: str
    username: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    chain: Chain | None = None
    jkt: str | None = None
    """RFC 9449: the key thumbprint the tokens are bound to (DPoP), None for Bearer."""


class PasswordCheck(Protocol):
    """Checks a password against a stored hash, off the event loop.

    ``hashed`` None (an unknown user) checks against a decoy made like ``like`` (same
    algorithm and cost), so that the answer takes as long as for a known user.
    """

    def __call__(
        self, hashed: str | None, password: str, like: str | None = None
    ) -> Awaitable[bool]: ...


class GrantContext(NamedTuple):
    """The request and the services a grant may use; injected, so grants stay testable."""

    snapshot: Snapshot
    store: GrantStore
    params: Mapping[str, str]
    now: float
    verify_password: PasswordCheck
    dpop_jkt: str | None = None
    """The key of the request's checked DPoP proof (RFC 9449 §5), if it carried one."""

    @property
    def instant(self) -> datetime:
        return instant(self.now)
