"""Secret rotation with overlap on a real API server, under the chart's RBAC.

``gatekey operator`` and ``gatekey serve --kube`` run as processes with TokenRequest tokens of
the chart's ServiceAccounts (as in test_quickstart). Two replicas of one client, each its own
process, request tokens back to back with the secret in a file (what a mounted Secret volume
gives them). A rotation is asked with ``kubectl annotate``; replica 1 switches to the new
secret, then replica 2; then the rotation is completed with the second annotation. No request
may fail, the old secret is refused afterwards, the status shows both generations (never a
value), an Event is recorded, and the issuer's audit lines say which generation was used.
The same for a proxy key (a Policy-mode AuthPolicy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from gatekey.operator import contract
from tests.chart.conftest import Helm
from tests.realkube.conftest import (
    Kubectl,
    forbidden,
    issuer_process,
    operator_process,
    service_account_kubeconfig,
)
from tests.realkube.controlplane import ControlPlane
from tests.realkube.rotation_client import digest
from tests.support.manifests import credential, policy
from tests.support.process import Served, eventually

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("rotation_client.py")
RELEASE = "rot"
OPERATOR_SA = f"{RELEASE}-gatekey-operator"
ISSUER_SA = f"{RELEASE}-gatekey-issuer"
ROTATE = contract.ROTATE_SECRET_ANNOTATION
COMPLETE = contract.ROTATION_COMPLETE_ANNOTATION
# Requests each replica must have answered in each phase (a few seconds at most).
PHASE = 40


@dataclass
class Stack:
    namespace: str
    url: str
    issuer: Served
    folder: Path


@pytest.fixture(scope="module")
def stack(
    controlplane: ControlPlane,
    kubectl: Kubectl,
    crds: list[str],
    helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("rotation")
    namespace = "rotation"
    kubectl.run("create", "namespace", namespace)
    helm.run(
        "install",
        RELEASE,
        ROOT / "charts" / "gatekey",
        "--namespace",
        namespace,
        "--kubeconfig",
        controlplane.admin_kubeconfig,
        "--wait=false",
    )
    operator_config = service_account_kubeconfig(controlplane, namespace, OPERATOR_SA, folder)
    issuer_config = service_account_kubeconfig(controlplane, namespace, ISSUER_SA, folder)
    with operator_process(operator_config, namespace):
        kubectl.apply(
            [
                policy("shop", "OAuth2", "ApiProxy/orders", management="ACL"),
                credential("billing", ["ApiProxy/orders"], previousSecretTTL="1h"),
                policy("payments", "OAuth2", "ApiProxy/payments", previousSecretTTL="1h"),
            ],
            namespace,
        )
        kubectl.run(
            "wait",
            "--for=condition=Ready",
            "--timeout=90s",
            "-n",
            namespace,
            "authpolicies.gatekey.io,credentials.gatekey.io",
            "--all",
        )
        with issuer_process(issuer_config, folder / "state", "--namespace", namespace) as (
            url,
            issuer,
        ):
            yield Stack(namespace, url, issuer, folder)
            assert forbidden(controlplane, namespace, ISSUER_SA) == []
        assert forbidden(controlplane, namespace, OPERATOR_SA) == []
    kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def secret_values(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    found = kubectl.get("secret", name, namespace)
    return contract.secret_values(found) if found else {}


def token(url: str, path: str, client_id: str, secret: str) -> int:
    return requests.post(
        url + path,
        timeout=5,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).status_code


class Replica:
    """A client replica process (rotation_client.py) and the file its secret is read from."""

    def __init__(self, folder: Path, name: str, url: str, path: str, client_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.secret_file = folder / f"{name}.secret"
        self.report_file = folder / f"{name}.json"
        self.stop_file = folder / f"{name}.stop"
        self.args = [url, path, client_id, self.secret_file, self.report_file, self.stop_file]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, secret: str) -> Replica:
        self.use(secret)
        self.process = subprocess.Popen(
            [sys.executable, str(CLIENT), *map(str, self.args)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.report_file.with_suffix(".err"), "wb"),  # noqa: SIM115
        )
        return self

    def use(self, secret: str) -> None:
        """Switch to ``secret``, as the kubelet updates a mounted Secret (atomic rename)."""
        partial = self.secret_file.with_suffix(".partial")
        partial.write_text(secret)
        os.replace(partial, self.secret_file)

    def report(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.report_file.read_text()))
        except (FileNotFoundError, ValueError):
            return {"ok": {}, "failed": {}, "failures": [], "done": False}

    def ok_with(self, secret: str) -> int:
        return int(self.report()["ok"].get(digest(secret), 0))

    def wait_ok_with(self, secret: str, more: int = PHASE) -> None:
        """Until ``more`` further requests with ``secret`` have succeeded."""
        before = self.ok_with(secret)

        def advanced() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, "replica exited"
            return self.ok_with(secret) >= before + more

        eventually(advanced, timeout=60, interval=0.05)

    def finish(self) -> dict[str, Any]:
        self.stop_file.touch()
        if self.process is not None:
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.report()


def audit_lines(issuer: Served, client_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in issuer.output()[0].splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("client_id") == client_id:
            lines.append(entry)
    return lines


def previous_uses(url: str) -> float:
    """``gatekey_previous_secret_uses_total``, summed over its endpoint label."""
    total = 0.0
    for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("gatekey_previous_secret_uses_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def events(kubectl: Kubectl, namespace: str, name: str, reason: str) -> list[str]:
    found = json.loads(kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout)
    return [
        e["message"]
        for e in found["items"]
        if e["involvedObject"]["name"] == name and e["reason"] == reason
    ]


def rotate_across_two_replicas(
    stack: Stack, kubectl: Kubectl, resource: str, secret_name: str, path: str
) -> None:
    """The whole scenario for one client: ``resource`` is ``kind/name`` for kubectl."""
    ns, url = stack.namespace, stack.url
    kind, name = resource.split("/")
    first = eventually(lambda: secret_values(kubectl, ns, secret_name) or None, timeout=30)
    client_id, old = first["client_id"], first["client_secret"]
    eventually(lambda: token(url, path, client_id, old) == 200, timeout=30)
    uses_before = previous_uses(url)

    folder = stack.folder / name
    replicas = [Replica(folder, f"replica-{i}", url, path, client_id) for i in (1, 2)]
    try:
        for replica in replicas:
            replica.start(old)
        for replica in replicas:
            replica.wait_ok_with(old)

        kubectl.run("annotate", "-n", ns, resource, f"{ROTATE}=r1", "--overwrite")
        rotated = eventually(
            lambda: (
                (v := secret_values(kubectl, ns, secret_name)).get(
                    contract.PREVIOUS_CLIENT_SECRET_KEY
                )
                and v
            ),
            timeout=30,
        )
        new = rotated["client_secret"]
        assert new != old
        assert rotated[contract.PREVIOUS_CLIENT_SECRET_KEY] == old
        assert rotated["client_id"] == client_id
        # The status shows both generations, never a value.
        status = eventually(
            lambda: (
                ((kubectl.get(kind, name, ns) or {}).get("status") or {})
                .get("secretGenerations", {})
                .get("previous")
                and kubectl.get(kind, name, ns)
            ),
            timeout=30,
        )
        generations = status["status"]["secretGenerations"]
        assert generations["current"]["createdAt"] == rotated[contract.CLIENT_SECRET_CREATED_AT_KEY]
        assert (
            generations["previous"]["expiresAt"]
            == rotated[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY]
        )
        assert old not in json.dumps(status)
        assert new not in json.dumps(status)
        rotated_events = eventually(lambda: events(kubectl, ns, name, "SecretRotated"), timeout=30)
        assert not [m for m in rotated_events if old in m or new in m]

        # The readiness gate of a rollout: the new secret works before any replica uses it.
        eventually(lambda: token(url, path, client_id, new) == 200, timeout=30)
        for replica in replicas:  # one after the other, both requesting all along
            replica.use(new)
            replica.wait_ok_with(new)
        # Replica 2 kept the old secret while replica 1 had switched: the old one was
        # still accepted then, and counted as a previous-secret use.
        assert previous_uses(url) > uses_before

        kubectl.run("annotate", "-n", ns, resource, f"{COMPLETE}=r1", "--overwrite")
        eventually(
            lambda: (
                contract.PREVIOUS_CLIENT_SECRET_KEY not in secret_values(kubectl, ns, secret_name)
            ),
            timeout=30,
        )
        # Slowly: each refusal counts as a failed authentication from this address, and
        # enough of them would throttle the replicas' own (good) requests.
        eventually(lambda: token(url, path, client_id, old) == 401, timeout=30, interval=0.5)
        for replica in replicas:
            replica.wait_ok_with(new)
    finally:
        reports = [replica.finish() for replica in replicas]

    requested = sum(sum(r["ok"].values()) + sum(r["failed"].values()) for r in reports)
    failed = sum(sum(r["failed"].values()) for r in reports)
    print(
        f"\nrotation on a real API server, {resource}: {requested} token requests by "
        f"2 replica processes, {failed} failed; per replica (old, new): "
        + ", ".join(
            f"({r['ok'].get(digest(old), 0)}, {r['ok'].get(digest(new), 0)})" for r in reports
        )
    )
    assert [r["failures"] for r in reports] == [[], []]
    assert failed == 0
    assert all(r["done"] for r in reports)

    # The audit lines say which generation authenticated each request (they are written
    # in batches: wait until the metric and the lines agree).
    uses = previous_uses(url) - uses_before

    def agreeing() -> list[dict[str, Any]] | None:
        found = audit_lines(stack.issuer, client_id)
        return found if sum(1 for x in found if x["secret"] == "previous") == uses else None

    lines = eventually(agreeing, timeout=15)
    used = {line["secret"] for line in lines if line["status"] == 200}
    assert used == {"current", "previous"}
    old_oks = sum(r["ok"].get(digest(old), 0) for r in reports)
    assert 0 < uses <= old_oks
    assert not any(old in json.dumps(line) or new in json.dumps(line) for line in lines)

    # Completed: the status has no previous generation, and a second Event says so.
    done = eventually(
        lambda: (
            (s := (kubectl.get(kind, name, ns) or {}).get("status") or {})
            and "previous" not in s.get("secretGenerations", {"previous": 1})
            and s
        ),
        timeout=30,
    )
    assert done["secretGenerations"]["current"]["createdAt"]
    eventually(lambda: len(events(kubectl, ns, name, "SecretRotated")) >= 2, timeout=30)


def test_credential_rotation_with_two_replica_processes_has_no_failed_request(
    stack: Stack, kubectl: Kubectl
) -> None:
    rotate_across_two_replicas(
        stack, kubectl, "credential/billing", "billing-credentials", "/credential/token"
    )


def test_proxy_key_rotation_with_two_replica_processes_has_no_failed_request(
    stack: Stack, kubectl: Kubectl
) -> None:
    rotate_across_two_replicas(
        stack, kubectl, "authpolicy/payments", "apiproxy-payments-proxy-key", "/auth/token"
    )


def test_rotation_asked_on_an_adopted_secret_is_refused_and_the_secret_untouched(
    stack: Stack, kubectl: Kubectl
) -> None:
    """On the real API server: Ready=False RotationRefused, the Secret byte for byte as the
    user wrote it (same resourceVersion: never written), and still served."""
    from tests.support.manifests import secret

    ns = stack.namespace
    kubectl.apply(
        [
            secret("mine", client_id="mine-rot", client_secret="written-by-me-0123456789"),
            credential("adopted", ["ApiProxy/orders"], secretName="mine"),
        ],
        ns,
    )
    kubectl.run("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "credential/adopted")
    before = kubectl.get("secret", "mine", ns)
    assert before is not None
    kubectl.run("annotate", "-n", ns, "credential/adopted", f"{ROTATE}=please", "--overwrite")
    kubectl.run(
        "wait",
        "--for=jsonpath={.status.conditions[?(@.type=='Ready')].reason}=RotationRefused",
        "--timeout=60s",
        "-n",
        ns,
        "credential/adopted",
    )
    cr = kubectl.get("credential", "adopted", ns)
    assert cr is not None
    ready = next(c for c in cr["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert "user-owned" in ready["message"]
    time.sleep(1)  # a pass that would write has had its chance
    after = kubectl.get("secret", "mine", ns)
    assert after is not None
    assert after["data"] == before["data"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    eventually(
        lambda: (
            token(stack.url, "/credential/token", "mine-rot", "written-by-me-0123456789") == 200
        ),
        timeout=30,
    )


def test_an_out_of_range_previous_secret_ttl_is_a_clear_error_and_blocks_no_one(
    stack: Stack, kubectl: Kubectl
) -> None:
    """A rotation whose previous secret would outlive the calendar (``previousSecretTTL:
    3000000d`` passes the CRD's pattern): the Credential reports what is wrong, its secret
    is untouched, and the other clients of the namespace are reconciled and served."""
    ns = stack.namespace
    kubectl.apply([credential("forever", ["ApiProxy/orders"])], ns)
    kubectl.run("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "credential/forever")
    before = secret_values(kubectl, ns, "forever-credentials")
    kubectl.run(
        "patch",
        "-n",
        ns,
        "credential/forever",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "metadata": {"annotations": {ROTATE: "now"}},
                "spec": {"previousSecretTTL": "3000000d"},
            }
        ),
    )
    kubectl.run(
        "wait",
        "--for=condition=Ready=False",
        "--timeout=60s",
        "-n",
        ns,
        "credential/forever",
    )
    cr = kubectl.get("credential", "forever", ns)
    assert cr is not None
    ready = next(c for c in cr["status"]["conditions"] if c["type"] == "Ready")
    assert "previousSecretTTL" in ready["message"], ready
    assert secret_values(kubectl, ns, "forever-credentials") == before
    # Another client of the namespace, created afterwards, is not held up by it.
    kubectl.apply([credential("neighbour", ["ApiProxy/orders"])], ns)
    kubectl.run("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "credential/neighbour")
    neighbour = secret_values(kubectl, ns, "neighbour-credentials")
    eventually(
        lambda: (
            token(
                stack.url,
                "/credential/token",
                neighbour["client_id"],
                neighbour["client_secret"],
            )
            == 200
        ),
        timeout=30,
    )


def test_the_previous_secret_is_refused_after_previous_secret_ttl(
    stack: Stack, kubectl: Kubectl
) -> None:
    """Without a completion: the old secret works until the expiry instant written in the
    Secret and status, and is refused from then on (the issuer's own clock decides)."""
    from datetime import UTC, datetime

    ns = stack.namespace
    kubectl.apply([credential("short", ["ApiProxy/orders"], previousSecretTTL="4s")], ns)
    kubectl.run("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "credential/short")
    first = secret_values(kubectl, ns, "short-credentials")
    client_id, old = first["client_id"], first["client_secret"]
    eventually(lambda: token(stack.url, "/credential/token", client_id, old) == 200, timeout=30)
    kubectl.run("annotate", "-n", ns, "credential/short", f"{ROTATE}=soon", "--overwrite")
    rotated = eventually(
        lambda: (
            (v := secret_values(kubectl, ns, "short-credentials")).get(
                contract.PREVIOUS_CLIENT_SECRET_KEY
            )
            and v
        ),
        timeout=30,
    )
    expiry = datetime.fromisoformat(
        rotated[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY].replace("Z", "+00:00")
    )
    new = rotated["client_secret"]
    eventually(lambda: token(stack.url, "/credential/token", client_id, new) == 200, timeout=30)
    # Refused from the expiry on, never before it.
    refused = eventually(
        lambda: token(stack.url, "/credential/token", client_id, old) == 401 and datetime.now(UTC),
        timeout=30,
        interval=0.5,
    )
    assert refused >= expiry
    assert token(stack.url, "/credential/token", client_id, new) == 200
