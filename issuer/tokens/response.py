"""The successful token response (RFC 6749 §5.1), shaped by the Token Management Settings."""

from collections.abc import Iterable
from typing import Any, NamedTuple

from gatekey.issuer.snapshot import ResolvedClaim
from gatekey.operator.model import ResponseSettings


class _Shape(NamedTuple):
    """What a :class:`ResponseSettings` says, read once: each field's name, or None when
    the field is left out, and the factor of ``expires_in``."""

    access_token: str
    token_type: str | None
    expires_in: str | None
    refresh_token: str | None
    scope: str | None
    factor: int


_SHAPES: dict[int, tuple[ResponseSettings, _Shape]] = {}
"""By ``id`` of the settings object (kept alive here so that the id stays its own); the
settings of a snapshot live as long as it, so the table is emptied when it grows large."""
_MAX_SHAPES = 4096


def _shape(settings: ResponseSettings) -> _Shape:
    found = _SHAPES.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]

    def named(field: Any) -> str | None:
        return settings.name(field) if settings.includes(field) else None

    shape = _Shape(
        access_token=settings.name("access_token"),
        token_type=named("token_type"),
        expires_in=named("expires_in"),
        refresh_token=named("refresh_token"),
        scope=named("scope"),
        factor=1000 if settings.expires_in_unit == "milliseconds" else 1,
    )
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[id(settings)] = (settings, shape)
    return shape


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
    shape = _shape(settings)
    body: dict[str, Any] = {shape.access_token: access_token}
    if shape.token_type is not None:
        body[shape.token_type] = token_type
    if ttl is not None and shape.expires_in is not None:
        body[shape.expires_in] = ttl * shape.factor
    if refresh_token is not None and shape.refresh_token is not None:
        body[shape.refresh_token] = refresh_token
    if shape.scope is not None and (scope or not omit_empty_scope):
        body[shape.scope] = " ".join(scope)
    for claim in metadata:
        if claim.in_response:
            body.setdefault(claim.key, claim.value)
    return body
