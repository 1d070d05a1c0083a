"""The operator -> issuer contract: names, labels, annotations and data keys (docs/contract.md).

The single source for both sides: ``render`` writes objects with these helpers and
the issuer's Snapshot reads them back with the same constants. Bump
:data:`FORMAT` when a payload changes incompatibly.
"""

import base64
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

Manifest = dict[str, Any]

COMPONENT_LABEL: Final = "gatekey.io/component"
COMPONENT: Final = "issuer-config"
FORMAT_LABEL: Final = "gatekey.io/format"
FORMAT: Final = "1"
CONFIG_KIND_LABEL: Final = "gatekey.io/config-kind"
SOURCE_KIND_ANNOTATION: Final = "gatekey.io/source-kind"
SOURCE_NAME_ANNOTATION: Final = "gatekey.io/source-name"
ADOPTED_ANNOTATION: Final = "gatekey.io/adopted"

SELECTOR: Final = f"{COMPONENT_LABEL}={COMPONENT}"
"""The label selector the issuer lists and watches with."""

ConfigKind = Literal[
    "authpolicy",
    "credential",
    "role",
    "jwks",
    "proxy-key",
    "credential-secret",
    "credential-metadata",
    "user-pool",
    "signing-keys",
]

# Data keys.
AUTHPOLICY_KEY: Final = "authpolicy.json"
CREDENTIAL_KEY: Final = "credential.json"
ROLE_KEY: Final = "role.json"
JWKS_KEY: Final = "jwks.json"
SIGNING_KEYS_KEY: Final = "keys.json"
CLIENT_ID_KEY: Final = "client_id"
CLIENT_SECRET_KEY: Final = "client_secret"
HTPASSWD_KEY: Final = "htpasswd"

# Secret rotation with overlap (docs/reference.md, "Rotate a client secret without
# downtime"). Keys of a client Secret (proxy key or Credential): the user may write the
# first two into an adopted Secret; Gatekey writes all of them into the Secrets it owns.
PREVIOUS_CLIENT_SECRET_KEY: Final = "previous_client_secret"
"""The secret before the last rotation: it still authenticates until its expiry."""
PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY: Final = "previous_client_secret_expires_at"
"""RFC 3339 instant after which the previous secret no longer authenticates (required
with it: a previous secret without a valid expiry is ignored)."""
CLIENT_SECRET_CREATED_AT_KEY: Final = "client_secret_created_at"
"""RFC 3339 instant the current secret was generated (Gatekey-owned Secrets, for status)."""
PREVIOUS_CLIENT_SECRET_CREATED_AT_KEY: Final = "previous_client_secret_created_at"
ROTATION_HANDLED_KEY: Final = "rotation_handled"
"""JSON list of the ``gatekey.io/rotate-secret`` values already acted on, so that a
restarted operator (or the next pass) does not rotate again for the same request."""

# Annotations on a Credential or AuthPolicy (cluster mode: declarative rotation).
ROTATE_SECRET_ANNOTATION: Final = "gatekey.io/rotate-secret"
"""Any new value requests one rotation of the client secret."""
ROTATION_COMPLETE_ANNOTATION: Final = "gatekey.io/rotation-complete"
"""Set to the value of ``gatekey.io/rotate-secret`` to drop the previous secret at once."""


NAME_PREFIX: Final = "gatekey-"
"""Every Secret and ConfigMap name Gatekey chooses starts with this."""

# Names of the objects the operator owns outright.
SIGNING_KEYS_SECRET: Final = "gatekey-signing-keys"
JWKS_CONFIGMAP: Final = "gatekey-jwks"


def authpolicy_configmap(name: str) -> str:
    """The ConfigMap of an AuthPolicy."""
    return f"gatekey-authpolicy-{name}"


def credential_configmap(name: str) -> str:
    """The ConfigMap of a Credential."""
    return f"gatekey-credential-{name}"


def credential_metadata_secret(name: str) -> str:
    """The Secret holding a Credential's secret or Secret-sourced metadata values."""
    return f"gatekey-credential-{name}-metadata"


def role_configmap(name: str) -> str:
    """The ConfigMap of a Role."""
    return f"gatekey-role-{name}"


def user_pool_secret(pool: str) -> str:
    """The labelled copy of a user-pool Secret, so the issuer reads only labelled objects."""
    return f"gatekey-userpool-{pool}"


def labels(kind: ConfigKind) -> dict[str, str]:
    """The labels every rendered object carries."""
    return {COMPONENT_LABEL: COMPONENT, FORMAT_LABEL: FORMAT, CONFIG_KIND_LABEL: kind}


def config_kind(obj: Mapping[str, Any]) -> str | None:
    """What a rendered object holds, or None for an object outside the contract."""
    found = (obj.get("metadata") or {}).get("labels") or {}
    if found.get(COMPONENT_LABEL) != COMPONENT or found.get(FORMAT_LABEL) != FORMAT:
        return None
    kind = found.get(CONFIG_KIND_LABEL)
    return kind if isinstance(kind, str) else None


def dump_json(payload: object) -> str:
    """Canonical JSON for payloads: stable key order, so re-rendering changes no bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def encode_data(values: Mapping[str, str]) -> dict[str, str]:
    """Secret ``data``: base64 of UTF-8 values."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())}


def secret_values(obj: Mapping[str, Any]) -> dict[str, str]:
    """Decoded values of a Secret object (``stringData`` over ``data``, as the API server)."""
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    return data | dict(obj.get("stringData") or {})


def payload(obj: Mapping[str, Any], key: str) -> Any:
    """The JSON payload under ``key`` of a ConfigMap or Secret object."""
    if obj.get("kind") == "Secret":
        return json.loads(secret_values(obj)[key])
    return json.loads((obj.get("data") or {})[key])
