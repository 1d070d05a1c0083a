"""``gatekey operator``'s options from flags and ``GATEKEY_*``, seen on the real API server."""

from __future__ import annotations

from pathlib import Path

from tests.realkube.conftest import Kubectl, operator_process
from tests.realkube.controlplane import ControlPlane
from tests.realkube.test_watch import ready
from tests.support.manifests import credential, policy
from tests.support.process import eventually


def operator_events(controlplane: ControlPlane, namespace: str) -> list[str]:
    listed = controlplane.get(f"/api/v1/namespaces/{namespace}/events") or {}
    return [
        f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['reason']}"
        for e in listed.get("items") or []
        if e.get("reportingComponent") == "gatekey-operator"
    ]


def reconcile(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        [
            policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
            credential("svc", acl=["ProxyGroup/shop"]),
        ],
        namespace,
    )
    ready(kubectl, namespace, "credential/svc", "authpolicy/shop")


def test_no_events_flag(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """By default the operator posts an Event per CR it writes for; with ``--no-events``
    it posts none, and reconciles all the same."""
    with operator_process(controlplane.admin_kubeconfig, namespace, "--no-events"):
        reconcile(kubectl, namespace)
        # A later pass over the namespace: the first one (which would have posted Events
        # after the statuses) has finished.
        kubectl.apply([credential("later", acl=["ProxyGroup/shop"])], namespace)
        ready(kubectl, namespace, "credential/later")
        assert operator_events(controlplane, namespace) == []

    kubectl.run("create", "namespace", f"{namespace}-events")
    try:
        with operator_process(controlplane.admin_kubeconfig, f"{namespace}-events"):
            reconcile(kubectl, f"{namespace}-events")
            eventually(lambda: operator_events(controlplane, f"{namespace}-events"), timeout=30)
    finally:
        kubectl.run("delete", "namespace", f"{namespace}-events", "--wait=false", check=False)
