"""Shapes shared by the three kinds: metadata, names, targets."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from gatekey.operator.model.base import Spec
from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=253)]
"""A Kubernetes object name (DNS-1123 subdomain)."""

TargetKind = Literal["ApiProxy", "ProxyGroup", "PolicyGroup"]

DEFAULT_NAMESPACE = "default"


class ObjectMeta(BaseModel):
    """The part of ``metadata`` Gatekey reads; other keys are ignored, as kubectl does."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: Name
    namespace: Name = DEFAULT_NAMESPACE
    uid: str = ""
    generation: int = 0
    creation_timestamp: datetime | None = Field(default=None, alias="creationTimestamp")
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

    kind: TargetKind
    name: Name
    proxies: tuple[Name, ...] = Field(
        default=(),
        description="For ProxyGroup/PolicyGroup: the member ApiProxy names.",
    )
