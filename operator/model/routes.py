"""Per-route rules of an AuthPolicy: what a token must hold for a method and path (pure).

``/authz`` applies them after the token itself has been verified: the first rule
whose path and methods match the request decides; when none matches, the
policy's ``default`` does. Paths are matched after normalisation (see
``gatekey.issuer.routes``), case-insensitively and segment by segment.
"""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from gatekey.operator.model.base import Spec, cel_rules
from gatekey.operator.model.role import SCOPE_PATTERN

Action = Literal["Allow", "Deny"]
MAX_RULES = 256
MAX_PATTERN = 1024
"""Bounds for the API server's CEL cost estimate and for the compiled matcher."""

PATH_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$"
"""RFC 3986 path characters, plus the glob's ``*`` and ``?``."""
METHOD_PATTERN = r"^[A-Z]{1,16}$"
Method = Annotated[str, Field(pattern=METHOD_PATTERN)]
ScopeToken = Annotated[str, Field(pattern=SCOPE_PATTERN, max_length=256)]


def check_glob(glob: str) -> str:
    """``*`` matches within one segment, ``**`` any number of whole segments, ``?`` one
    character; ``**`` must be a segment of its own (``/a/**/b``, not ``/a**``)."""
    for segment in glob.split("/"):
        if "**" in segment and segment != "**":
            raise ValueError(f"glob {glob!r}: ** must be a whole path segment")
    return glob


class PathMatch(Spec):
    """Exactly one of ``exact``, ``prefix`` (whole segments: ``/admin`` covers
    ``/admin/x``, not ``/administrator``) or ``glob``."""

    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                "[has(self.exact), has(self.prefix), has(self.glob)].filter(x, x).size() == 1",
                "exactly one of exact, prefix and glob is required",
            ),
            (
                "!has(self.glob) || !self.glob.matches('[^/][*][*]|[*][*][^/]')",
                "** must be a whole path segment",
            ),
        )
    )

    exact: str | None = Field(default=None, pattern=PATH_PATTERN, max_length=MAX_PATTERN)
    prefix: str | None = Field(default=None, pattern=PATH_PATTERN, max_length=MAX_PATTERN)
    glob: str | None = Field(default=None, pattern=PATH_PATTERN, max_length=MAX_PATTERN)

    @model_validator(mode="after")
    def _exactly_one(self) -> "PathMatch":
        given = [v for v in (self.exact, self.prefix, self.glob) if v is not None]
        if len(given) != 1:
            raise ValueError("exactly one of exact, prefix and glob is required")
        if self.glob is not None:
            check_glob(self.glob)
        return self


class Requirement(Spec):
    """What the token must hold. Scopes are the scopes of Roles (a token's ``scope``)."""

    all_of: tuple[ScopeToken, ...] = Field(
        default=(), max_length=64, description="Every one of these scopes."
    )
    any_of: tuple[ScopeToken, ...] = Field(
        default=(), max_length=64, description="At least one of these scopes."
    )
    claims: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Credential Metadata entries (by key) that must have these values.",
    )

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the requirement names."""
        return frozenset(self.all_of) | frozenset(self.any_of)


class RouteRule(Spec):
    """One rule: where it applies (``path``, ``methods``; absent means any) and what it
    decides (``Deny``, or ``Allow`` when the token meets ``require``)."""

    path: PathMatch | None = None
    methods: tuple[Method, ...] = Field(
        default=(), max_length=16, description="HTTP methods (upper case); any when empty."
    )
    action: Action = "Allow"
    require: Requirement = Requirement()


class Routes(Spec):
    """The ordered rules of a policy; the first match decides, else ``default``."""

    default: Action = Field(default="Allow", description="When no rule matches.")
    rules: tuple[RouteRule, ...] = Field(default=(), max_length=MAX_RULES)

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the rules name (each must be defined by a Role)."""
        return frozenset(s for rule in self.rules for s in rule.require.scopes)
