"""The refresh token grant (RFC 6749 §6, RFC 9700 §4.14).

Refresh tokens rotate on every use; the chain lives for ``refresh.ttl`` from
its first issue and at most ``refresh.maxCount`` refreshes. Presenting a token
that was already rotated revokes the whole chain.
"""

from dataclasses import replace

from gatekey.issuer.errors import InvalidGrant, InvalidRequest
from gatekey.issuer.grants.context import Chain, Client, Grant, GrantContext
from gatekey.issuer.scopes import narrow_scope, parse_scope
from gatekey.issuer.store.base import TokenRecord, token_digest
from gatekey.operator.model import duration_seconds


async def decide(client: Client, ctx: GrantContext) -> Grant:
    """A new token in the chain of the presented refresh token."""
    presented = ctx.params.get("refresh_token")
    if not presented:
        raise InvalidRequest("refresh_token is required")
    digest = token_digest(presented)
    record = await ctx.store.get(digest)
    _check(record, client, ctx.now)
    assert record is not None
    if record.used:
        await ctx.store.revoke_chain(record.chain_id)
        raise InvalidGrant("refresh token was already used; its chain is revoked")
    held = _held(client, record, ctx)
    scope = narrow_scope(parse_scope(ctx.params.get("scope")), record.scope, held)
    audience = tuple(a for a in record.audience if a in set(client.audience))
    if not audience:
        raise InvalidGrant("the client no longer reaches any target of this token")
    if not await ctx.store.use_refresh(digest):
        raise InvalidGrant("refresh token was already used")
    targets = tuple(p for p in client.targets if p.target.audience in audience) or client.targets
    return Grant(
        client=replace(client, targets=targets, policy=targets[0]),
        grant_type="refresh_token",
        subject=record.subject,
        username=record.username,
        scope=scope,
        audience=audience,
        chain=Chain(record.chain_id, record.chain_started_at, record.refresh_count + 1),
    )


def _check(record: TokenRecord | None, client: Client, now: float) -> None:
    """The token is a live refresh token of this client and endpoint, inside its window."""
    if (
        record is None
        or record.kind != "refresh"
        or record.client_id != client.client_id
        or (record.namespace and record.namespace != client.policy.namespace)
        or record.token_type != client.endpoint.type
        or record.management != client.endpoint.management
    ):
        raise InvalidGrant("unknown refresh token")
    if record.revoked:
        raise InvalidGrant("refresh token was revoked")
    window = duration_seconds(client.token.refresh.ttl)
    if now >= record.chain_started_at + window:
        raise InvalidGrant("refresh token has expired")
    limit = client.token.refresh.max_count
    if limit and record.refresh_count >= limit:
        raise InvalidGrant("refresh limit reached for this token")


def _held(client: Client, record: TokenRecord, ctx: GrantContext) -> frozenset[str]:
    """What the principal holds now: roles taken away since the grant are dropped.

    A user removed from the pool can no longer refresh.
    """
    if record.username is None:
        return client.held_scopes
    pools = {
        p.pool.name: p.namespace
        for p in client.targets
        if p.pool is not None and record.username in p.pool.users
    }
    if not pools:
        raise InvalidGrant("the user is no longer in the authentication pool")
    return frozenset(
        scope
        for name, namespace in pools.items()
        for scope in ctx.snapshot.user_scopes(namespace, name, record.username)
    )
