"""The words the operator and the issuer share (pure, imports nothing of Gatekey).

A policy's management mode decides the base path of its endpoints and the issuer
identifier of its tokens (``<issuer URL>/auth`` or ``/credential``); its type decides
the token endpoint under that base (``/jwt`` or ``/token``). Written here once, for the
routes, the ``iss`` of tokens, the stored token records, the OpenAPI document and the
resource model.
"""

from dataclasses import dataclass
from typing import Literal

Management = Literal["Policy", "ACL"]
"""``Policy``: "Manage From This Policy" (the target's proxy key is the client);
``ACL``: "Manage From ACL" (Credentials are the clients)."""
TokenType = Literal["JWT", "OAuth2"]
"""``JWT``: signed access tokens (RFC 9068); ``OAuth2``: opaque ones, kept in the store."""

MANAGEMENTS: tuple[Management, ...] = ("Policy", "ACL")
TOKEN_TYPES: tuple[TokenType, ...] = ("JWT", "OAuth2")

BASES: dict[Management, str] = {"Policy": "/auth", "ACL": "/credential"}
"""Management mode -> the base path of its endpoints and of its issuer identifier."""
MANAGEMENT_OF_BASE: dict[str, Management] = {base: mode for mode, base in BASES.items()}
"""Base path -> management mode (the inverse of :data:`BASES`)."""
LEAVES: dict[TokenType, str] = {"JWT": "jwt", "OAuth2": "token"}
"""Token type -> the token endpoint's last path segment."""

REGENERATE = "regenerate"
"""The segment after a JWT token endpoint's path where a JWT is regenerated."""
INTROSPECT = "introspect"
"""RFC 7662's endpoint under each base."""
REVOKE = "revoke"
"""RFC 7009's endpoint under each base."""


@dataclass(frozen=True)
class Endpoint:
    """One of the four token endpoints: ``/auth|/credential`` x ``/jwt|/token``."""

    management: Management
    type: TokenType

    @property
    def base(self) -> str:
        return BASES[self.management]

    @property
    def path(self) -> str:
        return f"{self.base}/{LEAVES[self.type]}"


ENDPOINTS: tuple[Endpoint, ...] = tuple(
    Endpoint(management, type_) for management in MANAGEMENTS for type_ in TOKEN_TYPES
)
"""Every token endpoint, Policy mode first, JWT before OAuth2 (the order routes are added)."""
