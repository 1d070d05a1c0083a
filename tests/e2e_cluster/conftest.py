"""Fixtures of the opt-in real-cluster suite (``e2e_*.py``; ``make test`` never collects them).

The suite runs only against a kube context named in ``GATEKEY_E2E_CONTEXT`` that
``run.py`` created (listed in ``.gatekey-e2e/contexts``), or that the user names a
second time in ``GATEKEY_E2E_ALLOW_CONTEXT`` to say "yes, this cluster: install the
CRDs there". Everything else happens in a namespace the suite creates and deletes.
"""

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_cluster.cluster import Cluster, allowed_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    context = os.environ.get("GATEKEY_E2E_CONTEXT", "")
    problem = allowed_context(context, ROOT / ".gatekey-e2e" / "contexts")
    if problem:
        pytest.exit(f"refusing to run the real-cluster suite: {problem}", returncode=2)
    found = Cluster(context)
    found.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    for plural in ("authpolicies", "credentials", "roles"):
        found.kubectl("wait", "--for=condition=Established", f"crd/{plural}.gatekey.io")
    return found


@pytest.fixture(scope="session")
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"gatekey-e2e-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(cluster: Cluster, namespace: str) -> Iterator[subprocess.Popen[str]]:
    """The operator as users run it, in a process, watching the test namespace."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_for_context())}
    process = subprocess.Popen(
        [str(cluster.gatekey), "operator", "--namespace", namespace],
        env=env,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)
