"""Token Management Settings: scope rules and the shape of the token response (docs/contract.md)."""

from collections.abc import Collection, Iterable, Sequence
from typing import Literal, get_args

from pydantic import Field

from gatekey.operator.model.base import Spec

OnMismatch = Literal["Strict", "Lenient", "Ignore"]
WhenNotRequested = Literal["None", "All"]
ResponseField = Literal["access_token", "token_type", "expires_in", "refresh_token", "scope"]
OptionalField = Literal["token_type", "expires_in", "refresh_token", "scope"]
ExpiresInUnit = Literal["seconds", "milliseconds"]
RESPONSE_FIELDS: tuple[ResponseField, ...] = get_args(ResponseField)


class ScopeOverride(Spec):
    """Scope rules, each optional so that a partial override keeps the other defaults."""

    on_mismatch: OnMismatch | None = None
    when_not_requested: WhenNotRequested | None = None
    reject_when_no_roles: bool | None = None


class ResponseOverride(Spec):
    """Response shaping, each optional; maps are keyed by RFC 6749 field names."""

    field_names: dict[ResponseField, str] = Field(default_factory=dict)
    include: dict[OptionalField, bool] = Field(default_factory=dict)
    expires_in_unit: ExpiresInUnit | None = None


class TokenManagementOverride(Spec):
    """A per-policy override of the issuer-wide Token Management Settings."""

    scope: ScopeOverride = ScopeOverride()
    response: ResponseOverride = ResponseOverride()


class ScopeSettings(Spec):
    """Resolved scope rules."""

    on_mismatch: OnMismatch = "Strict"
    when_not_requested: WhenNotRequested = "None"
    reject_when_no_roles: bool = False


class ResponseSettings(Spec):
    """Resolved response shaping."""

    field_names: dict[ResponseField, str] = Field(default_factory=dict)
    include: dict[OptionalField, bool] = Field(default_factory=dict)
    expires_in_unit: ExpiresInUnit = "seconds"

    def name(self, field: ResponseField) -> str:
        """The name ``field`` goes by in the response."""
        return self.field_names.get(field, field)

    def includes(self, field: OptionalField) -> bool:
        """Whether ``field`` appears in the response (all do unless switched off)."""
        return self.include.get(field, True)


class TokenManagement(Spec):
    """The resolved Token Management Settings that one policy applies."""

    scope: ScopeSettings = ScopeSettings()
    response: ResponseSettings = ResponseSettings()

    def overridden(self, override: TokenManagementOverride | None) -> "TokenManagement":
        """These settings with ``override`` applied field by field."""
        if override is None:
            return self
        scope = self.scope.model_copy(
            update=override.scope.model_dump(exclude_none=True, exclude_unset=False)
        )
        response = ResponseSettings(
            field_names={**self.response.field_names, **override.response.field_names},
            include={**self.response.include, **override.response.include},
            expires_in_unit=override.response.expires_in_unit or self.response.expires_in_unit,
        )
        return TokenManagement(scope=scope, response=response)


def response_names(responses: Iterable[ResponseSettings]) -> frozenset[str]:
    """Every name a token response field goes by under one of ``responses``."""
    return frozenset(response.name(field) for response in responses for field in RESPONSE_FIELDS)


def clashing_key(keys: Sequence[str], names: Collection[str]) -> int | None:
    """The index of the first Credential Metadata key among the response field ``names``
    (:func:`response_names`; docs/reference.md: metadata never replaces a response
    field), or None. The RFC 6749 names themselves are reserved by the Credential model."""
    return next((i for i, key in enumerate(keys) if key in names), None)
