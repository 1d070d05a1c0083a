"""AuthPolicy: a JWT or OAuth2 authentication policy attached to a proxy target.

Fields and defaults: docs/contract.md."""

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from gatekey.operator.model.base import Spec, cel_rules
from gatekey.operator.model.client_keys import Jwks, JwksSecretRef
from gatekey.operator.model.common import CustomResource, Name, Target, TargetRef
from gatekey.operator.model.durations import PreviousSecretTTL
from gatekey.operator.model.routes import Routes
from gatekey.operator.model.token_management import TokenManagementOverride
from gatekey.operator.model.token_settings import GrantTypes, TokenSettings, unique_grants
from gatekey.operator.model.vocabulary import Management, TokenType

PolicyType = TokenType
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


_KINDS = "ApiProxy|ProxyGroup|PolicyGroup"
_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
"""A namespace name (DNS-1123 label)."""
_NAME = "[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
"""An object name (DNS-1123 subdomain), as NAME_PATTERN."""
AUDIENCE_LOOKS_LIKE_TARGET = f"^([^/]*/)?({_KINDS})(/.*)?$"
"""An ``aud`` value whose first or second segment is a target kind names a Gatekey target."""
AUDIENCE_TARGET = f"^(({_LABEL})/)?({_KINDS})/{_NAME}$|^({_KINDS})/{_LABEL}/{_NAME}$"
"""The forms such a value may take: ``Kind/name``, or qualified by a namespace as
``namespace/Kind/name`` or ``Kind/namespace/name``."""
AUDIENCE_MAX_LENGTH = 512
MAX_AUDIENCE = 32
"""Bounds the API server needs to cost the CEL rule on each value."""


def _target_form(value: str) -> str:
    if re.fullmatch(AUDIENCE_LOOKS_LIKE_TARGET, value) and not re.fullmatch(AUDIENCE_TARGET, value):
        raise ValueError(
            f"audience value {value!r} names a target kind but is not Kind/name "
            "(ApiProxy, ProxyGroup or PolicyGroup and an object name)"
        )
    return value


AudienceValue = Annotated[
    str,
    AfterValidator(_target_form),
    Field(
        min_length=1,
        max_length=AUDIENCE_MAX_LENGTH,
        json_schema_extra=cel_rules(
            (
                f"!self.matches('{AUDIENCE_LOOKS_LIKE_TARGET}') "
                f"|| self.matches('{AUDIENCE_TARGET}')",
                "an audience value that names a target kind must be Kind/name",
            )
        ),
    ),
]
"""One extra ``aud`` value: a Gatekey target (checked to be the policy's own namespace's
when rendered) or any other string, such as a URL (RFC 7519 §4.1.3: a StringOrURI)."""


def audience_target(value: str) -> tuple[str | None, str, str] | None:
    """``(namespace or None, kind, name)`` of a valid :data:`AudienceValue` that names a
    Gatekey target; None for any other value."""
    if not re.fullmatch(AUDIENCE_TARGET, value):
        return None
    parts = value.split("/")
    if len(parts) == 2:
        return None, parts[0], parts[1]
    if parts[0] in _KINDS.split("|"):
        return parts[1], parts[0], parts[2]
    return parts[0], parts[1], parts[2]


ASYMMETRIC_ALGORITHMS: tuple[str, ...] = tuple(a for a in get_args(Algorithm) if a[:2] != "HS")
"""The signing algorithms a client may prove a key with (DPoP proofs, client assertions):
never ``none``, never an HMAC that a public key could be made to key."""


class UserPool(Spec):
    """The authentication pool: a Secret whose key ``htpasswd`` holds ``user:hash`` lines."""

    secret_name: Name = Field(description="A Secret whose key htpasswd holds user:hash lines.")


Binding = Literal["None", "DPoP", "DPoPRequired"]


class PolicyToken(TokenSettings):
    """Token settings of a policy, plus what only a policy decides."""

    binding: Binding = Field(
        default="None",
        description="Sender-constrained tokens (RFC 9449): None ignores DPoP proofs; DPoP binds "
        "the tokens of a request that carries a proof; DPoPRequired refuses requests without one.",
    )

    algorithm: Algorithm = Field(default="ES256", description="JWT signing algorithm.")
    audience: tuple[AudienceValue, ...] = Field(
        default=(),
        max_length=MAX_AUDIENCE,
        description="Extra aud values: targets of this policy's namespace "
        "(Kind/name, a member proxy as ApiProxy/name) or any other value, such as a URL.",
    )


PROXY_KEY_JWKS_ONE_SOURCE = "at most one of proxyKeyJwks and proxyKeyJwksSecretRef"


class AuthPolicySpec(Spec):
    """The desired state of an AuthPolicy."""

    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                "!has(self.grantTypes) || !('password' in self.grantTypes) || has(self.userPool)",
                "userPool.secretName is required when grantTypes allows password",
            ),
            (
                "!(has(self.proxyKeyJwks) && has(self.proxyKeyJwksSecretRef))",
                PROXY_KEY_JWKS_ONE_SOURCE,
            ),
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
    proxy_key_jwks: Jwks | None = Field(
        default=None,
        description="Policy mode: public keys for private_key_jwt authentication of the "
        "proxy key (RFC 7523), accepted instead of or beside its secret.",
    )
    proxy_key_jwks_secret_ref: JwksSecretRef | None = Field(
        default=None,
        description="Instead of proxyKeyJwks: a Secret of this namespace whose key (default "
        "jwks.json) holds the proxy key's JWK Set.",
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
    previous_secret_ttl: PreviousSecretTTL = Field(
        default="24h",
        alias="previousSecretTTL",
        description="After a rotation (annotation gatekey.io/rotate-secret), how long the "
        "previous client secret still authenticates.",
    )
    routes: Routes | None = Field(
        default=None,
        description="Per-route rules /authz applies to this policy's tokens: the first rule "
        "matching the method and path decides, else default.",
    )

    _grants = field_validator("grant_types")(unique_grants)

    @model_validator(mode="after")
    def _rules_across_fields(self) -> "AuthPolicySpec":
        if "password" in self.grant_types and self.user_pool is None:
            raise ValueError("userPool.secretName is required when grantTypes allows password")
        if self.target_ref.kind == "ApiProxy" and self.target_ref.proxies:
            raise ValueError("targetRef.proxies is only for ProxyGroup and PolicyGroup")
        if self.proxy_key_jwks is not None and self.proxy_key_jwks_secret_ref is not None:
            raise ValueError(PROXY_KEY_JWKS_ONE_SOURCE)
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
