"""What the operator knows of the cluster: kopf index entries, and its own recent writes.

Index handlers turn each watched object into a small frozen value (parsed once,
not on every pass). A watch lags behind the writes that caused it, so a pass that
starts right after another would plan against stale copies and, for instance,
generate a second client secret. :class:`WriteCache` closes that gap: what the
operator wrote stands in for the indexed copy until the index has moved past the
version the write was based on (then the index is the truth again, whoever
changed it). This is the read-your-writes rule of controller-runtime's cache.
"""

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential, ManifestError, Role, parse_document
from gatekey.operator.provenance import sources

CR = AuthPolicy | Credential | Role


@dataclass(frozen=True)
class ObservedCR:
    """An AuthPolicy, Credential or Role as last seen: parsed, or why it could not be."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    api_version: str
    resource: CR | None
    error: str | None
    status: Mapping[str, Any]


def observe_cr(body: Mapping[str, Any]) -> ObservedCR:
    """Parse a custom resource from a watch event; an invalid one keeps its error."""
    meta = body.get("metadata") or {}
    resource: CR | None = None
    error: str | None = None
    try:
        parsed = parse_document(dict(body), f"{body.get('kind')}/{meta.get('name')}", "0")
    except ManifestError as exc:
        error = f"{exc.path}: {exc.message}" if exc.path else exc.message
    else:
        if isinstance(parsed, AuthPolicy | Credential | Role):
            resource = parsed
    return ObservedCR(
        kind=str(body.get("kind", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        resource_version=str(meta.get("resourceVersion", "")),
        api_version=str(body.get("apiVersion", "")),
        resource=resource,
        error=error,
        status=dict(body.get("status") or {}),
    )


@dataclass(frozen=True)
class ObservedObject:
    """A Secret or ConfigMap as last seen (Secrets: all of them, for user pools and adoption)."""

    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owner_references: tuple[Mapping[str, Any], ...]
    data: Mapping[str, str]
    """``data`` as stored (base64 for a Secret, text for a ConfigMap); Gatekey's objects only."""
    values: Mapping[str, str] = field(default_factory=dict)
    """A Secret's decoded values (keys that are not UTF-8 text are left out)."""

    @property
    def managed(self) -> bool:
        """Carries Gatekey's labels in the current format (docs/contract.md)."""
        return contract.config_kind(self.manifest()) is not None

    @property
    def adopted(self) -> bool:
        """A Secret the user made, that Gatekey labels but never owns."""
        return self.annotations.get(contract.ADOPTED_ANNOTATION) == "true"

    @property
    def sources(self) -> set[tuple[str, str]]:
        """The CRs named by the provenance annotations, as ``(kind, name)``."""
        return set(sources(self.annotations))

    def manifest(self) -> dict[str, Any]:
        return {"metadata": {"labels": dict(self.labels)}}


def observe_object(body: Mapping[str, Any]) -> ObservedObject:
    """A Secret or ConfigMap from a watch event or an API response."""
    meta = body.get("metadata") or {}
    kind = str(body.get("kind", ""))
    data = {str(k): str(v) for k, v in (body.get("data") or {}).items()}
    labels = dict(meta.get("labels") or {})
    values = _decode(data) if kind == "Secret" else {}
    if contract.config_kind({"metadata": {"labels": labels}}) is None:
        # Only Gatekey's own objects are compared byte for byte; of any other Secret the
        # decoded text values are all a pass reads (binary ones, e.g. Helm's, are dropped).
        data = {}
    return ObservedObject(
        kind=kind,
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        labels=labels,
        annotations=dict(meta.get("annotations") or {}),
        owner_references=tuple(dict(r) for r in meta.get("ownerReferences") or ()),
        data=data,
        values=values,
    )


def _decode(data: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for key, raw in data.items():
        try:
            values[key] = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue  # binary values are never Gatekey's inputs
    return values


T = TypeVar("T")
Slot = tuple[str, str, str]
"""``(kind, namespace, name)``."""


@dataclass
class _Written(Generic[T]):
    value: T | None
    base: str | None


class WriteCache(Generic[T]):
    """The operator's own writes, shown over the index until the index catches up.

    ``base`` is the resourceVersion the index showed when the write was planned
    (None: absent). While the index still shows ``base``, the write stands in for
    it; once the index shows anything else, the entry is dropped.
    """

    def __init__(self) -> None:
        self._entries: dict[Slot, _Written[T]] = {}

    def record(self, slot: Slot, value: T | None, base: str | None) -> None:
        """Remember a write (``value`` None: a deletion) planned against ``base``."""
        earlier = self._entries.get(slot)
        if earlier is not None:
            base = earlier.base  # the index has not moved since the first write
        self._entries[slot] = _Written(value, base)

    def overlay(
        self, kind: str, namespace: str, indexed: Mapping[str, T], version: Callable[[T], str]
    ) -> dict[str, T]:
        """``indexed`` (by name) with the writes the index has not shown yet."""
        merged = dict(indexed)
        for slot in [s for s in self._entries if s[0] == kind and s[1] == namespace]:
            entry = self._entries[slot]
            current = indexed.get(slot[2])
            if (version(current) if current is not None else None) != entry.base:
                del self._entries[slot]  # the index moved: it is the truth again
            elif entry.value is None:
                merged.pop(slot[2], None)
            else:
                merged[slot[2]] = entry.value
        return merged
