"""Role: a scope and who holds it, RBAC-style subjects (docs/contract.md)."""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from gatekey.operator.model.base import Spec, cel_rules
from gatekey.operator.model.common import CustomResource, Name

SubjectKind = Literal["User", "Credential", "ApiProxy", "ProxyGroup", "PolicyGroup"]
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"  # RFC 6749 §3.3 scope-token


class Subject(Spec):
    """One holder of a role."""

    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                "!has(self.pool) || self.kind == 'User'",
                "pool is only meaningful for subjects of kind User",
            )
        )
    )

    kind: SubjectKind
    name: str = Field(min_length=1)
    pool: Name | None = Field(
        default=None, description="User only: the user-pool Secret; any pool when absent."
    )

    @model_validator(mode="after")
    def _pool_only_for_users(self) -> "Subject":
        if self.pool is not None and self.kind != "User":
            raise ValueError("pool is only meaningful for subjects of kind User")
        return self


class RoleSpec(Spec):
    """The desired state of a Role."""

    scope: str | None = Field(
        default=None,
        pattern=SCOPE_PATTERN,
        description="The scope value clients request and tokens carry (default: the name).",
    )
    description: str = ""
    subjects: tuple[Subject, ...] = Field(
        default=(),
        description="Who holds the role: User (of a user pool), Credential, or a proxy target.",
    )


class Role(CustomResource):
    """A Role manifest (``roles.gatekey.io``, short name ``gkrole``)."""

    api_version: Literal["gatekey.io/v1alpha1"]
    kind: Literal["Role"]
    spec: RoleSpec = RoleSpec()

    @property
    def scope(self) -> str:
        """The scope value: ``spec.scope`` or the Role's name."""
        return self.spec.scope or self.metadata.name
