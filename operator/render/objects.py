"""The objects a render writes, and the status it finds for each CR (pure).

Every object carries the labels of the operator -> issuer contract, provenance
annotations naming its CRs and, unless it is an adopted user Secret, an
ownerReference to each of them (so that deleting the CR deletes it, and never data the
user wrote).
"""

from collections.abc import Mapping
from typing import Any

from gatekey.operator import contract
from gatekey.operator.contract import ConfigKind, Manifest
from gatekey.operator.provenance import add_source
from gatekey.operator.render.types import CR, CrKey, Rendered, Status
from gatekey.operator.timestamps import rfc3339


class Output:
    """What one render has produced so far, keyed for look-up and deterministic order."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.objects: dict[tuple[str, str], Manifest] = {}
        self.statuses: dict[CrKey, Status] = {}
        self.rotations: dict[CrKey, str] = {}

    def rendered(self) -> Rendered:
        objects = tuple(self.objects[k] for k in sorted(self.objects))
        return Rendered(objects, dict(self.statuses), dict(self.rotations))

    def status(
        self,
        cr: CR,
        ready: bool,
        reason: str,
        message: str,
        fields: Mapping[str, Any] | None = None,
        path: str = "",
    ) -> None:
        self.statuses[(cr.kind, cr.metadata.name)] = Status(
            ready, reason, message, fields or {}, path
        )

    def secret(
        self, name: str, kind: ConfigKind, values: Mapping[str, str], owner: CR | None
    ) -> Manifest:
        obj = self._object("Secret", name, kind, owner)
        obj["type"] = "Opaque"
        obj["data"] = contract.encode_data(values)
        return obj

    def configmap(
        self, name: str, kind: ConfigKind, data: dict[str, str], owner: CR | None
    ) -> Manifest:
        obj = self._object("ConfigMap", name, kind, owner)
        obj["data"] = data
        return obj

    def rendered_secret(self, name: str) -> Manifest | None:
        return self.objects.get(("Secret", name))

    def _object(self, api_kind: str, name: str, kind: ConfigKind, owner: CR | None) -> Manifest:
        key = (api_kind, name)
        obj = self.objects.get(key)
        if obj is None:
            obj = {
                "apiVersion": "v1",
                "kind": api_kind,
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": contract.labels(kind),
                    "annotations": {},
                },
            }
            self.objects[key] = obj
        if owner is not None:
            add_owner(obj, owner)
        return obj


def add_owner(obj: Manifest, owner: CR) -> None:
    """Record ``owner`` as a source of ``obj``: annotations, and an ownerReference unless
    ``obj`` is adopted."""
    add_source(obj["metadata"]["annotations"], owner.kind, owner.metadata.name)
    if obj["metadata"]["annotations"].get(contract.ADOPTED_ANNOTATION):
        return
    refs = obj["metadata"].setdefault("ownerReferences", [])
    ref = {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
    }
    if ref not in refs:
        refs.append(ref)
        refs.sort(key=lambda r: (r["kind"], r["name"]))


def payload_meta(cr: CR) -> dict[str, Any]:
    """The CR's identity, as the ConfigMap payloads carry it."""
    meta = cr.metadata
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "uid": meta.uid,
        "creationTimestamp": rfc3339(meta.creation_timestamp) if meta.creation_timestamp else None,
        "generation": meta.generation,
    }
