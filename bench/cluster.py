"""Cluster mode on the Kubernetes API emulator: propagation, start-up and memory (issue 5).

Run: ``.venv/bin/python bench/cluster.py [--changes 100] [--credentials 10000]``.

1. Propagation: the operator (kopf, in a thread) and ``gatekey serve --kube`` (a
   process) run against the emulator. Each of ``--changes`` edits changes a
   Credential's metadata value (shown in its token response); the clock runs from
   the write of the CR until the issuer answers with the new value. p50 and p99.
2. Start-up and memory: ``--credentials`` Credentials' rendered objects (a Secret
   and a ConfigMap each) are written to a fresh emulator; ``gatekey serve --kube``
   starts; the clock runs until ``/readyz`` answers 200; then the resident memory
   of the issuer process.

The emulator is the test suite's (``tests/support``). Nothing is asserted on time;
the figures are printed (docs/performance.md keeps them with the command).

``--real``: the same on a real kube-apiserver and etcd (bench/realkube.py, built by
scripts/install-controlplane.sh); the operator then runs as ``gatekey operator``, a
process, and every client speaks TLS with client certificates.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatekey.operator import contract  # noqa: E402
from gatekey.operator.entropy import SystemEntropy  # noqa: E402
from gatekey.operator.model import parse_document  # noqa: E402
from gatekey.operator.render import RenderInput, render  # noqa: E402
from tests.support.kube_harness import (  # noqa: E402
    EmulatorThread,
    KubeClient,
    OperatorThread,
    quiet_kopf,
)
from tests.support.process import free_port  # noqa: E402

GATEKEY = str(Path(sys.executable).parent / "gatekey")
API = "gatekey.io/v1alpha1"


def kubeconfig(folder: Path, url: str) -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "emu",
                "clusters": [{"name": "emu", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [
                    {
                        "name": "emu",
                        "context": {"cluster": "emu", "user": "u", "namespace": "default"},
                    }
                ],
            }
        )
    )
    return path


def start_issuer(
    folder: Path, url: str, config: Path | None = None
) -> tuple[subprocess.Popen[bytes], str, float]:
    """``gatekey serve --kube``; its URL and the seconds until ``/readyz`` said 200."""
    port = free_port()
    config = config or kubeconfig(folder, url)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            GATEKEY,
            "serve",
            "--kube",
            "--kubeconfig",
            str(config),
            "--port",
            str(port),
            "--state-dir",
            str(folder / "state"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(base + "/readyz", timeout=1).status_code == 200:
                return process, base, time.perf_counter() - started
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            raise RuntimeError("gatekey serve --kube exited")
        time.sleep(0.01)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def policy_doc() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "AuthPolicy",
        "metadata": {"name": "shop"},
        "spec": {
            "type": "OAuth2",
            "management": "ACL",
            "targetRef": {"kind": "ProxyGroup", "name": "shop", "proxies": ["a"]},
        },
    }


def credential_doc(name: str, value: str = "0") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Credential",
        "metadata": {"name": name},
        "spec": {
            "acl": [{"kind": "ProxyGroup", "name": "shop"}],
            "claims": [{"key": "version", "value": value, "includeInTokenResponse": True}],
        },
    }


def propagation(changes: int) -> list[float]:
    """Seconds from each CR write to the issuer serving it."""
    emulator = EmulatorThread().start()
    kube = KubeClient(emulator.url)
    with quiet_kopf(), tempfile.TemporaryDirectory() as folder:
        operator = OperatorThread(emulator.url, namespaces=["default"]).start()
        kube.create(policy_doc(), "default")
        kube.create(credential_doc("svc"), "default")
        secret = None
        while secret is None:
            secret = kube.get("Secret", "default", "svc-credentials")
            time.sleep(0.05)
        values = contract.secret_values(secret)
        client = (values["client_id"], values["client_secret"])
        issuer, url, _ = start_issuer(Path(folder), emulator.url)
        try:
            delays = []
            for change in range(1, changes + 1):
                started = time.perf_counter()
                # A merge patch, as kubectl edit: a PUT without the resourceVersion is a 409.
                kube.patch(
                    "Credential",
                    "default",
                    "svc",
                    {"spec": credential_doc("svc", str(change))["spec"]},
                )
                while token_version(url, client) != str(change):
                    time.sleep(0.005)
                delays.append(time.perf_counter() - started)
            return delays
        finally:
            issuer.terminate()
            issuer.wait(10)
            operator.stop()
            emulator.stop()


def propagation_real(cluster: Any, changes: int) -> list[float]:
    from bench.realkube import operator_process

    namespace = cluster.namespace("propagation")
    kube = cluster.client()
    with (
        tempfile.TemporaryDirectory() as folder,
        operator_process(cluster.operator_config(namespace, Path(folder)), namespace),
    ):
        kube.create(policy_doc(), namespace)
        kube.create(credential_doc("svc"), namespace)
        secret = None
        while secret is None:
            secret = kube.get("Secret", namespace, "svc-credentials")
            time.sleep(0.05)
        values = contract.secret_values(secret)
        client = (values["client_id"], values["client_secret"])
        issuer, url, _ = start_issuer(
            Path(folder), cluster.url, cluster.admin_config(Path(folder), namespace)
        )
        try:
            delays = []
            for change in range(1, changes + 1):
                started = time.perf_counter()
                kube.patch(
                    "Credential",
                    namespace,
                    "svc",
                    {"spec": credential_doc("svc", str(change))["spec"]},
                )
                while token_version(url, client) != str(change):
                    time.sleep(0.005)
                delays.append(time.perf_counter() - started)
            return delays
        finally:
            issuer.terminate()
            issuer.wait(10)


def startup_real(cluster: Any, credentials: int) -> tuple[float, float, float]:
    namespace = cluster.namespace("startup")
    objects = rendered_objects(credentials, namespace)
    written = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        clients = [cluster.client() for _ in range(8)]
        list(pool.map(lambda i: clients[i % 8].create(objects[i], namespace), range(len(objects))))
    written = time.perf_counter() - written
    with tempfile.TemporaryDirectory() as folder:
        config = cluster.admin_config(Path(folder), namespace)
        issuer, _, ready = start_issuer(Path(folder), cluster.url, config)
        memory = rss_mib(issuer.pid)
        issuer.terminate()
        issuer.wait(10)
    return written, ready, memory


def token_version(url: str, client: tuple[str, str]) -> str | None:
    response = requests.post(
        url + "/credential/token",
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
        },
    )
    return response.json().get("version") if response.status_code == 200 else None


def rendered_objects(credentials: int, namespace: str = "default") -> list[dict[str, Any]]:
    """What the operator writes for the policy and ``credentials`` Credentials, no owners."""
    docs = [policy_doc()] + [credential_doc(f"c{i}") for i in range(credentials)]
    resources = [parse_document(d, "bench", str(i)) for i, d in enumerate(docs)]
    rendered = render(
        RenderInput(
            namespace,
            [resources[0]],
            resources[1:],
            [],
            {},  # type: ignore[list-item]
            datetime.now(UTC),
            SystemEntropy(),
        )
    )
    objects = list(rendered.objects)
    for obj in objects:
        obj["metadata"].pop("ownerReferences", None)
    return objects


def startup(credentials: int) -> tuple[float, float, float]:
    """Seconds to write the objects, seconds to ready, resident MiB of the issuer."""
    objects = rendered_objects(credentials)
    emulator = EmulatorThread().start()
    kube = KubeClient(emulator.url)
    try:
        written = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda o: KubeClient(emulator.url).create(o, "default"), objects))
        written = time.perf_counter() - written
        with tempfile.TemporaryDirectory() as folder:
            issuer, _, ready = start_issuer(Path(folder), emulator.url)
            memory = rss_mib(issuer.pid)
            issuer.terminate()
            issuer.wait(10)
        del kube
        return written, ready, memory
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument("--real", action="store_true", help="a real kube-apiserver and etcd")
    args = parser.parse_args()
    if args.real:
        from bench.realkube import real_cluster

        with real_cluster() as cluster:
            print(
                f"machine: {os.cpu_count()} cores; real kube-apiserver ({cluster.plane.bin.name})"
            )
            report(
                args,
                propagation_real(cluster, args.changes),
                startup_real(cluster, args.credentials),
            )
        return
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; emulator")
    report(args, propagation(args.changes), startup(args.credentials))


def report(
    args: argparse.Namespace, delays: list[float], figures: tuple[float, float, float]
) -> None:
    quantiles = statistics.quantiles(delays, n=100)
    print(
        f"propagation over {len(delays)} Credential changes (CR write -> issuer serves it): "
        f"p50 {statistics.median(delays) * 1000:.0f} ms, p99 {quantiles[98] * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms (goal p99 < 2 s)"
    )
    written, ready, memory = figures
    print(
        f"start-up with {args.credentials:,} Credentials ({2 * args.credentials:,} objects, "
        f"written in {written:.1f} s): ready in {ready:.2f} s (goal < 5 s), "
        f"resident {memory:.0f} MiB (goal < 200 MB)"
    )


if __name__ == "__main__":
    main()
