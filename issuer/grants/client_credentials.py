"""The client credentials grant (RFC 6749 §4.4): the client is the principal."""

from gatekey.issuer.domain import Client, Grant, GrantContext
from gatekey.issuer.grants.rules import GrantRules
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
        grant_type=RULES.name,
        subject=client.client_id,
        username=None,
        scope=scope,
        audience=client.audience,
    )


RULES = GrantRules(name="client_credentials", decide=decide, decided_by_request=True)
"""The real secret (or a client assertion) always; the client's grant list must name it;
the scope follows from the client's roles and the form alone."""
