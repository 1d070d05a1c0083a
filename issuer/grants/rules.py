"""What a grant says about itself (pure): the shape each grant module fills in.

As authlib's grant classes (``oauth2/rfc6749/grants``) and fosite's handlers
(``handler/oauth2``) do, each grant owns its name, its client-authentication rule and
its checks. The registry (:mod:`gatekey.issuer.grants`) collects them; the token
endpoint, client authentication, the audit frame, the metrics, the RFC 8414 metadata
and the OpenAPI document read them instead of naming grants themselves.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gatekey.issuer.domain import Client, Grant, GrantContext
from gatekey.issuer.errors import UnauthorizedClient
from gatekey.operator.model.vocabulary import TokenType

Decide = Callable[[Client, GrantContext], Awaitable[Grant]]
"""A token endpoint grant's decision: the grant for this client and request, or an
OAuth error."""


@dataclass(frozen=True)
class GrantRules:
    """One grant's rules, declared by its module."""

    name: str
    """The ``grant_type`` value (RFC 6749 §4), the audit line's ``grant`` and the metric label."""
    decide: Decide | None
    """The decision at the token endpoint; None for a grant served by its own endpoint
    (regeneration takes the old JWT too, and is called by that endpoint)."""
    dash_secret_at: frozenset[TokenType] = frozenset()
    """Policy-mode token endpoints (by type) where the seed's ``client_secret=-`` stands
    in for the proxy key's secret; the real secret is accepted there too."""
    listed: bool = True
    """The client's grant list must name it (``unauthorized_client`` otherwise)."""
    needs_refresh_enabled: bool = False
    """The client's token settings must enable refresh (``unauthorized_client`` otherwise)."""
    user_param: str | None = None
    """The request parameter naming the user: the audit line records it, and the failure
    counters key on it (per username and address)."""
    wrong_password_counts: bool = False
    """An ``invalid_grant`` for a named user is a wrong password: it counts toward the
    failure throttle as a failed client authentication does."""
    issues_refresh: bool = True
    """A refresh token comes with the access token when the settings enable refresh."""
    decided_by_request: bool = False
    """The decision depends on the client and the form alone, not on the store, a user's
    password or a token presented: the token endpoint may remember it for the same
    request (:mod:`gatekey.issuer.http.grant_cache`)."""

    @property
    def at_token_endpoint(self) -> bool:
        """Served by the token endpoints (and so advertised as ``grant_types_supported``)."""
        return self.decide is not None

    def dash_allowed(self, token_type: TokenType) -> bool:
        """Whether ``client_secret=-`` authenticates a proxy key for this grant at a
        Policy-mode endpoint of ``token_type``."""
        return token_type in self.dash_secret_at

    def authorize(self, client: Client) -> None:
        """Refuse a client its settings do not allow this grant (RFC 6749 §5.2
        ``unauthorized_client``)."""
        if self.needs_refresh_enabled and not client.token.refreshable:
            raise UnauthorizedClient("token refresh is not enabled for this client")
        if self.listed and self.name not in client.grant_types:
            raise UnauthorizedClient(f"grant type {self.name} is not allowed for this client")
