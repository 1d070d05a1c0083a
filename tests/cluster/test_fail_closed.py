"""Cluster mode, operator and issuer: an invalid edit that gets past the CRD schema fails
closed for Credentials, Roles and user pools, and keeps an AuthPolicy's last good version.

A CR can be invalid for the model and valid for the schema (an older CRD installed, a
rule only the model checks). The schema is switched off in the emulator for the write.
"""

from collections.abc import Iterator

import kmock
import pytest
import requests

from gatekey.operator import contract
from tests.support.kube_harness import EmulatorThread, KubeClient, OperatorThread, quiet_kopf
from tests.support.manifests import credential, policy, role, user_pool
from tests.support.process import eventually, serving


@pytest.fixture
def cluster(tmp_path, emulator, kube, kubeconfig) -> Iterator[str]:
    with quiet_kopf():
        operator = OperatorThread(emulator.url, namespaces=["default"]).start()
        try:
            for doc in (
                policy(
                    "shop",
                    "JWT",
                    "ProxyGroup/shop",
                    management="ACL",
                    proxies=["orders"],
                    userPool={"secretName": "users"},
                ),
                credential(
                    "svc",
                    ["ProxyGroup/shop"],
                    token={"grantTypes": ["client_credentials", "password"]},
                ),
                role("reader", "Credential/svc", "User/alice", scope="orders.read"),
                user_pool("users", {"alice": "wonderland"}),
            ):
                kube.create(doc, "default")
            eventually(lambda: kube.get("Secret", "default", "svc-credentials"))
            with serving(
                tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
            ) as (url, _):
                yield url
        finally:
            operator.stop()


def without_schemas(emulator: EmulatorThread) -> None:
    """Switch the CRD schemas off, as in a cluster with an old CRD: the CRs are then
    checked by the operator's model only (and kopf's own patches of an invalid CR pass,
    as they would with the API server's validation ratcheting)."""
    for plural in ("authpolicies", "credentials", "roles"):
        resource = kmock.resource("gatekey.io", "v1alpha1", plural)
        emulator.call(lambda emu, r=resource: emu._schemas.pop(r))


def token(url, client, **more):
    client_id, secret = client
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return requests.post(url + "/credential/jwt", data={**data, **more}, timeout=10)


def alice(url, client):
    return token(url, client, grant_type="password", username="alice", password="wonderland")


def test_invalid_edits_fail_closed_except_for_policies(cluster, emulator, kube: KubeClient):
    url = cluster
    without_schemas(emulator)
    values = contract.secret_values(kube.get("Secret", "default", "svc-credentials"))
    client = values["client_id"], values["client_secret"]
    eventually(lambda: token(url, client, scope="orders.read").status_code == 200)
    eventually(lambda: alice(url, client).status_code == 200)

    # A Role edited into an invalid shape grants nothing until fixed.
    kube.patch("Role", "default", "reader", {"spec": {"subjects": [{"kind": "Everyone"}]}})
    eventually(lambda: token(url, client, scope="orders.read").status_code == 400)
    assert token(url, client).status_code == 200

    # A user pool without its htpasswd key lets nobody in; restored, it does again.
    pool = kube.get("Secret", "default", "users")["data"]
    kube.patch("Secret", "default", "users", {"data": {"htpasswd": None, "other": "eA=="}})
    eventually(lambda: alice(url, client).status_code == 400)
    kube.patch("Secret", "default", "users", {"data": pool})
    eventually(lambda: alice(url, client).status_code == 200)

    # An AuthPolicy with a typo keeps serving its last good version, but not its copy
    # of the user pool (later pool edits could not reach it).
    kube.patch("AuthPolicy", "default", "shop", {"spec": {"token": {"ttl": "soon"}}})
    eventually(lambda: "Invalid" in str(kube.get("AuthPolicy", "default", "shop")["status"]))
    eventually(lambda: alice(url, client).status_code == 400)
    assert token(url, client).status_code == 200

    # disabled: true saved together with a typo: the Credential stops issuing.
    kube.patch("Credential", "default", "svc", {"spec": {"disabled": True, "expiresAt": "soon"}})
    eventually(lambda: token(url, client).status_code == 401)

    # Fixed: it issues again, with the same client secret; so does the pool.
    kube.patch("Credential", "default", "svc", {"spec": {"disabled": False, "expiresAt": None}})
    eventually(lambda: token(url, client).status_code == 200)
    kube.patch("AuthPolicy", "default", "shop", {"spec": {"token": {"ttl": "1h"}}})
    eventually(lambda: alice(url, client).status_code == 200)
