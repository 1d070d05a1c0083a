"""What a principal holds now: the re-checks a token's renewal makes (pure).

Refresh (RFC 6749 §6) and regeneration both continue a token issued earlier; neither
may carry over what was taken away since: a Role removed, a user removed from the
pool, an ACL entry expired. Both use these two rules.
"""

from gatekey.issuer.domain import Client
from gatekey.issuer.errors import InvalidGrant, TargetsUnreached
from gatekey.issuer.snapshot import Snapshot


def held_scopes(client: Client, username: str | None, snapshot: Snapshot) -> frozenset[str]:
    """The scopes the principal holds now: the client's own, or the user's through the
    pools of the client's targets (a user gone from every pool is refused)."""
    if username is None:
        return client.held_scopes
    pools = {
        p.pool.name: p.namespace
        for p in client.targets
        if p.pool is not None and username in p.pool.users
    }
    if not pools:
        raise InvalidGrant("the user is no longer in the authentication pool")
    return frozenset(
        scope
        for name, namespace in pools.items()
        for scope in snapshot.user_scopes(namespace, name, username)
    )


def still_reached(client: Client, audience: tuple[str, ...]) -> tuple[Client, tuple[str, ...]]:
    """The client narrowed to the targets of ``audience`` it still reaches, and that
    audience; refused when it reaches none of them any more."""
    reach = set(client.audience)
    kept = tuple(a for a in audience if a in reach)
    targets = tuple(p for p in client.targets if p.target.audience in kept)
    if not kept or not targets:
        raise TargetsUnreached("the client no longer reaches any target of this token")
    return client.narrowed(targets), kept
