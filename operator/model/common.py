"""Shapes shared by the three kinds: metadata, names, targets."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gatekey.operator.model.base import Spec, cel_rules

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=253)]
"""A Kubernetes object name (DNS-1123 subdomain)."""


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Instant = Annotated[datetime, AfterValidator(_utc)]
"""An RFC 3339 instant; an unquoted YAML timestamp without a zone is taken as UTC."""

TargetKind = Literal["ApiProxy", "ProxyGroup", "PolicyGroup"]

DEFAULT_NAMESPACE = "default"


class ObjectMeta(BaseModel):
    """The part of ``metadata`` Gatekey reads; other keys are ignored, as kubectl does."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: Name
    namespace: Name = DEFAULT_NAMESPACE
    uid: str = ""
    generation: int = 0
    creation_timestamp: Instant | None = Field(default=None, alias="creationTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Target:
    """An API proxy, proxy group or policy group in a namespace: what policies attach to."""

    namespace: str
    kind: str
    name: str

    @property
    def audience(self) -> str:
        """The ``aud`` value a token for this target carries: ``<Kind>/<name>``."""
        return f"{self.kind}/{self.name}"


class TargetRef(Spec):
    """What an AuthPolicy is attached to."""

    # The Python check lives in AuthPolicySpec (its message names the field); same rule.
    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                "self.kind != 'ApiProxy' || !has(self.proxies) || size(self.proxies) == 0",
                "targetRef.proxies is only for ProxyGroup and PolicyGroup",
            )
        )
    )

    kind: TargetKind = Field(description="ApiProxy, ProxyGroup or PolicyGroup.")
    name: Name = Field(description="The target's name.")
    proxies: tuple[Name, ...] = Field(
        default=(),
        description="For ProxyGroup/PolicyGroup: the member ApiProxy names.",
    )


class CustomResource(Spec):
    """What the three kinds share: metadata, and a ``status`` that is read and ignored
    (so that ``kubectl get -o yaml`` output can be used as a manifest)."""

    metadata: ObjectMeta
    status: dict[str, Any] | None = Field(default=None, exclude=True)
