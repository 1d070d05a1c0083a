"""The image, built with podman (scripts/build-image.sh) and run for real.

- as the chart runs it: UID 10001, read-only root filesystem, a writable state dir mounted,
  serving the quickstart;
- ``gatekey operator`` and ``gatekey serve --kube`` from the image against the real API
  server, with what a pod gets: a ServiceAccount token, the CA and the namespace mounted at
  /var/run/secrets/kubernetes.io/serviceaccount and KUBERNETES_SERVICE_HOST/PORT set (the
  network is the host's: no kubelet or CNI runs here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.chart.conftest import Helm
from tests.realkube.conftest import Kubectl, forbidden
from tests.realkube.controlplane import ControlPlane
from tests.realkube.test_quickstart import ISSUER_SA, OPERATOR_SA, client, token
from tests.support.process import eventually, free_port, gatekey

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-image.sh"
QUICKSTART = ROOT / "examples" / "quickstart"
PODMAN_ENV = os.environ | {"CONTAINERS_CONF": str(ROOT / "scripts" / "image" / "containers.conf")}
UID = 10001


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    done = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env=PODMAN_ENV,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}:\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (make tools installs it)")
    done = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        pytest.fail(f"build-image failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def container(
    image: str, *args: str, mounts: dict[Path, str], env: dict[str, str] | None = None
) -> Iterator[str]:
    """``podman run -d`` as the chart runs the image: its own user, read-only root."""
    options = ["--network=host", "--read-only"]
    for source, target in mounts.items():
        options += ["-v", f"{source}:{target}"]
    for name, value in (env or {}).items():
        options += ["-e", f"{name}={value}"]
    name = podman("run", "-d", *options, image, *args).strip()
    try:
        yield name
    finally:
        logs = podman("logs", name, check=False)
        podman("rm", "-f", "-t", "5", name, check=False)
        print(f"--- container {' '.join(args)} ---\n{logs[-3000:]}")


def state_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    os.chown(path, UID, UID)
    return path


def uid_of(name: str) -> int:
    pid = podman("inspect", "--format", "{{.State.Pid}}", name).strip()
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_the_image_is_small(image: str) -> None:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image))
    print(f"{image}: {size / 1e6:.0f} MB")
    assert size < 200 * 1000 * 1000


def test_the_image_serves_the_quickstart_read_only_as_10001(image: str, tmp_path: Path) -> None:
    state = state_dir(tmp_path / "state")
    port = free_port()
    with container(
        image,
        "serve",
        "--manifests",
        "/manifests",
        "--state-dir",
        "/var/lib/gatekey",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        mounts={QUICKSTART: "/manifests:ro", state: "/var/lib/gatekey"},
    ) as name:
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: ready(url), timeout=60)
        assert uid_of(name) == UID
        # The proxy key the container generated, read from its state dir as `make run` does.
        shown = gatekey(
            "show-key", "--manifests", str(QUICKSTART), "--state-dir", str(state), "ApiProxy/orders"
        )
        assert shown.returncode == 0, shown.stderr
        client_id, secret = _key(shown.stdout)
        issued = requests.post(
            url + "/auth/jwt",
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert issued.status_code == 200, issued.text
        # Nothing can be written outside the state dir.
        touched = subprocess.run(
            ["podman", "exec", name, "python3", "-c", "open('/opt/gatekey/x', 'w')"],
            capture_output=True,
            text=True,
            env=PODMAN_ENV,
            check=False,
        )
        assert touched.returncode != 0
        assert "Read-only file system" in touched.stderr


def _key(text: str) -> tuple[str, str]:
    values = json.loads(text)
    return values["client_id"], values["client_secret"]


def pod_credentials(controlplane: ControlPlane, namespace: str, account: str, folder: Path) -> Path:
    """What a pod of ``account`` finds at /var/run/secrets/kubernetes.io/serviceaccount."""
    folder.mkdir(parents=True)
    (folder / "token").write_text(controlplane.token(namespace, account))
    (folder / "namespace").write_text(namespace)
    shutil.copy(controlplane.pki.ca_file, folder / "ca.crt")
    for path in (folder, *folder.iterdir()):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder


def test_operator_and_issuer_from_the_image_in_the_cluster(
    image: str,
    controlplane: ControlPlane,
    kubectl: Kubectl,
    crds: list[str],
    helm: Helm,
    tmp_path: Path,
) -> None:
    namespace = "image"
    kubectl.run("create", "namespace", namespace)
    helm.run(
        "install",
        "gk",
        ROOT / "charts" / "gatekey",
        "--namespace",
        namespace,
        "--kubeconfig",
        controlplane.admin_kubeconfig,
        "--wait=false",
    )
    cluster = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(controlplane.api_port),
    }
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    operator_sa = pod_credentials(controlplane, namespace, OPERATOR_SA, tmp_path / "operator")
    issuer_sa = pod_credentials(controlplane, namespace, ISSUER_SA, tmp_path / "issuer")
    port = free_port()
    with container(
        image,
        "operator",
        f"--namespace={namespace}",
        mounts={operator_sa: f"{mount}:ro"},
        env=cluster,
    ):
        kubectl.apply(QUICKSTART, namespace)
        kubectl.run(
            "wait",
            "--for=condition=Ready",
            "--timeout=90s",
            "-n",
            namespace,
            "credentials.gatekey.io,authpolicies.gatekey.io",
            "--all",
        )
        with container(
            image,
            "serve",
            "--kube",
            "--state-dir",
            "/var/lib/gatekey",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            mounts={issuer_sa: f"{mount}:ro", state_dir(tmp_path / "state"): "/var/lib/gatekey"},
            env=cluster,
        ):
            url = f"http://127.0.0.1:{port}"
            eventually(lambda: ready(url), timeout=60)
            billing = client(kubectl, namespace, "billing-service-credentials")
            issued = eventually(lambda: (r := token(url, billing, "/credential/jwt")).ok and r)
            assert issued.status_code == 200
    assert forbidden(controlplane, namespace, OPERATOR_SA) == []
    assert forbidden(controlplane, namespace, ISSUER_SA) == []
    kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
