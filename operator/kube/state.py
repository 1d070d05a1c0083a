"""The operator's view of one namespace: kopf indexes, overlaid with its own recent writes.

kopf fills the indexes before any handler runs (so a restarted operator never
plans against a half-listed namespace) and keeps them current from the watches.
Handlers hand the index objects over with :meth:`ClusterState.bind`; passes read
them through :meth:`ClusterState.view`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import kopf

from gatekey.operator.kube.observed import ObservedCR, ObservedObject, WriteCache
from gatekey.operator.kube.resources import AUTHPOLICIES, CONFIGMAPS, CREDENTIALS, ROLES, SECRETS
from gatekey.operator.model import AuthPolicy, Credential

INDEX_IDS: dict[str, str] = {
    AUTHPOLICIES.kind: "gatekey_authpolicies",
    CREDENTIALS.kind: "gatekey_credentials",
    ROLES.kind: "gatekey_roles",
    SECRETS.kind: "gatekey_secrets",
    CONFIGMAPS.kind: "gatekey_configmaps",
}
"""kopf index ids: also the keyword names under which handlers receive the indexes."""

Slot = tuple[str, str, str]


@dataclass(frozen=True)
class NamespaceView:
    """Everything a pass reads about one namespace."""

    namespace: str
    crs: Mapping[tuple[str, str], ObservedCR]
    """AuthPolicies, Credentials and Roles by ``(kind, name)``, with the status each has
    (or was just given by this operator)."""
    objects: Mapping[tuple[str, str], ObservedObject]
    """Every Secret, and the ConfigMaps named gatekey-* or labelled, by ``(kind, name)``."""

    def secrets(self) -> dict[str, ObservedObject]:
        return {name: o for (kind, name), o in self.objects.items() if kind == SECRETS.kind}


class ClusterState:
    """Indexes plus write caches; one per operator."""

    def __init__(self) -> None:
        self._indexes: dict[str, kopf.Index[str, Any]] = {}
        self.objects = WriteCache[ObservedObject]()
        self.crs = WriteCache[ObservedCR]()
        self._own: dict[Slot, str] = {}

    def bind(self, kwargs: Mapping[str, Any]) -> None:
        """Take the index objects kopf passes to handlers (they stay live)."""
        if len(self._indexes) < len(INDEX_IDS):
            for kind, index_id in INDEX_IDS.items():
                if index_id in kwargs:
                    self._indexes[kind] = kwargs[index_id]

    @property
    def bound(self) -> bool:
        return len(self._indexes) == len(INDEX_IDS)

    def namespaces(self) -> set[str]:
        """Every namespace with a Gatekey CR or a Gatekey ConfigMap."""
        found: set[str] = set()
        for kind in (AUTHPOLICIES.kind, CREDENTIALS.kind, ROLES.kind, CONFIGMAPS.kind):
            index = self._indexes.get(kind)
            if index is not None:
                found |= set(index.keys())
        return found

    def view(self, namespace: str) -> NamespaceView:
        """The namespace as indexed, with this operator's writes the index has not shown yet."""
        crs: dict[tuple[str, str], ObservedCR] = {}
        for kind in (AUTHPOLICIES.kind, CREDENTIALS.kind, ROLES.kind):
            indexed = {cr.name: cr for cr in self._values(kind, namespace, ObservedCR)}
            merged = self.crs.overlay(kind, namespace, indexed, lambda cr: cr.resource_version)
            crs |= {(kind, name): cr for name, cr in merged.items()}
        objects: dict[tuple[str, str], ObservedObject] = {}
        for kind in (SECRETS.kind, CONFIGMAPS.kind):
            found = {o.name: o for o in self._values(kind, namespace, ObservedObject)}
            merged_objects = self.objects.overlay(
                kind, namespace, found, lambda o: o.resource_version
            )
            objects |= {(kind, name): o for name, o in merged_objects.items()}
        return NamespaceView(namespace, crs, objects)

    def record_object(
        self, kind: str, namespace: str, name: str, written: ObservedObject | None, base: str | None
    ) -> None:
        """Remember a write (None: a deletion) planned against index version ``base``."""
        self.objects.record((kind, namespace, name), written, base)
        if written is not None:
            self._own[(kind, namespace, name)] = written.resource_version
        else:
            self._own.pop((kind, namespace, name), None)

    def record_status(self, cr: ObservedCR, status: Mapping[str, Any], version: str) -> None:
        """Remember a status write; ``version`` is the CR's resourceVersion after it."""
        self.crs.record(
            (cr.kind, cr.namespace, cr.name), replace(cr, status=status), cr.resource_version
        )
        self._own[(cr.kind, cr.namespace, cr.name)] = version

    def is_own_write(self, kind: str, namespace: str, name: str, resource_version: str) -> bool:
        """Whether a watch event only shows a write this operator made itself."""
        return self._own.get((kind, namespace, name)) == resource_version

    def referenced_secrets(self, namespace: str) -> set[str]:
        """Names of Secrets the namespace's CRs read: a change to another Secret is ignored."""
        names: set[str] = set()
        for kind in (AUTHPOLICIES.kind, CREDENTIALS.kind):
            for cr in self._values(kind, namespace, ObservedCR):
                names |= secret_names(cr)
        return names

    def _values(self, kind: str, namespace: str, type_: type[Any]) -> list[Any]:
        index = self._indexes.get(kind)
        if index is None or namespace not in index:
            return []
        return [v for v in index[namespace] if isinstance(v, type_)]


def secret_names(cr: ObservedCR) -> set[str]:
    """The Secrets a CR reads: its client secret or proxy key, user pool, metadata sources,
    the JWK Set of its public keys."""
    resource = cr.resource
    if isinstance(resource, Credential):
        names = {resource.secret_name}
        names |= {c.value_from.secret_key_ref.name for c in resource.spec.claims if c.value_from}
        if resource.spec.jwks_secret_ref is not None:
            names.add(resource.spec.jwks_secret_ref.name)
        return names
    if isinstance(resource, AuthPolicy):
        names = {resource.proxy_key_secret_name} if resource.spec.management == "Policy" else set()
        if resource.spec.user_pool is not None:
            names.add(resource.spec.user_pool.secret_name)
        if resource.spec.proxy_key_jwks_secret_ref is not None:
            names.add(resource.spec.proxy_key_jwks_secret_ref.name)
        return names
    return set()
