"""From rendered objects and what exists, the writes that make the namespace match (pure).

The rules (docs/contract.md, and hydra-maester's for Secrets the user made):

- a rendered object that does not exist is created;
- an object Gatekey owns is patched (labels, annotations, ownerReferences, data)
  only where it differs, so that re-running a pass writes nothing;
- a Secret ``render`` adopts (the user's proxy key or client secret) gets Gatekey's
  labels and annotations and nothing else: its data is never written;
- an object that exists under a rendered name without Gatekey's labels, and that
  ``render`` does not adopt, is someone else's: it is left alone (a :class:`Clash`);
- a labelled object that nothing renders any more is deleted (garbage collection
  through ownerReferences does the same in a cluster; doing it here also covers
  renamed Secrets and an operator that was down), unless it belongs to a CR whose
  manifest is invalid and whose last good objects are kept (``keep``: an AuthPolicy,
  but not its copy of a user pool, which would otherwise go stale: removing a user
  from the pool must take effect; ``keep_secrets``: only the Secrets of a Credential,
  so that the issuer stops granting but a fixed typo keeps the client secret), and an
  adopted Secret is released (labels and annotations removed, data kept).

Every patch is a JSON merge patch (RFC 7386): ``null`` removes a key.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from gatekey.operator import contract, provenance
from gatekey.operator.contract import Manifest
from gatekey.operator.kube.observed import ObservedObject

ObjectKey = tuple[str, str]
"""``(kind, name)`` of a Secret or ConfigMap in the namespace being planned."""
SourceKey = tuple[str, str]
"""``(kind, name)`` of the CR an object comes from."""

OUR_LABELS = frozenset(
    {contract.COMPONENT_LABEL, contract.FORMAT_LABEL, contract.CONFIG_KIND_LABEL}
)
OUR_ANNOTATIONS = frozenset(
    {
        contract.SOURCE_KIND_ANNOTATION,
        contract.SOURCE_NAME_ANNOTATION,
        contract.ADOPTED_ANNOTATION,
    }
)


@dataclass(frozen=True)
class Create:
    """Create ``body``."""

    body: Manifest
    sources: frozenset[SourceKey]

    @property
    def key(self) -> ObjectKey:
        return self.body["kind"], self.body["metadata"]["name"]


@dataclass(frozen=True)
class Update:
    """Merge-patch an existing object; ``changed`` names what differs, for Events."""

    base: ObservedObject
    patch: Mapping[str, Any]
    changed: tuple[str, ...]
    sources: frozenset[SourceKey]

    @property
    def key(self) -> ObjectKey:
        return self.base.kind, self.base.name


@dataclass(frozen=True)
class Delete:
    """Delete an object nothing renders any more (only if its uid is still ``base.uid``)."""

    base: ObservedObject

    @property
    def key(self) -> ObjectKey:
        return self.base.kind, self.base.name

    @property
    def sources(self) -> frozenset[SourceKey]:
        return frozenset(self.base.sources)


@dataclass(frozen=True)
class Release:
    """Strip Gatekey's labels and annotations from an adopted Secret no CR uses any more."""

    base: ObservedObject
    patch: Mapping[str, Any]

    @property
    def key(self) -> ObjectKey:
        return self.base.kind, self.base.name

    @property
    def sources(self) -> frozenset[SourceKey]:
        return frozenset(self.base.sources)


@dataclass(frozen=True)
class Clash:
    """A rendered name taken by an object Gatekey does not manage: nothing is written."""

    key: ObjectKey
    sources: frozenset[SourceKey]

    @property
    def message(self) -> str:
        kind, name = self.key
        return f"{kind} {name} exists and is not managed by Gatekey; it is left alone"


Op = Create | Update | Delete | Release | Clash


@dataclass(frozen=True)
class Plan:
    """The writes of one pass, in a stable order."""

    ops: tuple[Op, ...] = field(default=())

    @property
    def writes(self) -> tuple[Create | Update | Delete | Release, ...]:
        return tuple(op for op in self.ops if not isinstance(op, Clash))

    @property
    def clashes(self) -> tuple[Clash, ...]:
        return tuple(op for op in self.ops if isinstance(op, Clash))


def plan(
    rendered: tuple[Manifest, ...],
    existing: Mapping[ObjectKey, ObservedObject],
    keep: Set[SourceKey] = frozenset(),
    keep_secrets: Set[SourceKey] = frozenset(),
) -> Plan:
    """The writes that turn ``existing`` into ``rendered``; objects of ``keep``, and
    Secrets of ``keep_secrets``, are not pruned."""
    ops: list[Op] = []
    wanted: set[ObjectKey] = set()
    for obj in rendered:
        key = (obj["kind"], obj["metadata"]["name"])
        wanted.add(key)
        found = existing.get(key)
        op = _converge(obj, found)
        if op is not None:
            ops.append(op)
    for key in sorted(existing):
        found = existing[key]
        if key in wanted or not found.managed:
            continue
        if found.sources & keep and found.labels.get(contract.CONFIG_KIND_LABEL) != "user-pool":
            continue
        if found.kind == "Secret" and found.sources & keep_secrets:
            continue
        if found.adopted:
            ops.append(Release(found, _release_patch(found)))
        else:
            ops.append(Delete(found))
    return Plan(tuple(ops))


def sources_of(obj: Manifest) -> frozenset[SourceKey]:
    """The CRs a rendered object comes from (its provenance annotations)."""
    return provenance.sources(obj["metadata"].get("annotations"))


def _converge(obj: Manifest, found: ObservedObject | None) -> Op | None:
    sources = sources_of(obj)
    if found is None:
        return Create(obj, sources)
    meta = obj["metadata"]
    adopt = (meta.get("annotations") or {}).get(contract.ADOPTED_ANNOTATION) == "true"
    if not adopt and not found.managed:
        return Clash((found.kind, found.name), sources)
    patch: dict[str, Any] = {}
    changed: list[str] = []
    metadata = _metadata_patch(meta, found)
    if metadata:
        patch["metadata"] = metadata
        changed.append("labels")
    if not adopt:
        # Owned objects converge whole; an adopted Secret's data and owners stay the user's.
        refs = list(meta.get("ownerReferences") or [])
        if refs != [dict(r) for r in found.owner_references]:
            patch.setdefault("metadata", {})["ownerReferences"] = refs
            changed.append("owners")
        data = dict(obj.get("data") or {})
        if data != dict(found.data):
            patch["data"] = data | {k: None for k in found.data if k not in data}
            changed.append("data")
    if not patch:
        return None
    return Update(found, patch, tuple(changed), sources)


def _metadata_patch(meta: Mapping[str, Any], found: ObservedObject) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field_name, ours, current in (
        ("labels", OUR_LABELS, found.labels),
        ("annotations", OUR_ANNOTATIONS, found.annotations),
    ):
        desired: Mapping[str, str] = meta.get(field_name) or {}
        change: dict[str, str | None] = {k: v for k, v in desired.items() if current.get(k) != v}
        change |= {k: None for k in ours if k in current and k not in desired}
        if change:
            out[field_name] = change
    return out


def _release_patch(found: ObservedObject) -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {k: None for k in OUR_LABELS if k in found.labels},
            "annotations": {k: None for k in OUR_ANNOTATIONS if k in found.annotations},
        }
    }
