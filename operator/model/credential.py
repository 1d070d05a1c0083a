"""Credential: a client of "Manage From ACL" policies (docs/contract.md)."""

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from gatekey.operator.model.base import Spec, cel_rules
from gatekey.operator.model.client_keys import Jwks, JwksSecretRef
from gatekey.operator.model.common import CustomResource, Instant, Name, TargetKind
from gatekey.operator.model.durations import PreviousSecretTTL
from gatekey.operator.model.token_settings import GrantTypes, TokenSettings, unique_grants

RESERVED_CLAIM_NAMES = frozenset(
    {
        # RFC 7519 §4.1 registered claims
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        # RFC 6749 §5.1 / §5.2 and RFC 8693 §2.2.1 response fields
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "issued_token_type",
        "error",
        "error_description",
        "error_uri",
        # RFC 9068 §2.2 (Gatekey sets scope and client_id itself) and §2.2.3.1
        "scope",
        "client_id",
        "auth_time",
        "acr",
        "amr",
        "roles",
        "groups",
        "entitlements",
        # RFC 8693 §4.1, §4.4: delegation
        "act",
        "may_act",
        # RFC 7800 §3.1 / RFC 9449 §6: proof-of-possession key binding
        "cnf",
        # OpenID Connect Core §2, §3.3.2.11 and Front-Channel Logout §3: who the token is for
        "azp",
        "nonce",
        "at_hash",
        "c_hash",
        "s_hash",
        "sid",
        # RFC 7662 §2.2 introspection response members not listed above
        "active",
        "username",
        # RFC 7515 §4.1 / RFC 9068 §2.1 JOSE header parameters, which some libraries
        # read from the payload when the header lacks them
        "typ",
        "cty",
        "alg",
        "kid",
        "crit",
        "jku",
        "jwk",
        "x5u",
        "x5c",
        "x5t",
    }
)
"""Claim names Credential Metadata may not use, as ``key`` nor as ``claimName``.

They carry identity, authorization or token integrity: a value written in metadata
would be read by a proxy or a verifier as if Gatekey had decided it. Compared
case-insensitively: RFC 7519 §4 names are case-sensitive, but consumers that map
JSON members or claim types without regard to case exist (ASP.NET's
``PropertyNameCaseInsensitive``, header-based forwarding), and ``Roles`` next to a
real ``roles`` is never a name a client needs.
"""


def is_reserved(name: str) -> bool:
    """Whether ``name`` is a reserved claim or response field name, in any case."""
    return name.lower() in RESERVED_CLAIM_NAMES


CLAIM_NAME_PATTERN = r"^[A-Za-z0-9_.:-]+$"
CLAIM_NAME_MAX = 253
MAX_CLAIMS = 64
"""A bound the API server needs to cost the CEL rule that compares claim names pairwise."""

# One case-insensitive RE2 pattern: Kubernetes' CEL has lowerAscii(), but a regex is in
# every CEL implementation (cel-python included, which the tests evaluate rules with).
_RESERVED_RE = "(?i)^(" + "|".join(sorted(RESERVED_CLAIM_NAMES)) + ")$"
_JWT_NAMES_CEL = (
    "self.claims.filter(c, !(has(c.secret) && c.secret) && "
    "(!has(c.includeInJwt) || c.includeInJwt))"
    ".map(c, has(c.claimName) ? c.claimName : c.key)"
)


class SecretKeyRef(Spec):
    """A key of a Secret in the Credential's namespace, as in Kubernetes env vars."""

    name: Name
    key: str = Field(min_length=1)


class ValueFrom(Spec):
    """Where a metadata value comes from when it is not written inline."""

    secret_key_ref: SecretKeyRef


class Claim(Spec):
    """One Credential Metadata entry."""

    model_config = Spec.model_config | ConfigDict(
        coerce_numbers_to_str=True,
        json_schema_extra=cel_rules(
            (
                "has(self.value) != has(self.valueFrom)",
                "exactly one of value and valueFrom is required",
            ),
            (
                f"!self.key.matches('{_RESERVED_RE}')",
                "key is a reserved claim or response field name",
            ),
            (
                f"!has(self.claimName) || !self.claimName.matches('{_RESERVED_RE}')",
                "claimName is a reserved claim or response field name",
            ),
        ),
    )

    key: str = Field(min_length=1, max_length=CLAIM_NAME_MAX, pattern=CLAIM_NAME_PATTERN)
    value: str | None = Field(
        default=None,
        # Numbers are accepted and kept as text, as the model coerces them.
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )
    value_from: ValueFrom | None = None
    secret: bool = Field(default=False, description="Never put in a JWT.")
    include_in_jwt: bool = True
    include_in_token_response: bool = False
    claim_name: str | None = Field(
        default=None, max_length=CLAIM_NAME_MAX, pattern=CLAIM_NAME_PATTERN
    )

    @model_validator(mode="after")
    def _one_value_and_no_reserved_name(self) -> "Claim":
        if (self.value is None) == (self.value_from is None):
            raise ValueError("exactly one of value and valueFrom is required")
        for name in {self.key, self.jwt_name}:
            if is_reserved(name):
                raise ValueError(
                    f"{name!r} is a reserved claim or response field name "
                    "(it carries identity or authorization)"
                )
        return self

    @property
    def jwt_name(self) -> str:
        """The claim's name in a JWT."""
        return self.claim_name or self.key

    @property
    def in_jwt(self) -> bool:
        """Whether the entry goes into JWTs (a secret entry never does)."""
        return self.include_in_jwt and not self.secret


class AclEntry(Spec):
    """One entry of the "API Proxy ACL"."""

    kind: TargetKind
    name: Name
    expires_at: Instant | None = Field(
        default=None, description="After this instant the entry grants nothing."
    )


class CredentialToken(TokenSettings):
    """The "Token Settings" of a credential."""

    grant_types: GrantTypes = ("client_credentials",)

    _grants = field_validator("grant_types")(unique_grants)


JWKS_ONE_SOURCE = "at most one of jwks and jwksSecretRef"


class CredentialSpec(Spec):
    """The desired state of a Credential."""

    model_config = Spec.model_config | ConfigDict(
        json_schema_extra=cel_rules(
            (
                f"!has(self.claims) || {_JWT_NAMES_CEL}.all(n, {_JWT_NAMES_CEL}"
                ".exists_one(m, m == n))",
                "claims must not put two entries under one JWT claim name",
            ),
            ("!(has(self.jwks) && has(self.jwksSecretRef))", JWKS_ONE_SOURCE),
        )
    )

    secret_name: Name | None = Field(
        default=None,
        description="The Secret with client_id and client_secret (default <name>-credentials). "
        "Adopted if it exists; if named here and missing, never generated.",
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[\x21-\x7e]+$",
        description="A fixed client id, when the Secret has none; generated otherwise.",
    )
    acl: tuple[AclEntry, ...] = Field(
        default=(), description="API Proxy ACL: the targets this client may get tokens for."
    )
    jwks: Jwks | None = Field(
        default=None,
        description="Public keys for private_key_jwt client authentication (RFC 7523), "
        "accepted instead of or beside the secret.",
    )
    jwks_secret_ref: JwksSecretRef | None = Field(
        default=None,
        description="Instead of jwks: a Secret of this namespace whose key (default "
        "jwks.json) holds the JWK Set; a change to it takes effect without editing this.",
    )
    token: CredentialToken = CredentialToken()
    claims: tuple[Claim, ...] = Field(
        default=(),
        max_length=MAX_CLAIMS,
        # Unique keys, checked by the API server itself (a list-map keyed by key).
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
    )
    disabled: bool = Field(default=False, description="invalid_client; its tokens stop verifying.")
    expires_at: Instant | None = Field(
        default=None, description="After this instant the Credential is treated as disabled."
    )
    previous_secret_ttl: PreviousSecretTTL = Field(
        default="24h",
        alias="previousSecretTTL",
        description="After a rotation (annotation gatekey.io/rotate-secret), how long the "
        "previous client secret still authenticates.",
    )

    @model_validator(mode="after")
    def _unique_claim_keys(self) -> "CredentialSpec":
        if self.jwks is not None and self.jwks_secret_ref is not None:
            raise ValueError(JWKS_ONE_SOURCE)
        keys = [c.key for c in self.claims]
        if len(keys) != len(set(keys)):
            raise ValueError("claims keys must be unique")
        jwt_names = [c.jwt_name for c in self.claims if c.in_jwt]
        if len(jwt_names) != len(set(jwt_names)):
            raise ValueError("claims must not put two entries under one JWT claim name")
        return self


class Credential(CustomResource):
    """A Credential manifest."""

    api_version: Literal["gatekey.io/v1alpha1"]
    kind: Literal["Credential"]
    spec: CredentialSpec = CredentialSpec()

    @property
    def secret_name(self) -> str:
        """The Secret with ``client_id`` and ``client_secret``: named, or ``<name>-credentials``."""
        return self.spec.secret_name or f"{self.metadata.name}-credentials"

    @property
    def secret_named_explicitly(self) -> bool:
        """A named Secret is never generated: when missing, the Credential is not Ready."""
        return self.spec.secret_name is not None
