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


class ResponseTemplate(NamedTuple):
    """The token response of one grant but its tokens: the names of the token fields, and
    every other field, in order (built once per grant, copied into each response)."""

    access_token: str
    refresh_token: str | None
    """None when the policy leaves the refresh token's field out."""
    fields: dict[str, Any]


def response_template(
    *,
    ttl: int | None,
    scope: tuple[str, ...],
    settings: ResponseSettings,
    metadata: Iterable[ResolvedClaim] = (),
    token_type: str = "Bearer",  # noqa: S107 (RFC 6750 scheme, not a secret)
    omit_empty_scope: bool = False,
    refresh: bool = False,
) -> ResponseTemplate:
    """The fields around the tokens: renamed, optional ones left out, metadata entries added.

    ``ttl`` is None for an immortal token, which then has no ``expires_in``.
    Metadata never replaces a response field, nor a token's (``refresh``: a refresh
    token comes with the access token). ``scope`` is there, empty when nothing was
    granted (the seed), unless the policy leaves it out (``response.include.scope:
    false``) or the issuer omits an empty one (``--omit-empty-scope``).
    """
    shape = _shape(settings)
    fields: dict[str, Any] = {}
    if shape.token_type is not None:
        fields[shape.token_type] = token_type
    if ttl is not None and shape.expires_in is not None:
        fields[shape.expires_in] = ttl * shape.factor
    if shape.scope is not None and (scope or not omit_empty_scope):
        fields[shape.scope] = " ".join(scope)
    taken = (shape.access_token, shape.refresh_token if refresh else None)
    for claim in metadata:
        if claim.in_response and claim.key not in taken:
            fields.setdefault(claim.key, claim.value)
    return ResponseTemplate(shape.access_token, shape.refresh_token, fields)


def token_response(
    template: ResponseTemplate, access_token: str, refresh_token: str | None
) -> dict[str, Any]:
    """The JSON body (RFC 6749 §5.1): the tokens, then the template's fields."""
    body: dict[str, Any] = {template.access_token: access_token}
    if refresh_token is not None and template.refresh_token is not None:
        body[template.refresh_token] = refresh_token
    body.update(template.fields)
    return body
