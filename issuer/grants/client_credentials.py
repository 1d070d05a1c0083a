"""The client credentials grant (RFC 6749 §4.4): the client is the principal."""

from gatekey.issuer.grants.context import Client, Grant, GrantContext
from gatekey.issuer.scopes import parse_scope, resolve_scope


async def decide(client: Client, ctx: GrantContext) -> Grant:
    """A token for the client itself, with the scope its Roles allow."""
    scope = resolve_scope(
        parse_scope(ctx.params.get("scope")),
        client.held_scopes,
        client.policy.settings.scope,
    )
    return Grant(
        client=client,
        grant_type="client_credentials",
        subject=client.client_id,
        username=None,
        scope=scope,
        audience=client.audience,
    )
