"""The resource model: AuthPolicy, Credential, Role and v1 Secret manifests (pure).

Everything here is free of I/O. Parsing applies every default of docs/contract.md and
reports a bad manifest with its file, document index and field path.
"""

from gatekey.operator.model.authpolicy import AuthPolicy, AuthPolicySpec
from gatekey.operator.model.common import Target
from gatekey.operator.model.credential import Credential, CredentialSpec
from gatekey.operator.model.durations import duration_seconds
from gatekey.operator.model.errors import ManifestError
from gatekey.operator.model.parse import Resource, parse_document, resource_key
from gatekey.operator.model.role import Role, RoleSpec
from gatekey.operator.model.secret import Secret
from gatekey.operator.model.token_management import (
    ResponseSettings,
    ScopeSettings,
    TokenManagement,
    TokenManagementOverride,
)

__all__ = [
    "AuthPolicy",
    "AuthPolicySpec",
    "Credential",
    "CredentialSpec",
    "ManifestError",
    "Resource",
    "ResponseSettings",
    "Role",
    "RoleSpec",
    "ScopeSettings",
    "Secret",
    "Target",
    "TokenManagement",
    "TokenManagementOverride",
    "duration_seconds",
    "parse_document",
    "resource_key",
]
