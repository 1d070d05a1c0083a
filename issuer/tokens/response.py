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
) -> dict[str, Any]:
    """The JSON body: renamed fields, optional ones left out, metadata entries added.

    ``ttl`` is None for an immortal token, which then has no ``expires_in``.
    Metadata never replaces a response field.
    """
    body: dict[str, Any] = {settings.name("access_token"): access_token}
    if settings.includes("token_type"):
        body[settings.name("token_type")] = "Bearer"
    if ttl is not None and settings.includes("expires_in"):
        factor = 1000 if settings.expires_in_unit == "milliseconds" else 1
        body[settings.name("expires_in")] = ttl * factor
    if refresh_token is not None and settings.includes("refresh_token"):
        body[settings.name("refresh_token")] = refresh_token
    if settings.includes("scope"):
        body[settings.name("scope")] = " ".join(scope)
    for claim in metadata:
        if claim.in_response:
            body.setdefault(claim.key, claim.value)
    return body
