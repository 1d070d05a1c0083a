"""A real control plane for the benchmarks' ``--real`` runs (the test suite's harness).

etcd, kube-apiserver and kube-controller-manager from ``tests/realkube/controlplane.py``
(built by ``scripts/install-controlplane.sh``), the CRDs applied, and a ServiceAccount for
the operator bound to ``cluster-admin``: the API server's audit log then counts exactly the
operator's requests, as the emulator's request log does.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.realkube.controlplane import ControlPlane, binaries, kubeconfig  # noqa: E402
from tests.support.kube_harness import KubeClient  # noqa: E402

GATEKEY = str(Path(sys.executable).parent / "gatekey")
OPERATOR = "bench-operator"


class RealCluster:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.url = plane.url

    def kubectl(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [str(self.plane.bin / "kubectl"), f"--kubeconfig={self.plane.admin_kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def client(self) -> KubeClient:
        """The emulator's kubectl-like client, as the admin, over TLS."""
        kube = KubeClient(self.url)
        kube.session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
        kube.session.verify = str(self.plane.pki.ca_file)
        kube.session.cert = (str(self.plane.admin_cert[1]), str(self.plane.admin_cert[0]))
        return kube

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.plane.pki.ca_file))
        context.load_cert_chain(str(self.plane.admin_cert[1]), str(self.plane.admin_cert[0]))
        return context

    def namespace(self, name: str) -> str:
        """A namespace with the operator's ServiceAccount in it (bound to cluster-admin)."""
        self.kubectl("create", "namespace", name)
        self.kubectl("create", "serviceaccount", OPERATOR, "-n", name)
        self.kubectl(
            "create",
            "clusterrolebinding",
            f"{OPERATOR}-{name}",
            "--clusterrole=cluster-admin",
            f"--serviceaccount={name}:{OPERATOR}",
        )
        return name

    def operator_config(self, namespace: str, folder: Path) -> Path:
        return kubeconfig(
            folder / f"{namespace}-operator.kubeconfig",
            self.url,
            self.plane.pki.ca_file,
            token=self.plane.token(namespace, OPERATOR),
            namespace=namespace,
        )

    def admin_config(self, folder: Path, namespace: str) -> Path:
        return kubeconfig(
            folder / f"{namespace}-admin.kubeconfig",
            self.url,
            self.plane.pki.ca_file,
            cert=self.plane.admin_cert,
            namespace=namespace,
        )

    def operator_writes(self, namespace: str) -> Counter[tuple[str, str, str | None]]:
        """The operator's writes, as (method, plural, subresource) like the emulator's log."""
        methods = {"create": "POST", "patch": "PATCH", "update": "PUT", "delete": "DELETE"}
        writes: Counter[tuple[str, str, str | None]] = Counter()
        for event in self.plane.audit(f"system:serviceaccount:{namespace}:{OPERATOR}"):
            if event["verb"] in methods:
                ref = event.get("objectRef") or {}
                writes[
                    (methods[event["verb"]], ref.get("resource", ""), ref.get("subresource"))
                ] += 1
        return writes


@contextmanager
def real_cluster() -> Iterator[RealCluster]:
    folder = Path(tempfile.mkdtemp(prefix="gatekey-bench-controlplane-"))
    plane = ControlPlane(folder, binaries())
    try:
        plane.start()
        cluster = RealCluster(plane)
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
        yield cluster
    finally:
        plane.stop()


@contextmanager
def operator_process(config: Path, namespace: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [GATEKEY, "operator", "--namespace", namespace],
        env=os.environ | {"KUBECONFIG": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def dump(docs: list[dict[str, object]]) -> str:
    return yaml.safe_dump_all(docs)
