"""The operator on a real cluster: the flows of tests/operator/, with a real API server.

What the emulator cannot show is checked here: the CRDs accepted by a real API
server (structural schema, CEL cost budget), CEL rules enforced by it, printer
columns and categories through kubectl, garbage collection by ownerReferences.
Run with ``tests/e2e_cluster/run.py`` (``make e2e``), never by ``make test``.
"""

import base64
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e_cluster.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "kubernetes"
pytestmark = pytest.mark.usefixtures("operator")


def examples() -> list[dict[str, Any]]:
    docs = []
    for name in ("secrets.yaml", "authpolicies.yaml", "credentials.yaml", "roles.yaml"):
        docs += [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    return docs


def wait_reason(cluster: Cluster, ns: str, ref: str, reason: str, timeout: int = 90) -> None:
    jsonpath = '{.status.conditions[?(@.type=="Ready")].reason}'
    cluster.kubectl(
        "wait", "-n", ns, ref, f"--for=jsonpath={jsonpath}={reason}", f"--timeout={timeout}s"
    )


def eventually(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_examples_become_ready(cluster: Cluster, namespace: str) -> None:
    cluster.apply(namespace, *examples())
    for doc in examples():
        if doc["kind"] != "Secret":
            ref = f"{doc['kind'].lower()}.gatekey.io/{doc['metadata']['name']}"
            cluster.kubectl("wait", "-n", namespace, ref, "--for=condition=Ready", "--timeout=90s")


def test_kubectl_finds_the_kinds(cluster: Cluster, namespace: str) -> None:
    listed = cluster.kubectl("get", "gatekey", "-n", namespace)
    assert "authpolicy.gatekey.io/orders-jwt" in listed
    assert "credential.gatekey.io/reporting" in listed
    assert "orders-read" in cluster.kubectl("get", "roles.gatekey.io", "-n", namespace)
    assert "orders-read" in cluster.kubectl("get", "gkrole", "-n", namespace)
    wide = cluster.kubectl("get", "credentials.gatekey.io", "-n", namespace, "-o", "wide")
    header = wide.splitlines()[0]
    for column in ("READY", "CLIENT ID", "SECRET", "REASON", "MESSAGE", "AGE"):
        assert column in header


def test_the_adopted_secret_keeps_its_data(cluster: Cluster, namespace: str) -> None:
    found = cluster.get("secret", namespace, "billing-client")
    assert found is not None
    value = base64.b64decode(found["data"]["client_secret"]).decode()
    assert value == "change-me-to-a-long-random-value-0123456789abcdef"
    assert found["metadata"]["annotations"]["gatekey.io/adopted"] == "true"
    assert "ownerReferences" not in found["metadata"]


def test_a_named_missing_secret_is_reported(cluster: Cluster, namespace: str) -> None:
    doc = {
        "apiVersion": "gatekey.io/v1alpha1",
        "kind": "Credential",
        "metadata": {"name": "waiting"},
        "spec": {"secretName": "not-there"},
    }
    cluster.apply(namespace, doc)
    wait_reason(cluster, namespace, "credential.gatekey.io/waiting", "SecretMissing")
    assert cluster.get("secret", namespace, "not-there") is None


def test_the_api_server_enforces_the_cel_rules(cluster: Cluster, namespace: str) -> None:
    bad = {
        "apiVersion": "gatekey.io/v1alpha1",
        "kind": "AuthPolicy",
        "metadata": {"name": "no-pool"},
        "spec": {
            "type": "JWT",
            "targetRef": {"kind": "ApiProxy", "name": "x"},
            "grantTypes": ["password"],
        },
    }
    with pytest.raises(AssertionError, match=r"userPool\.secretName is required"):
        cluster.apply(namespace, bad)


def test_a_role_change_reaches_the_credential(cluster: Cluster, namespace: str) -> None:
    patch = '{"spec":{"subjects":[{"kind":"Credential","name":"reporting"}]}}'
    cluster.kubectl(
        "patch", "-n", namespace, "roles.gatekey.io/orders-read", "--type=merge", "-p", patch
    )

    def roles() -> list[str] | None:
        found = cluster.get("credentials.gatekey.io", namespace, "reporting") or {}
        held = (found.get("status") or {}).get("roles")
        return held if held == ["orders.read", "orders.write"] else None

    assert eventually(roles)


def test_a_conflict_leaves_the_newer_policy_not_ready(cluster: Cluster, namespace: str) -> None:
    newer = {
        "apiVersion": "gatekey.io/v1alpha1",
        "kind": "AuthPolicy",
        "metadata": {"name": "orders-jwt-again"},
        "spec": {"type": "JWT", "targetRef": {"kind": "ApiProxy", "name": "orders"}},
    }
    cluster.apply(namespace, newer)
    wait_reason(cluster, namespace, "authpolicy.gatekey.io/orders-jwt-again", "Conflict")


def test_deleting_a_credential_removes_its_objects(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("delete", "-n", namespace, "credentials.gatekey.io/reporting")
    for kind, name in [
        ("secret", "reporting-credentials"),
        ("configmap", "gatekey-credential-reporting"),
    ]:
        assert eventually(lambda k=kind, n=name: cluster.get(k, namespace, n) is None)


def test_the_operator_is_still_running(operator: subprocess.Popen[str]) -> None:
    assert operator.poll() is None
