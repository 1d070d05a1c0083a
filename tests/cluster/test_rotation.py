"""Secret rotation with overlap in cluster mode: operator + ``gatekey serve --kube`` on the
emulator. The rotation is asked with an annotation; clients switch one after the other
while requesting tokens continuously, and no request fails."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from gatekey.operator import contract
from tests.operator.helpers import events_for, wait_condition
from tests.support.kube_harness import KubeClient, OperatorThread, quiet_kopf, wait_for
from tests.support.manifests import credential, policy, secret
from tests.support.process import eventually, serving

NS = "default"
ROTATE = contract.ROTATE_SECRET_ANNOTATION
COMPLETE = contract.ROTATION_COMPLETE_ANNOTATION


@dataclass
class Cluster:
    url: str
    kube: KubeClient
    emulator_url: str
    operator: OperatorThread


@pytest.fixture
def cluster(tmp_path, emulator, kube, kubeconfig) -> Iterator[Cluster]:
    with quiet_kopf():
        operator = OperatorThread(emulator.url, namespaces=[NS]).start()
        state = Cluster("", kube, emulator.url, operator)
        try:
            with serving(
                tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
            ) as (url, _):
                state.url = url
                yield state
        finally:
            state.operator.stop()


def values(kube, name):
    found = kube.get("Secret", NS, name)
    return contract.secret_values(found) if found else {}


def token(url, client_id, client_secret, path, session=requests):
    return session.post(
        url + path,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )


def annotate(kube, kind, name, **notes):
    kube.patch(kind, NS, name, {"metadata": {"annotations": notes}})


@dataclass
class Client:
    """One replica of a client: its own session, the secret it is configured with, and
    what came of every request it made."""

    name: str
    url: str
    client_id: str
    secret: str
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> "Client":
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                secret = self.secret
                try:
                    answer = token(self.url, self.client_id, secret, "/credential/token", session)
                except requests.RequestException as exc:
                    self.failed.append(repr(exc))
                    continue
                if answer.status_code == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"{answer.status_code} {answer.text[:200]}")

    def made_more_than(self, count: int) -> bool:
        return self.ok > count

    def finish(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(10)


def test_rotation_with_two_clients_switching_has_no_failed_request(cluster):
    kube, url = cluster.kube, cluster.url
    kube.create(policy("shop", "OAuth2", management="ACL"), NS)
    kube.create(credential("billing", ["ApiProxy/orders"], previousSecretTTL="1h"), NS)
    first = wait_for(lambda: values(kube, "billing-credentials"))
    client_id, old = first["client_id"], first["client_secret"]
    eventually(lambda: token(url, client_id, old, "/credential/token").status_code == 200)

    replicas = [Client(f"replica-{i}", url, client_id, old).start() for i in (1, 2)]
    try:
        for replica in replicas:
            wait_for(lambda r=replica: r.made_more_than(50))
        annotate(kube, "Credential", "billing", **{ROTATE: "2026-12-02"})
        rotated = wait_for(
            lambda: (
                (v := values(kube, "billing-credentials")).get(contract.PREVIOUS_CLIENT_SECRET_KEY)
                and v
            )
        )
        new = rotated["client_secret"]
        assert new != old
        assert rotated[contract.PREVIOUS_CLIENT_SECRET_KEY] == old
        # A rollout's readiness gate: the new secret works at the issuer before any
        # replica switches (the issuer's watch follows the Secret by a moment).
        eventually(lambda: token(url, client_id, new, "/credential/token").status_code == 200)
        for replica in replicas:  # one after the other, requests going on all along
            before = replica.ok
            replica.secret = new
            wait_for(lambda r=replica, b=before: r.made_more_than(b + 50))
        annotate(kube, "Credential", "billing", **{COMPLETE: "2026-12-02"})
        wait_for(
            lambda: contract.PREVIOUS_CLIENT_SECRET_KEY not in values(kube, "billing-credentials")
        )
        eventually(lambda: token(url, client_id, old, "/credential/token").status_code == 401)
        for replica in replicas:
            before = replica.ok
            wait_for(lambda r=replica, b=before: r.made_more_than(b + 50))
    finally:
        for replica in replicas:
            replica.finish()
    total = sum(r.ok + len(r.failed) for r in replicas)
    failures = [f for r in replicas for f in r.failed]
    print(f"\nrotation proof: {total} token requests by 2 replicas, {len(failures)} failed")
    assert failures == []
    assert all(r.ok > 150 for r in replicas)
    cr = kube.get("Credential", NS, "billing")
    generations = cr["status"]["secretGenerations"]
    assert "previous" not in generations
    assert generations["current"]["createdAt"]
    reasons = [reason for _, reason, _ in events_for(kube, NS, "billing")]
    assert reasons.count("SecretRotated") == 2  # rotated, then completed


def test_policy_rotation_is_reported_and_not_repeated_after_a_restart(cluster):
    kube = cluster.kube
    kube.create(policy("orders", "OAuth2", previousSecretTTL="2h"), NS)
    key = "apiproxy-orders-proxy-key"
    before = wait_for(lambda: values(kube, key))
    annotate(kube, "AuthPolicy", "orders", **{ROTATE: "one"})
    after = wait_for(
        lambda: (v := values(kube, key)).get(contract.PREVIOUS_CLIENT_SECRET_KEY) and v
    )
    assert after[contract.PREVIOUS_CLIENT_SECRET_KEY] == before["client_secret"]
    status = wait_for(
        lambda: (
            ((kube.get("AuthPolicy", NS, "orders") or {}).get("status") or {})
            .get("secretGenerations", {})
            .get("previous")
        )
    )
    assert status["expiresAt"] == after[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY]
    assert before["client_secret"] not in repr(kube.get("AuthPolicy", NS, "orders"))
    event = wait_for(
        lambda: [m for _, r, m in events_for(kube, NS, "orders") if r == "SecretRotated"]
    )
    assert "until " + after[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY] in event[0]
    # A restarted operator sees the value as handled: no second rotation.
    cluster.operator.stop()
    cluster.operator = OperatorThread(cluster.emulator_url, namespaces=[NS]).start()
    annotate(kube, "AuthPolicy", "orders", **{"touch": "1"})
    wait_condition(kube, "AuthPolicy", NS, "orders")
    kube.patch("AuthPolicy", NS, "orders", {"spec": {"allowUrlParameters": True}})
    wait_for(
        lambda: (
            ((kube.get("AuthPolicy", NS, "orders") or {}).get("status") or {}).get(
                "observedGeneration"
            )
            == 2
        )
    )
    assert values(kube, key) == after
    # Both secrets work at the issuer.
    client_id = after["client_id"]
    for secret_value in (after["client_secret"], before["client_secret"]):
        eventually(
            lambda s=secret_value: (
                token(cluster.url, client_id, s, "/auth/token").status_code == 200
            )
        )


def test_rotation_asked_on_a_user_owned_secret_is_refused_and_the_secret_untouched(cluster):
    kube = cluster.kube
    kube.create(policy("shop", "OAuth2", management="ACL"), NS)
    kube.create(secret("mine", client_id="mine", client_secret="written-by-me"), NS)
    kube.create(credential("billing", ["ApiProxy/orders"], secretName="mine"), NS)
    wait_condition(kube, "Credential", NS, "billing")
    data_before = kube.get("Secret", NS, "mine")["data"]
    annotate(kube, "Credential", "billing", **{ROTATE: "please"})
    cr = wait_condition(kube, "Credential", NS, "billing", "False", "RotationRefused")
    message = next(c for c in cr["status"]["conditions"] if c["type"] == "Ready")["message"]
    assert "user-owned" in message
    assert kube.get("Secret", NS, "mine")["data"] == data_before
    # Still served: the user's secret keeps working.
    eventually(
        lambda: token(cluster.url, "mine", "written-by-me", "/credential/token").status_code == 200
    )
