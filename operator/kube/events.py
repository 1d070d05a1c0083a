"""Core v1 Events about CRs: what a pass wrote for them and when readiness changed (pure).

``kubectl describe authpolicy NAME`` shows them. One Event per CR per pass at
most for the writes (a summary), plus one when Ready flips or its reason
changes, so that 1,000 Credentials do not produce thousands of Events.
Shape: https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
"""

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from gatekey.operator.kube.observed import ObservedCR
from gatekey.operator.timestamps import rfc3339

COMPONENT = "gatekey-operator"
MESSAGE_LIMIT = 1024
EventType = Literal["Normal", "Warning"]


def event(
    cr: ObservedCR, type_: EventType, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """An Event about ``cr``, named ``<cr>.<random>`` as client-go's recorder names them."""
    stamp = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{cr.name}.{secrets.token_hex(8)}", "namespace": cr.namespace},
        "involvedObject": {
            "apiVersion": cr.api_version,
            "kind": cr.kind,
            "name": cr.name,
            "namespace": cr.namespace,
            "uid": cr.uid,
            "resourceVersion": cr.resource_version,
        },
        "type": type_,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def summary(actions: Iterable[str]) -> str:
    """``"created Secret a, updated ConfigMap b (data)"``."""
    return ", ".join(sorted(actions))
