"""The operator reconciling 100 and 1,000 Credentials on the Kubernetes API emulator
(docs/performance.md).

Run: ``.venv/bin/python bench/operator.py [--sizes 100 1000]``

For each size, a fresh emulator and a fresh operator (one namespace) are started;
then, as ``kubectl apply -f`` of one folder would, the manifests are created by 8
concurrent clients: a user-pool Secret, three AuthPolicies (a Policy-mode JWT one,
two ACL-mode ones on a ProxyGroup), one Role per 50 Credentials naming them, and
the Credentials. The clock runs from the first create until every CR is Ready at
its current generation and every Secret and ConfigMap the contract asks for
exists. The figures: that time, the time the creates alone took, and the
requests the operator made.

The ceiling, measured in the same run on a fresh emulator: the same number of
writes the operator made (creates of Secrets and ConfigMaps, status patches,
Events), sent straight to the emulator by a client with the operator's
concurrency: what the API work costs with no operator logic at all.

Goal (issue 4): under 30 s for 1,000 Credentials, growing linearly from 100.
Nothing is asserted: the figures are printed. Exit status 1 if a run did not
converge within its deadline.

``--real``: the same on a real kube-apiserver and etcd (bench/realkube.py, built by
scripts/install-controlplane.sh), with ``gatekey operator`` as a process under a
ServiceAccount; its writes are counted from the API server's audit log, and the ceiling
sends the same writes to the same server.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ must not be first on the path: this file is named like the standard library's operator.
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402

from gatekey.operator import contract  # noqa: E402
from tests.support.kube_harness import (  # noqa: E402
    EmulatorThread,
    KubeClient,
    OperatorThread,
)
from tests.support.manifests import credential, policy, role, user_pool  # noqa: E402

NS = "bench"
CLIENTS = 8
PER_ROLE = 50


def manifests(count: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        user_pool("users", {"alice": "wonderland"}),
        policy(
            "orders-jwt",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
        ),
        policy("shop-jwt", target="ProxyGroup/shop", management="ACL", proxies=["orders", "pay"]),
        policy(
            "shop-token",
            "OAuth2",
            target="ProxyGroup/shop",
            management="ACL",
            proxies=["orders", "pay"],
        ),
    ]
    for start in range(0, count, PER_ROLE):
        names = [f"Credential/svc-{i:05d}" for i in range(start, min(start + PER_ROLE, count))]
        docs.append(
            role(f"role-{start // PER_ROLE:04d}", *names, scope=f"scope.{start // PER_ROLE}")
        )
    docs += [credential(f"svc-{i:05d}", acl=["ProxyGroup/shop"]) for i in range(count)]
    return docs


def expected_objects(count: int) -> int:
    """Secrets and ConfigMaps the contract asks for: per Credential a Secret and a ConfigMap,
    per policy a ConfigMap, per Role a ConfigMap, one proxy key, one user-pool copy,
    the signing keys and the JWKS."""
    roles = -(-count // PER_ROLE)
    return 2 * count + 3 + roles + 1 + 1 + 2


def converged(kube: KubeClient, docs: list[dict[str, Any]], count: int, ns: str = NS) -> bool:
    for kind in ("AuthPolicy", "Role", "Credential"):
        items = kube.list(kind, ns)
        if len(items) != sum(1 for d in docs if d["kind"] == kind):
            return False
        for item in items:
            status = item.get("status") or {}
            ready = [c for c in status.get("conditions", ()) if c["type"] == "Ready"]
            if not ready or ready[0]["status"] != "True":
                return False
            if status.get("observedGeneration") != item["metadata"]["generation"]:
                return False
    objects = len(kube.list("Secret", ns, contract.SELECTOR)) + len(
        kube.list("ConfigMap", ns, contract.SELECTOR)
    )
    return objects == expected_objects(count)


def run_real(cluster: Any, count: int, deadline: float) -> dict[str, Any]:
    """The same measurement on the real API server, in a fresh namespace."""
    from bench.realkube import operator_process

    namespace = cluster.namespace(f"{NS}-{count}")
    with tempfile.TemporaryDirectory() as folder:
        config = cluster.operator_config(namespace, Path(folder))
        with operator_process(config, namespace):
            time.sleep(2)  # its start-up, which the emulator's thread has done before start()
            docs = manifests(count)
            clients = [cluster.client() for _ in range(CLIENTS)]
            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                list(
                    pool.map(
                        lambda i: clients[i % CLIENTS].create(docs[i], namespace),
                        range(len(docs)),
                    )
                )
            applied = time.perf_counter() - started
            ok = False
            while time.perf_counter() - started < deadline:
                if converged(clients[0], docs, count, namespace):
                    ok = True
                    break
                time.sleep(0.25)
            elapsed = time.perf_counter() - started
    by_operator = cluster.operator_writes(namespace)
    by_operator = Counter({(m, p, s): n for (m, p, s), n in by_operator.items() if n})
    return {"count": count, "ok": ok, "applied": applied, "ready": elapsed, "writes": by_operator}


def run(count: int, deadline: float) -> dict[str, Any]:
    emulator = EmulatorThread().start()
    operator = OperatorThread(emulator.url, namespaces=[NS]).start()
    try:
        docs = manifests(count)
        clients = [KubeClient(emulator.url) for _ in range(CLIENTS)]
        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(lambda i: clients[i % CLIENTS].create(docs[i], NS), range(len(docs))))
        applied = time.perf_counter() - started
        kube = clients[0]
        ok = False
        while time.perf_counter() - started < deadline:
            if converged(kube, docs, count):
                ok = True
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        writes = emulator.call(lambda emu: list(emu.writes))
    finally:
        operator.stop()
        emulator.stop()
    by_operator = Counter(
        (w.method, w.plural, w.subresource)
        for w in writes
        if w.plural in ("secrets", "configmaps", "events") or w.subresource == "status"
    )
    # The client's own creates of Secrets (the user pool) are not the operator's.
    by_operator[("POST", "secrets", None)] -= 1
    return {"count": count, "ok": ok, "applied": applied, "ready": elapsed, "writes": by_operator}


async def _ceiling_writes(
    url: str,
    writes: Counter[tuple[str, str, str | None]],
    ssl: Any = None,
    NS: str = NS,
) -> float:
    """Send as many creates and status patches as the operator did, 16 at a time."""
    limit = asyncio.Semaphore(16)
    connector = aiohttp.TCPConnector(ssl=ssl) if ssl is not None else None
    async with aiohttp.ClientSession(connector=connector) as session:
        crs = writes[("PATCH", "credentials", "status")] + writes[("PATCH", "roles", "status")]
        names = [f"c{i}" for i in range(max(crs, 1))]
        for name in names:  # the CRs whose status gets patched (not timed)
            async with session.post(
                f"{url}/apis/gatekey.io/v1alpha1/namespaces/{NS}/credentials",
                json=credential(name),
            ) as response:
                assert response.status == 201, await response.text()

        async def post(path: str, body: dict[str, Any]) -> None:
            async with limit, session.post(url + path, json=body) as response:
                assert response.status == 201, await response.text()

        async def patch(path: str, body: dict[str, Any]) -> None:
            headers = {"Content-Type": "application/merge-patch+json"}
            async with limit, session.patch(url + path, json=body, headers=headers) as response:
                assert response.status == 200, await response.text()

        jobs = []
        for kind in ("secrets", "configmaps", "events"):
            for i in range(writes[("POST", kind, None)]):
                meta = {"name": f"{kind}-{i}"}
                body: dict[str, Any] = {"metadata": meta, "data": {"k": "dg=="}}
                if kind == "events":
                    body = {
                        "metadata": meta,
                        "involvedObject": {"name": "x", "namespace": NS, "kind": "Credential"},
                        "reason": "R",
                        "message": "m",
                        "type": "Normal",
                    }
                jobs.append(post(f"/api/v1/namespaces/{NS}/{kind}", body))
        for i in range(crs):
            status = {"status": {"observedGeneration": 1, "clientId": f"id-{i}"}}
            path = f"/apis/gatekey.io/v1alpha1/namespaces/{NS}/credentials/{names[i]}/status"
            jobs.append(patch(path, status))
        started = time.perf_counter()
        await asyncio.gather(*jobs)
        return time.perf_counter() - started


def ceiling(writes: Counter[tuple[str, str, str | None]]) -> float:
    emulator = EmulatorThread().start()
    try:
        return asyncio.run(_ceiling_writes(emulator.url, writes))
    finally:
        emulator.stop()


def ceiling_real(cluster: Any, writes: Counter[tuple[str, str, str | None]], count: int) -> float:
    namespace = cluster.namespace(f"{NS}-ceiling-{count}")
    return asyncio.run(_ceiling_writes(cluster.url, writes, cluster.ssl_context(), namespace))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--real", action="store_true", help="a real kube-apiserver and etcd")
    args = parser.parse_args()
    if args.real:
        from bench.realkube import real_cluster

        with real_cluster() as cluster:
            return report(
                args,
                lambda count: run_real(cluster, count, args.deadline),
                lambda writes, count: ceiling_real(cluster, writes, count),
                f"real kube-apiserver ({cluster.plane.bin.name})",
            )
    return report(
        args, lambda count: run(count, args.deadline), lambda w, _: ceiling(w), "emulator"
    )


def report(args: argparse.Namespace, measure: Any, roof: Any, server: str) -> int:
    logging.basicConfig(level=logging.ERROR)
    for name in ("kopf", "aiohttp.access", "gatekey"):
        logging.getLogger(name).setLevel(logging.ERROR)

    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {server}"
    )
    results = []
    for count in args.sizes:
        result = measure(count)
        total = sum(result["writes"].values())
        result["ceiling"] = roof(result["writes"], count)
        results.append(result)
        each = 1000 * result["ready"] / count
        print(
            f"{count:>6} Credentials: all Ready in {result['ready']:6.2f} s "
            f"({each:5.1f} ms each; creates took {result['applied']:5.2f} s)"
            f"{'' if result['ok'] else '  DID NOT CONVERGE'}"
        )
        print(
            f"{'':>6} operator writes: {total} "
            + ", ".join(
                f"{m} {p}{'/' + s if s else ''}: {n}"
                for (m, p, s), n in sorted(result["writes"].items(), key=lambda kv: str(kv[0]))
            )
        )
        print(f"{'':>6} ceiling (the same writes, no operator): {result['ceiling']:5.2f} s")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = large["ready"] / small["ready"]
        scale = large["count"] / small["count"]
        print(
            f"growth {small['count']} -> {large['count']}: x{growth:.1f} for x{scale:.0f} "
            "Credentials (linear: the same)"
        )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
