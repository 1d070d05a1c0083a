"""Reading what the operator wrote: conditions, decoded Secrets, payloads, Events."""

import base64
import json
from typing import Any

from gatekey.operator import contract
from tests.support.kube_harness import KubeClient, wait_for


def ready_condition(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition
    return None


def wait_condition(
    kube: KubeClient,
    kind: str,
    ns: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Wait until the CR's Ready condition has ``status`` (and ``reason``); the CR."""

    def check() -> dict[str, Any] | None:
        obj = kube.get(kind, ns, name)
        found = ready_condition(obj)
        matches = found and found["status"] == status and reason in (None, found["reason"])
        current = (
            matches and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        )
        return obj if current else None

    return wait_for(check, timeout)


def values(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def payload(configmap: dict[str, Any], key: str) -> Any:
    return json.loads(configmap["data"][key])


def labelled(kube: KubeClient, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every Secret and ConfigMap carrying Gatekey's selector, by ``(kind, name)``."""
    found = {}
    for kind in ("Secret", "ConfigMap"):
        for obj in kube.list(kind, ns, contract.SELECTOR):
            found[(kind, obj["metadata"]["name"])] = obj
    return found


def events_for(kube: KubeClient, ns: str, name: str) -> list[tuple[str, str, str]]:
    """``(type, reason, message)`` of the Events about the object ``name``."""
    return [
        (e["type"], e["reason"], e["message"])
        for e in kube.list("Event", ns)
        if e["involvedObject"]["name"] == name
    ]


def owners(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["name"], r["uid"]) for r in obj["metadata"].get("ownerReferences", [])]
