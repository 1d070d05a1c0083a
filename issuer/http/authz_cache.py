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
from gatekey.issuer.snapshot import Snapshot

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


class PassCache:
    """Remembered passes, for one snapshot at a time.

    The hot path reads :attr:`passes` itself (one dictionary look-up, no call), after
    :meth:`follow`."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self.passes: dict[Key, Pass] = {}
        """Always the same dictionary, emptied in place."""
        self.snapshot: Snapshot | None = None

    def follow(self, snapshot: Snapshot) -> None:
        """Forget every pass unless ``snapshot`` is the one they were decided under."""
        if snapshot is not self.snapshot:
            self.passes.clear()
            self.snapshot = snapshot

    def put(self, key: Key, found: Pass, snapshot: Snapshot) -> None:
        """Remember ``found``, decided under ``snapshot``; a decision made under an older
        snapshot (one that changed while the check waited) is not kept."""
        if snapshot is not self.snapshot:
            return
        passes = self.passes
        if key not in passes and len(passes) >= self._size:
            del passes[next(iter(passes))]
        passes[key] = found

    def drop(self, key: Key) -> None:
        """Forget the pass of ``key`` (past its time)."""
        self.passes.pop(key, None)
