"""The refresh token grant (RFC 6749 §6, RFC 9700 §4.14).

Refresh tokens rotate on every use; the chain lives for ``refresh.ttl`` from
its first issue and at most ``refresh.maxCount`` refreshes. Presenting a token
that was already rotated revokes the whole chain: every refresh and opaque access token
stored in it, and the JWT access tokens minted in it (their ``jti`` goes on the deny
list). The rotation itself (the old token used, its successors stored) is one atomic
step of the store, done when the new tokens are minted: of several requests racing with
one refresh token, one wins, and once any other one is told of the reuse, the winner's
new tokens are dead too.
"""

from gatekey.issuer.errors import InvalidGrant, InvalidRequest
from gatekey.issuer.grants.context import Chain, Client, Grant, GrantContext
from gatekey.issuer.grants.principal import held_scopes, still_reached
from gatekey.issuer.scopes import narrow_scope, parse_scope
from gatekey.issuer.store.base import TokenRecord, TokenStore, token_digest
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
        await revoke_chain(ctx.store, record.chain_id)
        raise reused()
    if record.jkt and record.jkt != ctx.dpop_jkt:
        # RFC 9449 §5: a refresh token bound to a key needs a proof of that key.
        raise InvalidGrant("the refresh token is bound to a DPoP key this request did not prove")
    narrowed, audience = still_reached(client, record.audience)
    held = held_scopes(narrowed, record.username, ctx.snapshot)
    scope = narrow_scope(parse_scope(ctx.params.get("scope")), record.scope, held)
    return Grant(
        client=narrowed,
        grant_type="refresh_token",
        subject=record.subject,
        username=record.username,
        scope=scope,
        audience=audience,
        chain=Chain(
            record.chain_id, record.chain_started_at, record.refresh_count + 1, rotates=digest
        ),
        jkt=record.jkt or None,
    )


def reused() -> InvalidGrant:
    """The answer to a refresh token presented a second time."""
    return InvalidGrant("refresh token was already used; its chain is revoked")


async def revoke_chain(store: TokenStore, chain_id: str) -> None:
    """Revoke a chain in the store, then tell every replica of the JWTs it denied."""
    for jti, until in (await store.revoke_chain(chain_id)).items():
        await store.publish({"type": "deny", "jti": jti, "until": until})


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
