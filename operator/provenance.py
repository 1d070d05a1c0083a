"""Provenance annotations: which CRs a rendered object comes from (pure).

``gatekey.io/source-kind`` and ``gatekey.io/source-name`` hold parallel
comma-separated lists: an object with several sources (the proxy key shared by the JWT
and OAuth2 policies of one target) names each, ``AuthPolicy,AuthPolicy`` beside
``orders-jwt,orders-token``. Written by ``render``, read by the operator's planner and
index: the one place that knows the format.
"""

from collections.abc import Mapping, MutableMapping

from gatekey.operator import contract

Source = tuple[str, str]
"""``(kind, name)`` of a CR in the object's namespace."""


def sources(annotations: Mapping[str, str] | None) -> frozenset[Source]:
    """The CRs ``annotations`` name as sources."""
    kinds, names = _lists(annotations or {})
    if len(kinds) == 1:  # one kind for every name: how earlier versions wrote a shared kind
        kinds = kinds * len(names)
    return frozenset((k, n) for k, n in zip(kinds, names, strict=False) if k and n)


def add_source(annotations: MutableMapping[str, str], kind: str, name: str) -> None:
    """Name ``kind``/``name`` among the sources in ``annotations`` (once, in order)."""
    if contract.SOURCE_NAME_ANNOTATION not in annotations:  # the first source: most objects
        annotations[contract.SOURCE_KIND_ANNOTATION] = kind
        annotations[contract.SOURCE_NAME_ANNOTATION] = name
        return
    if (kind, name) in sources(annotations):
        return
    kinds, names = _lists(annotations)
    if len(kinds) == 1 and len(names) > 1:
        kinds = kinds * len(names)
    annotations[contract.SOURCE_KIND_ANNOTATION] = ",".join([*kinds, kind])
    annotations[contract.SOURCE_NAME_ANNOTATION] = ",".join([*names, name])


def _lists(annotations: Mapping[str, str]) -> tuple[list[str], list[str]]:
    kinds = (annotations.get(contract.SOURCE_KIND_ANNOTATION) or "").split(",")
    names = (annotations.get(contract.SOURCE_NAME_ANNOTATION) or "").split(",")
    return [k for k in kinds if k], [n for n in names if n]
