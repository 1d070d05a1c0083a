"""A real control plane for the session (etcd, kube-apiserver, kube-controller-manager), the
CRDs applied to it, and Gatekey's processes run under the chart's ServiceAccounts.

The binaries are built from Go modules on first use (``scripts/install-controlplane.sh``,
run by ``make tools``); without Go the tests skip with the reason, and under ``CI=true`` a
skip fails the run. Logs stay in the session's temporary folder; a failing test prints the
tails of the control plane's logs.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import INSTALL_HELM, Helm
from tests.realkube.controlplane import ControlPlane, binaries, kubeconfig
from tests.support.process import GATEKEY, Served, free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
_names = itertools.count(1)


class Kubectl:
    """The kubectl built with the control plane, as the admin (or another kubeconfig)."""

    def __init__(self, binary: Path, config: Path) -> None:
        self.binary = binary
        self.config = config

    def run(
        self, *args: str | Path, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.config}", *map(str, args)],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))}:\n{done.stderr}")
        return done

    def apply(self, docs: list[dict[str, Any]] | Path, namespace: str, *extra: str) -> str:
        if isinstance(docs, Path):
            return self.run("apply", "-n", namespace, "-f", docs, *extra).stdout
        return self.run(
            "apply", "-n", namespace, "-f", "-", *extra, input=yaml.safe_dump_all(docs)
        ).stdout

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        done = self.run("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if done.returncode != 0:
            if "NotFound" in done.stderr:
                return None
            raise AssertionError(done.stderr)
        return dict(yaml.safe_load(done.stdout))


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    try:
        folder = binaries()
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"the Kubernetes control plane could not be built: {exc}")
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), folder)
    try:
        plane.start()
    except BaseException:
        print(plane.tails())
        plane.stop()
        raise
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "controlplane" in request.fixturenames:
        plane = request.getfixturevalue("controlplane")
        print(f"\ncontrol plane logs in {plane.folder}\n{plane.tails()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The chart tests' helm (scripts/install-helm.sh), with a throw-away home."""
    done = subprocess.run(
        [str(INSTALL_HELM)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"helm is not available: {done.stderr.strip()}")
    return Helm(Path(done.stdout.strip().splitlines()[-1]), tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def kubectl(controlplane: ControlPlane) -> Kubectl:
    return Kubectl(controlplane.bin / "kubectl", controlplane.admin_kubeconfig)


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> list[str]:
    """crds/ applied server-side, as ``kubectl apply --server-side`` does; Established."""
    kubectl.run("apply", "--server-side", "--field-manager=gatekey-tests", "-f", CRDS)
    names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in sorted(CRDS.glob("*.yaml"))]
    kubectl.run(
        "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names]
    )
    return names


@pytest.fixture
def namespace(kubectl: Kubectl, crds: list[str]) -> Iterator[str]:
    """A namespace of the test's own (deleted afterwards, without waiting)."""
    name = f"t{next(_names)}-{os.getpid() % 10000}"
    kubectl.run("create", "namespace", name)
    # The ServiceAccount controller adds `default`; pods and tokens need it.
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def service_account_kubeconfig(
    controlplane: ControlPlane, namespace: str, account: str, folder: Path
) -> Path:
    """A kubeconfig holding a TokenRequest token of ``namespace/account``."""
    token = controlplane.token(namespace, account)
    return kubeconfig(
        folder / f"{namespace}-{account}.kubeconfig",
        controlplane.url,
        controlplane.pki.ca_file,
        token=token,
        namespace=namespace,
    )


def forbidden(controlplane: ControlPlane, namespace: str, account: str) -> list[str]:
    """The requests of a ServiceAccount that the API server refused with 403."""
    user = f"system:serviceaccount:{namespace}:{account}"
    return [
        f"{e['verb']} {e['requestURI']}"
        for e in controlplane.audit(user)
        if e.get("responseStatus", {}).get("code") == 403
    ]


def audited(controlplane: ControlPlane, namespace: str, account: str) -> list[dict[str, Any]]:
    return controlplane.audit(f"system:serviceaccount:{namespace}:{account}")


@contextmanager
def operator_process(config: Path, namespace: str, *extra: str) -> Iterator[Served]:
    """``gatekey operator --namespace NS`` with ``KUBECONFIG=config``."""
    process = Served(
        [GATEKEY, "operator", "--namespace", namespace, *extra],
        Path(tempfile.mkdtemp(prefix="gatekey-operator-")),
        os.environ | {"KUBECONFIG": str(config)},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def issuer_process(config: Path, state: Path, *extra: str) -> Iterator[tuple[str, Served]]:
    """``gatekey serve --kube --kubeconfig config`` on a free port, once ready."""
    port = free_port()
    process = Served(
        [
            GATEKEY,
            "serve",
            "--kube",
            "--kubeconfig",
            str(config),
            "--state-dir",
            str(state),
            "--port",
            str(port),
            *extra,
        ],
        Path(tempfile.mkdtemp(prefix="gatekey-serve-")),
        os.environ,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, timeout=60)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
