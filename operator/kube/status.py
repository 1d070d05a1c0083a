"""The ``status`` a CR should have after a pass, and the patch that gets it there (pure).

Kubernetes API conventions for conditions
(https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties):
one ``Ready`` condition with a CamelCase ``reason`` and a human ``message``;
``lastTransitionTime`` moves only when ``status`` flips, not when the message
changes; ``observedGeneration`` says which spec the status describes. The fields
each kind reports come from ``render`` (docs/contract.md) and are shaped by the status
models that also generate the CRD schema.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gatekey.operator.kube.observed import ObservedCR
from gatekey.operator.model.status import INVALID, READY_CONDITION, STATUS_MODELS
from gatekey.operator.render import Status
from gatekey.operator.timestamps import rfc3339


@dataclass(frozen=True)
class Verdict:
    """What a pass concluded about one CR, for its kopf handler."""

    ready: bool
    reason: str
    message: str

    @property
    def permanent(self) -> bool:
        """Only a new spec can help (kopf.PermanentError)."""
        return self.reason == INVALID


def verdict_of(cr: ObservedCR, found: Status | None) -> Verdict:
    """The verdict for ``cr`` from render's ``found`` (None when the manifest is invalid)."""
    if cr.resource is None or found is None:
        return Verdict(False, INVALID, cr.error or "the manifest could not be read")
    return Verdict(found.ready, found.reason, found.message)


def desired_status(
    cr: ObservedCR,
    verdict: Verdict,
    fields: Mapping[str, Any],
    previous: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The whole ``status`` of ``cr``; ``previous`` is what it has now."""
    value = "True" if verdict.ready else "False"
    before = ready_condition(previous)
    since = (
        before["lastTransitionTime"]
        if before and before.get("status") == value and before.get("lastTransitionTime")
        else rfc3339(now)
    )
    condition = {
        "type": READY_CONDITION,
        "status": value,
        "reason": verdict.reason,
        "message": verdict.message,
        "lastTransitionTime": since,
        "observedGeneration": cr.generation,
    }
    model = STATUS_MODELS[cr.kind]
    status = model.model_validate(
        {**fields, "conditions": [condition], "observedGeneration": cr.generation}
    )
    dumped = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    # Keep the timestamp as written: second precision, "Z", as metav1.Time serialises.
    dumped["conditions"][0]["lastTransitionTime"] = since
    return dumped


def status_patch(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """A merge patch from ``previous`` to ``desired`` (None when nothing changes)."""
    if dict(previous) == dict(desired):
        return None
    return {"status": _merge_diff(previous, desired)}


def _merge_diff(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386: nested objects are merged, so a key gone from a nested object (such as
    ``secretGenerations.previous``) must be sent as null; lists are replaced whole."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        before = previous.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = _merge_diff(before, value)
        else:
            patch[key] = value
    patch |= {k: None for k in previous if k not in desired}
    return patch


def became_ready(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> bool | None:
    """True/False when the Ready condition's status or reason changed, else None (for Events)."""
    before, after = ready_condition(previous), ready_condition(desired)
    if after is None:
        return None
    if before is not None and (before.get("status"), before.get("reason")) == (
        after.get("status"),
        after.get("reason"),
    ):
        return None
    return after.get("status") == "True"


def ready_condition(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``Ready`` condition of a ``status``, if it has one."""
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == READY_CONDITION:
            return condition
    return None
