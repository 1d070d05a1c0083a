"""The grants of the token endpoints, one module each (RFC 6749 §4.3, §4.4, §6).

Each exposes ``async def decide(client, ctx) -> Grant``; the decision uses only
what :class:`~gatekey.issuer.grants.context.GrantContext` injects.
"""

from collections.abc import Awaitable, Callable

from gatekey.issuer.grants import client_credentials, password, refresh_token
from gatekey.issuer.grants.context import Client, Grant, GrantContext

Decide = Callable[[Client, GrantContext], Awaitable[Grant]]

GRANTS: dict[str, Decide] = {
    "client_credentials": client_credentials.decide,
    "password": password.decide,
    "refresh_token": refresh_token.decide,
}
"""Grant type -> decision; any other ``grant_type`` is ``unsupported_grant_type``."""
