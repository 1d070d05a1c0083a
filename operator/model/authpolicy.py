"""AuthPolicy: a JWT or OAuth2 authentication policy attached to a proxy target.

Fields and defaults: docs/contract.md."""

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from gatekey.operator.model.base import Spec, cel_rules
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

    secret_name: Name = Field(description="A Secret whose key htpasswd holds user:hash lines.")


class PolicyToken(TokenSettings):
    """Token settings of a policy, plus what only a policy decides."""

    algorithm: Algorithm = Field(default="ES256", description="JWT signing algorithm.")
    audience: tuple[str, ...] = Field(default=(), description="Extra aud values.")


class AuthPolicySpec(Spec):
    """The desired state of an AuthPolicy."""

    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                "!has(self.grantTypes) || !('password' in self.grantTypes) || has(self.userPool)",
                "userPool.secretName is required when grantTypes allows password",
            )
        )
    )

    type: PolicyType = Field(description="JWT (self-contained tokens) or OAuth2 (opaque).")
    management: Management = Field(
        default="Policy",
        description="Policy: the target's proxy key is the client (/auth). "
        "ACL: Credentials naming the target are the clients (/credential).",
    )
    target_ref: TargetRef
    proxy_key_secret_name: Name | None = Field(
        default=None,
        description="Policy mode: the Secret with the proxy key (client_id, client_secret); "
        "adopted if it exists, generated otherwise. Default <kind>-<name>-proxy-key.",
    )
    grant_types: GrantTypes = Field(
        default=("client_credentials",), description="Grants allowed besides refresh_token."
    )
    user_pool: UserPool | None = Field(
        default=None, description="The user pool of the password grant."
    )
    allow_url_parameters: bool = Field(
        default=False, description="Also accept GET with the parameters in the query string."
    )
    token: PolicyToken = PolicyToken()
    token_management: TokenManagementOverride | None = Field(
        default=None, description="Overrides of the issuer-wide Token Management Settings."
    )

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
