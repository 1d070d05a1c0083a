"""The issuer's LIST+WATCH against a real API server: a restart of the issuer, a watch whose
resourceVersion the server no longer has (410 Gone after an etcd compaction), and a restart
of the API server itself.

The operator runs with the admin's credentials here (RBAC is the quickstart tests' job);
the issuer reaches the API server through a TCP link the test can cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.realkube.conftest import Kubectl, issuer_process, operator_process
from tests.realkube.controlplane import ControlPlane, kubeconfig
from tests.realkube.test_quickstart import client, token
from tests.support.manifests import credential, policy
from tests.support.process import Served, eventually
from tests.support.tcp_proxy import TcpProxy


@dataclass
class Setup:
    namespace: str
    link: TcpProxy
    issuer_config: Path
    folder: Path


@pytest.fixture
def setup(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> Iterator[Setup]:
    link = TcpProxy(controlplane.api_port).start()
    issuer_config = kubeconfig(
        tmp_path / "issuer.kubeconfig",
        f"https://127.0.0.1:{link.port}",
        controlplane.pki.ca_file,
        cert=controlplane.admin_cert,
        namespace=namespace,
    )
    try:
        with operator_process(controlplane.admin_kubeconfig, namespace):
            kubectl.apply(
                [
                    policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
                    credential("first", acl=["ProxyGroup/shop"]),
                ],
                namespace,
            )
            ready(kubectl, namespace, "credential/first")
            yield Setup(namespace, link, issuer_config, tmp_path)
    finally:
        link.stop()


def ready(kubectl: Kubectl, namespace: str, *resources: str) -> None:
    kubectl.run("wait", "--for=condition=Ready", "--timeout=60s", "-n", namespace, *resources)


def issues(url: str, kubectl: Kubectl, namespace: str, name: str) -> bool:
    return token(url, client(kubectl, namespace, f"{name}-credentials"), "/credential/jwt").ok


def test_a_restarted_issuer_serves_what_changed_while_it_was_down(
    setup: Setup, kubectl: Kubectl
) -> None:
    ns, state = setup.namespace, setup.folder / "state"
    with issuer_process(setup.issuer_config, state) as (url, _):
        eventually(lambda: issues(url, kubectl, ns, "first"))
    kubectl.apply([credential("second", acl=["ProxyGroup/shop"])], ns)
    ready(kubectl, ns, "credential/second")
    with issuer_process(setup.issuer_config, state) as (url, _):
        eventually(lambda: issues(url, kubectl, ns, "second"))
        assert issues(url, kubectl, ns, "first")


def watch_status(controlplane: ControlPlane, namespace: str, version: str) -> int:
    """What the API server answers a Secret watch from ``version`` (200, or 410 Gone in the
    response or as the first event)."""
    response = controlplane.session.get(
        f"{controlplane.url}/api/v1/namespaces/{namespace}/secrets",
        params={"watch": "true", "resourceVersion": version, "timeoutSeconds": "1"},
        timeout=10,
        stream=True,
    )
    if response.status_code != 200:
        return response.status_code
    for line in response.iter_lines():
        if b'"code":410' in line:
            return 410
    return 200


def test_gone_and_an_api_server_restart(
    setup: Setup, controlplane: ControlPlane, kubectl: Kubectl
) -> None:
    """The issuer keeps serving its last snapshot while the API server is away; when it is
    back with the issuer's resourceVersion compacted away, the issuer gets 410 Gone, lists
    again and serves what changed meanwhile, by itself."""
    ns = setup.namespace
    with issuer_process(setup.issuer_config, setup.folder / "state") as (url, issuer):
        first = eventually(
            lambda: (
                (r := token(url, client(kubectl, ns, "first-credentials"), "/credential/jwt")).ok
                and r
            )
        ).json()
        old = controlplane.get(f"/api/v1/namespaces/{ns}/secrets")["metadata"]["resourceVersion"]
        setup.link.cut()
        kubectl.apply([credential("during", acl=["ProxyGroup/shop"])], ns)
        ready(kubectl, ns, "credential/during")
        controlplane.compact_etcd()
        controlplane.restart_apiserver()
        assert watch_status(controlplane, ns, old) == 410

        # The API server is back but the issuer cannot reach it yet: the last good snapshot
        # keeps serving.
        assert (
            requests.get(
                url + "/authz",
                timeout=5,
                headers={
                    "Authorization": f"Bearer {first['access_token']}",
                    "X-Gatekey-Proxy": "orders",
                },
            ).status_code
            == 200
        )
        assert issues(url, kubectl, ns, "first")
        assert not issues(url, kubectl, ns, "during")

        setup.link.restore()
        eventually(lambda: issues(url, kubectl, ns, "during"), timeout=60)
        assert "listing again" in issuer_log(issuer)


def issuer_log(process: Served) -> str:
    out, err = process.output()
    return out + err


def test_the_api_server_away_and_back(
    setup: Setup, controlplane: ControlPlane, kubectl: Kubectl
) -> None:
    """The API server stops (the issuer's watch breaks, its re-connections are refused):
    the last good snapshot keeps serving; when the server is back, the issuer watches
    again by itself and serves what changes next."""
    ns = setup.namespace
    with issuer_process(setup.issuer_config, setup.folder / "state") as (url, issuer):
        eventually(lambda: issues(url, kubectl, ns, "first"))
        first = client(kubectl, ns, "first-credentials")
        controlplane.processes["kube-apiserver"].stop()
        try:
            # Long enough for the issuer to notice and retry: its watch ended with the server.
            for _ in range(3):
                assert token(url, first, "/credential/jwt").status_code == 200
        finally:
            controlplane.start_apiserver()
        kubectl.apply([credential("after", acl=["ProxyGroup/shop"])], ns)
        ready(kubectl, ns, "credential/after")
        eventually(lambda: issues(url, kubectl, ns, "after"), timeout=60)
        assert issuer.poll() is None
