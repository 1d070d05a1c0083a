"""Regeneration: a new JWT for a still-valid one of the same client (``/jwt/regenerate``).

Not an RFC 6749 grant; it continues a token as refresh does (RFC 6749 §6), so it
re-checks what refresh re-checks: the client is live and still reaches the token's
targets, the scopes are those the principal holds now (Roles removed since are
dropped), and a password token's user is still in a pool. The old JWT came from the
same client at the same endpoint, in the same namespace.
"""

from gatekey.issuer.domain import Client, Grant, GrantContext
from gatekey.issuer.errors import InvalidGrant
from gatekey.issuer.grants.principal import held_scopes, still_reached
from gatekey.issuer.grants.rules import GrantRules
from gatekey.issuer.verification import Verified

RULES = GrantRules(name="regenerate", decide=None, listed=False, issues_refresh=False)
"""The real secret (or a client assertion), never the seed's ``-``: a stolen JWT must not
be renewable forever. Any client of the JWT endpoint may; no refresh token comes with it."""


def decide(client: Client, ctx: GrantContext, old: Verified) -> Grant:
    """A new token for the principal of ``old``, with no more than it holds now."""
    issued_to = (old.client_id, old.token_type, old.management, old.namespace)
    expected = (client.client_id, "JWT", client.endpoint.management, client.policy.namespace)
    if issued_to != expected:
        raise InvalidGrant("the token was not issued to this client at this endpoint")
    narrowed, audience = still_reached(client, old.audience)
    held = held_scopes(narrowed, old.username, ctx.snapshot)
    return Grant(
        client=narrowed,
        grant_type=RULES.name,
        subject=old.subject,
        username=old.username,
        scope=tuple(s for s in old.scope if s in held),
        audience=audience,
    )
