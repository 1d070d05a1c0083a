"""The API resources the operator reads and writes, and their REST paths.

Paths follow the Kubernetes API conventions:
``/api/v1/namespaces/{ns}/{plural}/{name}[/{subresource}]`` for the core group and
``/apis/{group}/{version}/...`` for the others.
"""

from dataclasses import dataclass
from typing import Final

from gatekey.operator.model.parse import GROUP_VERSION


@dataclass(frozen=True)
class Resource:
    """A namespaced resource: group, version, plural name and kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects: ``v1`` or ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of the collection in ``namespace``, or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
            if subresource is not None:
                path += f"/{subresource}"
        return path


GROUP, VERSION = GROUP_VERSION.split("/")
AUTHPOLICIES: Final = Resource(GROUP, VERSION, "authpolicies", "AuthPolicy")
CREDENTIALS: Final = Resource(GROUP, VERSION, "credentials", "Credential")
ROLES: Final = Resource(GROUP, VERSION, "roles", "Role")
SECRETS: Final = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS: Final = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS: Final = Resource("", "v1", "events", "Event")

CUSTOM: Final = (AUTHPOLICIES, CREDENTIALS, ROLES)
"""The three Gatekey kinds (docs/contract.md)."""
BY_KIND: Final = {r.kind: r for r in (*CUSTOM, SECRETS, CONFIGMAPS, EVENTS)}
