"""The ``status`` of the three kinds, as the operator writes it (docs/contract.md).

Shapes follow the Kubernetes API conventions: a ``conditions`` list of
``metav1.Condition`` (``type``, ``status``, ``reason``, ``message``,
``lastTransitionTime``, ``observedGeneration``) keyed by ``type``, plus
``observedGeneration`` and the fields each kind reports. The CRD schemas are
generated from these models (``operator/crdgen.py``), so the operator and the
API server agree on every field.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from gatekey.operator.model.base import Spec

ConditionStatus = Literal["True", "False", "Unknown"]

READY_CONDITION = "Ready"
"""The one condition type Gatekey sets, as cert-manager does."""

REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
"""``metav1.Condition.reason``: CamelCase, as the convention asks."""

# Reasons of the Ready condition: every one Gatekey sets, here and nowhere else.
READY = "Ready"
CONFLICT = "Conflict"
"""Another AuthPolicy holds the same type and mode on the target, or the proxy-key Secret."""
SECRET_MISSING = "SecretMissing"
"""The Secret named by ``secretName`` does not exist (never generated when named)."""
SECRET_INVALID = "SecretInvalid"
"""The client Secret has no ``client_id`` or ``client_secret``."""
USER_POOL_MISSING = "UserPoolMissing"
METADATA_SECRET_MISSING = "MetadataSecretMissing"
"""A Credential Metadata ``valueFrom.secretKeyRef`` names a Secret or key that is absent."""
CLIENT_ID_CONFLICT = "ClientIdConflict"
"""Another CR (in any namespace) holds the client id this one would use."""
UNKNOWN_SCOPE = "UnknownScope"
"""``routes`` require a scope that no Role of the namespace defines."""
ROTATION_REFUSED = "RotationRefused"
"""``gatekey.io/rotate-secret`` on a CR whose client Secret the user owns (adopted):
Gatekey never writes that Secret; the user rotates it (docs/reference.md)."""
AUDIENCE_NOT_OWNED = "AudienceNotOwned"
"""``token.audience`` names a target its own namespace does not own (tenancy)."""
RESPONSE_FIELD_CLASH = "ResponseFieldClash"
"""A Credential Metadata ``key`` equals a token response field name that applies to the
Credential (renamed by the issuer-wide settings or a policy its ACL reaches): the entry
would replace or shadow that field in the response."""
JWKS_SECRET_MISSING = "JwksSecretMissing"
"""``jwksSecretRef`` names a Secret or key that does not exist."""
JWKS_INVALID = "JwksInvalid"
"""The JWK Set in the Secret ``jwksSecretRef`` names is not a usable public JWK Set."""
INVALID = "Invalid"
"""The manifest cannot be parsed (a rule the CRD schema does not catch)."""
OBJECT_CONFLICT = "ObjectConflict"
"""A Secret or ConfigMap it needs exists and is not Gatekey's."""
APPLY_FAILED = "ApplyFailed"
"""Writing its objects failed; retried."""

REJECTED = frozenset(
    {AUDIENCE_NOT_OWNED, UNKNOWN_SCOPE, RESPONSE_FIELD_CLASH, JWKS_SECRET_MISSING, JWKS_INVALID}
)
"""Reasons that make a manifest unusable as written, found only with the other objects:
the embedded mode reports them with file and field, like a manifest that does not parse."""


class Condition(Spec):
    """One condition, shaped as metav1.Condition."""

    type: str = Field(min_length=1, max_length=316, description="Condition type: Ready.")
    status: ConditionStatus
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=REASON_PATTERN,
        description="Why: a CamelCase constant such as Ready, Conflict or SecretMissing.",
    )
    message: str = Field(default="", max_length=32768, description="What a person should know.")
    last_transition_time: datetime = Field(
        description="When status last changed (not when the condition was last written)."
    )
    observed_generation: int = Field(
        default=0, ge=0, description="The metadata.generation this condition was computed from."
    )


class CommonStatus(Spec):
    """What every kind reports."""

    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready: whether the issuer serves this object as written.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the operator last acted on."
    )


class SecretGeneration(Spec):
    """One client secret generation: when it was made, and until when it authenticates
    (never its value)."""

    created_at: str | None = Field(
        default=None, description="RFC 3339: when Gatekey generated it (unknown if adopted)."
    )
    expires_at: str | None = Field(
        default=None, description="RFC 3339: the previous secret authenticates until then."
    )


class SecretGenerations(Spec):
    """The client secrets in force: the current one, and the previous one after a rotation."""

    current: SecretGeneration = SecretGeneration()
    previous: SecretGeneration | None = Field(
        default=None, description="Present while the previous secret still authenticates."
    )


class AuthPolicyStatus(CommonStatus):
    """The observed state of an AuthPolicy."""

    client_id: str | None = Field(default=None, description="Policy mode: the proxy key's id.")
    proxy_key_secret_name: str | None = Field(
        default=None, description="Policy mode: the Secret holding the proxy key."
    )
    endpoints: tuple[str, ...] = Field(default=(), description="The token paths this serves.")
    secret_generations: SecretGenerations | None = Field(
        default=None, description="Policy mode: the proxy key's secret generations."
    )


class CredentialStatus(CommonStatus):
    """The observed state of a Credential."""

    client_id: str | None = Field(default=None, description="The client id clients send.")
    secret_name: str | None = Field(
        default=None, description="The Secret with client_id and client_secret."
    )
    roles: tuple[str, ...] = Field(
        default=(), description="Scopes this Credential holds through Roles."
    )
    acl: tuple[str, ...] = Field(
        default=(),
        description="ACL targets (Kind/name) served by an ACL-mode policy, not expired.",
    )
    secret_generations: SecretGenerations | None = Field(
        default=None, description="The client secret generations in force."
    )


class RoleStatus(CommonStatus):
    """The observed state of a Role."""

    scope: str | None = Field(default=None, description="The scope value tokens carry.")
    subjects: int | None = Field(default=None, ge=0, description="How many subjects hold it.")


STATUS_MODELS: dict[str, type[CommonStatus]] = {
    "AuthPolicy": AuthPolicyStatus,
    "Credential": CredentialStatus,
    "Role": RoleStatus,
}
