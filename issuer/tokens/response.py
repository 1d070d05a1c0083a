"""The successful token response (RFC 6749 §5.1), shaped by the Token Management Settings."""

from collections.abc import Iterable
from typing import Any

from gatekey.issuer.snapshot import ResolvedClaim
from gatekey.operator.model import ResponseSettings


def token_response(
    *,
    access_token: str,
    refresh_token: str | None,
    ttl: int | None,
    scope: tuple[str, ...],
    settings: ResponseSettings,
    metadata: Iterable[ResolvedClaim] = (),
    token_type: str = "Bearer",  # noqa: S107 (RFC 6750 scheme, not a secret)
    omit_empty_scope: bool = False,
) -> dict[str, Any]:
    """The JSON body: renamed fields, optional ones left out, metadata entries added.

    ``ttl`` is None for an immortal token, which then has no ``expires_in``.
    Metadata never replaces a response field. ``scope`` is there, empty when nothing
    was granted (the seed), unless the policy leaves it out (``response.include.scope:
    false``) or the issuer omits an empty one (``--omit-empty-scope``).
    """
    body: dict[str, Any] = {settings.name("access_token"): access_token}
    if settings.includes("token_type"):
        body[settings.name("token_type")] = token_type
    if ttl is not None and settings.includes("expires_in"):
        factor = 1000 if settings.expires_in_unit == "milliseconds" else 1
        body[settings.name("expires_in")] = ttl * factor
    if refresh_token is not None and settings.includes("refresh_token"):
        body[settings.name("refresh_token")] = refresh_token
    if settings.includes("scope") and (scope or not omit_empty_scope):
        body[settings.name("scope")] = " ".join(scope)
    for claim in metadata:
        if claim.in_response:
            body.setdefault(claim.key, claim.value)
    return body
