"""AuthPolicy: a JWT or OAuth2 authentication policy attached to a proxy target (DESIGN §2)."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gatekey.operator.model.base import Spec
from gatekey.operator.model.common import CustomResource, Name, Target, TargetRef
from gatekey.operator.model.token_management import TokenManagementOverride
from gatekey.operator.model.token_settings import GrantTypes, TokenSettings, unique_grants

PolicyType = Literal["JWT", "OAuth2"]
Management = Literal["Policy", "ACL"]
Algorithm = Literal[
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
]


class UserPool(Spec):
    """The authentication pool: a Secret whose key ``htpasswd`` holds ``user:hash`` lines."""

    secret_name: Name


class PolicyToken(TokenSettings):
    """Token settings of a policy, plus what only a policy decides."""

    algorithm: Algorithm = Field(default="ES256", description="JWT signing algorithm.")
    audience: tuple[str, ...] = Field(default=(), description="Extra aud values.")


class AuthPolicySpec(Spec):
    """The desired state of an AuthPolicy."""

    type: PolicyType
    management: Management = "Policy"
    target_ref: TargetRef
    proxy_key_secret_name: Name | None = None
    grant_types: GrantTypes = ("client_credentials",)
    user_pool: UserPool | None = None
    allow_url_parameters: bool = False
    token: PolicyToken = PolicyToken()
    token_management: TokenManagementOverride | None = None

    _grants = field_validator("grant_types")(unique_grants)

    @model_validator(mode="after")
    def _rules_across_fields(self) -> "AuthPolicySpec":
        if "password" in self.grant_types and self.user_pool is None:
            raise ValueError("userPool.secretName is required when grantTypes allows password")
        if self.target_ref.kind == "ApiProxy" and self.target_ref.proxies:
            raise ValueError("targetRef.proxies is only for ProxyGroup and PolicyGroup")
        return self


class AuthPolicy(CustomResource):
    """An AuthPolicy manifest."""

    api_version: Literal["gatekey.io/v1alpha1"]
    kind: Literal["AuthPolicy"]
    spec: AuthPolicySpec

    @property
    def target(self) -> Target:
        """The proxy target this policy is attached to."""
        ref = self.spec.target_ref
        return Target(self.metadata.namespace, ref.kind, ref.name)

    @property
    def proxy_key_secret_name(self) -> str:
        """The Secret holding the proxy key: named by the user or ``<kind>-<name>-proxy-key``."""
        ref = self.spec.target_ref
        return self.spec.proxy_key_secret_name or f"{ref.kind}-{ref.name}-proxy-key".lower()

    @property
    def endpoint_base(self) -> str:
        """``/auth`` for Manage From This Policy, ``/credential`` for Manage From ACL."""
        return "/auth" if self.spec.management == "Policy" else "/credential"

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The token endpoint paths this policy serves."""
        leaf = "jwt" if self.spec.type == "JWT" else "token"
        return (f"{self.endpoint_base}/{leaf}",)
