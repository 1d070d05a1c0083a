"""The ``/authz`` answers remembered: a client that reuses its token costs a look-up.

A forward-auth gateway asks about the same few (``Authorization``, ``X-Gatekey-Proxy``)
pairs over and over. Once the whole check passed for a pair, :class:`PassCache` keeps
what the 200 says (its identity headers, built once) with what it depends on, and
gives it back while none of that changed:

- the snapshot (policies, keys, clients, ACLs, groups): any new one empties the table;
- time: each pass holds until the first instant the time-dependent checks could answer
  otherwise (the token's ``exp``, the credential's ``expiresAt``, an ACL entry's
  ``expiresAt``), and is dropped from then on (the caller compares);
- the deny list (a revoked JWT, here or on another replica): asked by the caller on
  every use, as the whole check does;
- the request's method and path (per-route rules): decided by the caller on every use.

Only what the full check would pass again is kept: no DPoP-bound token (its proof is
fresh on every request), no opaque token (its record lives in the store, which other
replicas change). Anything the cache cannot answer goes through the full check, so a
refusal is always the full check's own.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from multidict import CIMultiDict

from gatekey.issuer.routes import CompiledRoutes
from gatekey.issuer.snapshot_memo import SnapshotMemo

CACHE_SIZE = 50_000
"""Pairs remembered; the oldest goes first. Only tokens that passed get in, so the size
is bounded by the valid tokens in use (times the proxy names each is checked for)."""

Key = tuple[str | None, str | None]
"""The ``Authorization`` and ``X-Gatekey-Proxy`` headers, as sent."""


@dataclass(frozen=True, slots=True)
class Pass:
    """A 200 of ``/authz``, and until when it holds."""

    headers: CIMultiDict[str]
    """The identity headers, copied (in C) into each response."""
    until: float
    """POSIX seconds: from then on, the time-dependent checks may answer otherwise."""
    jti: str | None
    """For the deny-list check on every use."""
    scope: tuple[str, ...]
    routes: CompiledRoutes | None
    """The per-route rules the token reaches the proxy through, decided on every use..."""
    claims: Callable[[], Mapping[str, str]]
    """...with the client's Credential Metadata in the pass's snapshot, if a rule asks."""


class PassCache(SnapshotMemo[Key, Pass]):
    """Remembered passes, for one snapshot at a time (at most :data:`CACHE_SIZE`)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        super().__init__(size)
