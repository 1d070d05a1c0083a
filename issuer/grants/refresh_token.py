"""The refresh token grant (RFC 6749 §6, RFC 9700 §4.14).

Refresh tokens rotate on every use; the chain lives for ``refresh.ttl`` from
its first issue and at most ``refresh.maxCount`` refreshes. Presenting a token
that was already rotated revokes the whole chain: every refresh and opaque access token
stored in it, and the JWT access tokens minted in it (their ``jti`` goes on the deny
list). The rotation itself (the old token used, its successors stored) is one atomic
step of the store, done when the new tokens are minted: of several requests racing with
one refresh token, one wins, and once any other one is told of the reuse, the winner's
new tokens are dead too.

With ``refresh.reuseGracePeriod``, a token presented again within that time of its
rotation (a retry after a lost response) is not a reuse: the retry's answer replaces the
earlier one, whose tokens die (its refresh token becomes a used one, so presenting it
later is a reuse). One branch of the chain is live at any time, however many retries
race. Once the earlier answer was used, or after the period, it is a reuse as without it.
"""

from collections.abc import Sequence

from gatekey.issuer.domain import Chain, Client, Grant, GrantContext
from gatekey.issuer.errors import InvalidGrant, InvalidRequest
from gatekey.issuer.grants.principal import held_scopes, still_reached
from gatekey.issuer.grants.rules import GrantRules
from gatekey.issuer.scopes import narrow_scope, parse_scope
from gatekey.issuer.store.base import ChainJwt, TokenRecord, token_digest
from gatekey.issuer.store.events import JtiDenied
from gatekey.issuer.store.ports import ChainRevocation
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
    if record.used and not _within_grace(record, client, ctx.now):
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
        grant_type=RULES.name,
        subject=record.subject,
        username=record.username,
        scope=scope,
        audience=audience,
        chain=Chain(
            record.chain_id, record.chain_started_at, record.refresh_count + 1, rotates=digest
        ),
        jkt=record.jkt or None,
    )


RULES = GrantRules(
    name="refresh_token",
    decide=decide,
    dash_secret_at=frozenset({"JWT"}),
    listed=False,
    needs_refresh_enabled=True,
)
"""The seed's ``-`` secret at the Policy-mode JWT endpoint only (the opaque one needs the
real secret); allowed by enabling refresh, not by the grant list."""


async def rotate(
    grant: Grant, ctx: GrantContext, records: Sequence[TokenRecord], jwts: Sequence[ChainJwt]
) -> None:
    """Store the successors of the refresh token ``grant.chain.rotates`` in one atomic step
    of the store: a rotation, or within the grace period the replacement of the answer a
    retry did not get. Else (a reuse, or the chain was revoked meanwhile) revoke the chain:
    nothing minted here is stored and nothing is answered."""
    assert grant.chain is not None
    assert grant.chain.rotates is not None
    digest, store = grant.chain.rotates, ctx.store
    if await store.rotate(digest, *records, jwts=jwts, now=ctx.now):
        return
    grace = grace_seconds(grant.client)
    if grace:
        denied = await store.replace_rotation(digest, *records, jwts=jwts, now=ctx.now, grace=grace)
        if denied is not None:
            for jti, until in denied.items():
                await store.publish(JtiDenied(jti, until))
            return
    await revoke_chain(store, grant.chain.chain_id)
    raise reused()


def grace_seconds(client: Client) -> int:
    """``refresh.reuseGracePeriod`` of the client's settings, in seconds."""
    return duration_seconds(client.token.refresh.reuse_grace_period)


def _within_grace(record: TokenRecord, client: Client, now: float) -> bool:
    """A rotated token presented again soon enough to be a retry (the store decides for
    good, atomically: this only spares a doomed mint)."""
    return record.used_at is not None and now < record.used_at + grace_seconds(client)


def reused() -> InvalidGrant:
    """The answer to a refresh token presented a second time."""
    return InvalidGrant("refresh token was already used; its chain is revoked")


async def revoke_chain(store: ChainRevocation, chain_id: str) -> None:
    """Revoke a chain in the store, then tell every replica of the JWTs it denied."""
    for jti, until in (await store.revoke_chain(chain_id)).items():
        await store.publish(JtiDenied(jti, until))


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
