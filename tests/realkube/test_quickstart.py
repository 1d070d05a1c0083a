"""The quickstart end to end on a real API server, under the chart's RBAC.

The chart is installed with helm (its Deployments never run: there is no kubelet); then
``gatekey operator`` and ``gatekey serve --kube`` run here as processes, each with a
TokenRequest token of the chart's ServiceAccount for it, so every request they make is
authorised by the chart's real Roles. The API server audits every ServiceAccount request:
a single 403 fails the test. The CRs are applied with kubectl, as the quickstart says.
"""

from __future__ import annotations

import base64
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
    audited,
    forbidden,
    issuer_process,
    operator_process,
    service_account_kubeconfig,
)
from tests.realkube.controlplane import ControlPlane
from tests.support.manifests import credential, secret
from tests.support.process import Served, eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
RELEASE = "gk"
OPERATOR_SA = f"{RELEASE}-gatekey-operator"
ISSUER_SA = f"{RELEASE}-gatekey-issuer"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Stack:
    namespace: str
    url: str
    operator: Served
    issuer: Served
    operator_config: Path
    liveness: str


def _install_chart(helm: Helm, controlplane: ControlPlane, namespace: str) -> None:
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


@pytest.fixture(scope="module")
def stack(
    controlplane: ControlPlane,
    kubectl: Kubectl,
    crds: list[str],
    helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("quickstart")
    namespace = "quickstart"
    kubectl.run("create", "namespace", namespace)
    _install_chart(helm, controlplane, namespace)
    operator_config = service_account_kubeconfig(controlplane, namespace, OPERATOR_SA, folder)
    issuer_config = service_account_kubeconfig(controlplane, namespace, ISSUER_SA, folder)
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    with operator_process(operator_config, namespace, f"--liveness={liveness}") as operator:
        kubectl.apply(QUICKSTART, namespace)
        kubectl.run(
            "wait",
            "--for=condition=Ready",
            "--timeout=90s",
            "-n",
            namespace,
            "authpolicies.gatekey.io,credentials.gatekey.io,roles.gatekey.io",
            "--all",
        )
        with issuer_process(issuer_config, folder / "state", "--namespace", namespace) as (
            url,
            issuer,
        ):
            yield Stack(namespace, url, operator, issuer, operator_config, liveness)
            assert forbidden(controlplane, namespace, ISSUER_SA) == []
        assert forbidden(controlplane, namespace, OPERATOR_SA) == []
    kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def client(kubectl: Kubectl, namespace: str, name: str) -> tuple[str, str]:
    found = kubectl.get("secret", name, namespace)
    assert found is not None, name
    values = contract.secret_values(found)
    return values["client_id"], values["client_secret"]


def token(url: str, credentials: tuple[str, str], path: str, **form: str) -> requests.Response:
    client_id, client_secret = credentials
    return requests.post(
        url + path,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            **form,
        },
    )


def authz(url: str, access_token: str, proxy: str = "orders") -> int:
    return requests.get(
        url + "/authz",
        timeout=5,
        headers={"Authorization": f"Bearer {access_token}", "X-Gatekey-Proxy": proxy},
    ).status_code


def patch(kubectl: Kubectl, namespace: str, resource: str, change: dict[str, Any]) -> None:
    import json

    kubectl.run("patch", resource, "-n", namespace, "--type=merge", "-p", json.dumps(change))


def test_quickstart_tokens_in_both_modes(stack: Stack, kubectl: Kubectl) -> None:
    proxy_key = client(kubectl, stack.namespace, "apiproxy-orders-proxy-key")
    jwt = token(stack.url, proxy_key, "/auth/jwt")
    assert jwt.status_code == 200, jwt.text
    assert authz(stack.url, jwt.json()["access_token"]) == 200
    password = requests.post(
        stack.url + "/auth/token",
        timeout=5,
        data={
            "grant_type": "password",
            "client_id": proxy_key[0],
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
            "scope": "orders.read",
        },
    )
    assert password.status_code == 200, password.text
    billing = client(kubectl, stack.namespace, "billing-service-credentials")
    acl = token(stack.url, billing, "/credential/jwt", scope="orders.read")
    assert acl.status_code == 200, acl.text
    assert acl.json()["tier"] == "gold"  # a claim shown in the token response
    assert authz(stack.url, acl.json()["access_token"], "payments") == 200


def test_the_operator_answers_its_liveness_probe(stack: Stack) -> None:
    """The chart probes kopf's liveness endpoint: it answers while the operator runs."""
    assert requests.get(stack.liveness, timeout=5).status_code == 200


def test_policy_and_acl_changes_propagate(stack: Stack, kubectl: Kubectl) -> None:
    ns = stack.namespace
    # A policy's token lifetime.
    proxy_key = client(kubectl, ns, "apiproxy-orders-proxy-key")
    patch(kubectl, ns, "authpolicy/orders-oauth2", {"spec": {"token": {"ttl": "5m"}}})
    eventually(lambda: token(stack.url, proxy_key, "/auth/token").json().get("expires_in") == 300)

    # A Credential's ACL: its earlier token no longer reaches the proxy group.
    kubectl.apply([credential("moves", acl=["ProxyGroup/shop"])], ns)
    kubectl.run("wait", "--for=condition=Ready", "-n", ns, "credential/moves")
    mine = client(kubectl, ns, "moves-credentials")
    issued = eventually(lambda: (r := token(stack.url, mine, "/credential/jwt")).ok and r).json()
    assert authz(stack.url, issued["access_token"]) == 200
    patch(
        kubectl,
        ns,
        "credential/moves",
        {"spec": {"acl": [{"kind": "ApiProxy", "name": "elsewhere"}]}},
    )
    eventually(lambda: authz(stack.url, issued["access_token"]) == 403)


def test_a_disabled_credential_is_refused_within_two_seconds(
    stack: Stack, kubectl: Kubectl
) -> None:
    """The contract's propagation bound: disabling a Credential with kubectl stops its
    tokens at the token endpoint and at /authz within 2 s."""
    kubectl.apply([credential("disable-me", acl=["ProxyGroup/shop"])], stack.namespace)
    kubectl.run("wait", "--for=condition=Ready", "-n", stack.namespace, "credential/disable-me")
    mine = client(kubectl, stack.namespace, "disable-me-credentials")
    issued = eventually(lambda: (r := token(stack.url, mine, "/credential/jwt")).ok and r).json()
    assert authz(stack.url, issued["access_token"]) == 200
    patch(kubectl, stack.namespace, "credential/disable-me", {"spec": {"disabled": True}})
    eventually(lambda: authz(stack.url, issued["access_token"]) == 401, timeout=2)
    eventually(lambda: token(stack.url, mine, "/credential/jwt").status_code == 401, timeout=2)


def test_garbage_collection_and_an_adopted_secret(stack: Stack, kubectl: Kubectl) -> None:
    """Deleting a Credential: its generated objects go (their ownerReferences, the real
    garbage collector, or the operator itself); an adopted Secret stays, unlabelled."""
    ns = stack.namespace
    kubectl.apply(
        [
            secret("byo-secret", client_id="byo", client_secret="s3cret-s3cret-s3cret-s3cret"),
            credential("byo", acl=["ProxyGroup/shop"], secretName="byo-secret"),
            credential("generated", acl=["ProxyGroup/shop"]),
        ],
        ns,
    )
    kubectl.run("wait", "--for=condition=Ready", "-n", ns, "credential/byo", "credential/generated")
    adopted = kubectl.get("secret", "byo-secret", ns)
    assert adopted is not None
    assert adopted["metadata"]["annotations"]["gatekey.io/adopted"] == "true"
    assert "ownerReferences" not in adopted["metadata"]
    owned = kubectl.get("secret", "generated-credentials", ns)
    assert owned is not None
    (owner,) = owned["metadata"]["ownerReferences"]
    assert owner["kind"] == "Credential"
    assert owner["name"] == "generated"
    byo = eventually(
        lambda: (
            (r := token(stack.url, ("byo", "s3cret-s3cret-s3cret-s3cret"), "/credential/jwt")).ok
            and r
        )
    )
    assert byo.status_code == 200

    generated = client(kubectl, ns, "generated-credentials")
    gone = eventually(lambda: (r := token(stack.url, generated, "/credential/jwt")).ok and r).json()
    assert authz(stack.url, gone["access_token"]) == 200

    kubectl.run("delete", "-n", ns, "credential/generated", "credential/byo")
    eventually(lambda: authz(stack.url, gone["access_token"]) == 401)
    eventually(lambda: kubectl.get("secret", "generated-credentials", ns) is None, timeout=30)
    eventually(lambda: kubectl.get("configmap", "gatekey-credential-generated", ns) is None)
    kept = eventually(
        lambda: (
            (s := kubectl.get("secret", "byo-secret", ns))
            and "gatekey.io/adopted" not in (s["metadata"].get("annotations") or {})
            and s
        )
    )
    assert base64.b64decode(kept["data"]["client_secret"]).decode() == "s3cret-s3cret-s3cret-s3cret"


def test_role_and_user_pool_changes_propagate(stack: Stack, kubectl: Kubectl) -> None:
    ns = stack.namespace
    proxy_key = client(kubectl, ns, "apiproxy-orders-proxy-key")

    def password_grant(user: str, password: str, scope: str = "orders.read") -> int:
        return requests.post(
            stack.url + "/auth/token",
            timeout=5,
            data={
                "grant_type": "password",
                "client_id": proxy_key[0],
                "client_secret": "-",
                "username": user,
                "password": password,
                "scope": scope,
            },
        ).status_code

    # A Role's subjects: bob gains orders.read.
    assert password_grant("bob", "builder") == 400
    patch(
        kubectl,
        ns,
        "roles.gatekey.io/orders-read",
        {
            "spec": {
                "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}]
            }
        },
    )
    eventually(lambda: password_grant("bob", "builder") == 200)

    # The user pool: carol is added (bcrypt), and can log in without a restart.
    from tests.support.manifests import bcrypt_hash

    pool = kubectl.get("secret", "orders-users", ns)
    assert pool is not None
    lines = base64.b64decode(pool["data"]["htpasswd"]).decode()
    lines += f"carol:{bcrypt_hash('looking-glass')}\n"
    kubectl.apply([secret("orders-users", htpasswd=lines)], ns)
    eventually(lambda: password_grant("carol", "looking-glass", scope="") == 200)


def test_the_operator_restarted_writes_nothing(
    stack: Stack, controlplane: ControlPlane, kubectl: Kubectl
) -> None:
    """A restarted operator reads everything back and makes no write (the audit log of its
    ServiceAccount has no create, update, patch or delete after the restart)."""
    ns = stack.namespace
    kubectl.run("wait", "--for=condition=Ready", "-n", ns, "credentials.gatekey.io", "--all")
    stack.operator.terminate()
    stack.operator.wait(30)
    before = len(audited(controlplane, ns, OPERATOR_SA))
    with operator_process(stack.operator_config, ns):
        # Its first pass: it has listed the three kinds (kopf lists, then watches: a
        # watch is audited only when it ends), and handled what it listed for a while.
        def listed() -> bool:
            lists = {
                e["objectRef"]["resource"]
                for e in audited(controlplane, ns, OPERATOR_SA)[before:]
                if e["verb"] == "list" and e.get("objectRef", {}).get("apiGroup") == "gatekey.io"
            }
            return lists == {"authpolicies", "credentials", "roles"}

        eventually(listed, timeout=60)
        time.sleep(5)
        after = audited(controlplane, ns, OPERATOR_SA)[before:]
    writes = [f"{e['verb']} {e['requestURI']}" for e in after if e["verb"] in WRITES]
    assert writes == []
    assert any(e["verb"] == "list" for e in after)
