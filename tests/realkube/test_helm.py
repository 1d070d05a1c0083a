"""``helm install``, ``upgrade`` and ``uninstall`` of charts/gatekey on a real API server,
with every value set the chart tests render (tests/chart/conftest.py).

The API server validates each object for real (schemas, defaults, RBAC escalation rules,
Service IP allocation, PodDisruptionBudget and Deployment validation). No kubelet runs, so
no pod starts: the Deployments are accepted and stay unavailable (``--wait=false``).
The ServiceMonitor kind belongs to the Prometheus operator; a minimal CRD of that name
stands in for it, as a cluster with the Prometheus operator would have one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS, Helm
from tests.realkube.conftest import Kubectl
from tests.realkube.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gatekey"

SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}

# The kinds the chart renders, to find what an uninstall left behind.
KINDS = (
    "deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,"
    "poddisruptionbudgets,servicemonitors.monitoring.coreos.com"
)


@pytest.fixture(scope="module")
def service_monitors(kubectl: Kubectl) -> None:
    kubectl.apply([SERVICE_MONITOR_CRD], "default")
    kubectl.run("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")


def values_file(folder: Path, values: dict[str, Any]) -> Path:
    path = folder / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def left_behind(kubectl: Kubectl, release: str, namespaces: list[str]) -> list[str]:
    selector = f"app.kubernetes.io/instance={release}"
    found = []
    for ns in namespaces:
        out = kubectl.run("get", KINDS, "-n", ns, "-l", selector, "-o", "name").stdout
        found += [f"{ns}/{line}" for line in out.split()]
    out = kubectl.run("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
    return found + out.stdout.split()


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_install_upgrade_uninstall(
    controlplane: ControlPlane,
    kubectl: Kubectl,
    helm: Helm,
    crds: list[str],
    service_monitors: None,
    tmp_path: Path,
    value_set: str,
) -> None:
    values = VALUE_SETS[value_set]
    # Cluster-scoped objects are named after the release: one release name per value set.
    release = f"gk-{value_set}"
    namespace = f"helm-{value_set}"
    extra = list(values.get("operator", {}).get("namespaces", []))
    for ns in [namespace, *extra]:
        kubectl.run("create", "namespace", ns, check=False)
    if value_set == "redis-secret":
        kubectl.run(
            "create",
            "secret",
            "generic",
            "gatekey-redis-url",
            "-n",
            namespace,
            "--from-literal=url=redis://redis:6379/0",
        )
    common = ["--namespace", namespace, "--kubeconfig", controlplane.admin_kubeconfig]
    file = values_file(tmp_path, values)
    helm.run("install", release, CHART, "--values", file, "--wait=false", *common)
    manifest = helm.run("get", "manifest", release, *common)
    rendered = [d for d in yaml.safe_load_all(manifest) if d]
    assert rendered
    # Every object the release rendered is stored (kubectl resolves each kind through
    # discovery, as a user would).
    for doc in rendered:
        if not doc["kind"].startswith("Cluster"):
            doc["metadata"].setdefault("namespace", namespace)
    got = kubectl.run("get", "-f", "-", "-o", "name", input=yaml.safe_dump_all(rendered))
    assert len(got.stdout.split()) == len(rendered), got.stdout

    # An upgrade that changes something every Deployment shows, then the same again.
    helm.run(
        "upgrade",
        release,
        CHART,
        "--values",
        file,
        "--set",
        "commonLabels.upgraded=yes",
        "--wait=false",
        *common,
    )
    status = json.loads(helm.run("status", release, "-o", "json", *common))
    assert status["info"]["status"] == "deployed"
    assert status["version"] == 2
    labels = kubectl.run(
        "get",
        "deployments",
        "-n",
        namespace,
        "-l",
        f"app.kubernetes.io/instance={release}",
        "-o",
        "jsonpath={.items[*].metadata.labels.upgraded}",
    ).stdout.split()
    assert labels
    assert set(labels) == {"yes"}

    helm.run("uninstall", release, "--wait", "--timeout=60s", *common)
    assert left_behind(kubectl, release, [namespace, *extra]) == []
