"""Operator and issuer together on the emulator: ``kubectl apply`` of the quickstart
manifests yields working tokens, and later changes reach the issuer without a restart."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from gatekey.operator import contract
from tests.support.kube_harness import KubeClient, OperatorThread, quiet_kopf
from tests.support.process import eventually, serving

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def cluster(tmp_path, emulator, kube, kubeconfig) -> Iterator[tuple[str, KubeClient]]:
    with quiet_kopf():
        operator = OperatorThread(emulator.url, namespaces=["default"]).start()
        try:
            for path in sorted(QUICKSTART.glob("*.yaml")):
                for doc in yaml.safe_load_all(path.read_text()):
                    kube.create(doc, "default")
            eventually(lambda: kube.get("Secret", "default", "billing-service-credentials"))
            eventually(lambda: kube.get("Secret", "default", "apiproxy-orders-proxy-key"))
            with serving(
                tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
            ) as (url, _):
                yield url, kube
        finally:
            operator.stop()


def client(kube, secret):
    values = contract.secret_values(kube.get("Secret", "default", secret))
    return values["client_id"], values["client_secret"]


def token(url, credentials, path, **form):
    client_id, secret = credentials
    return requests.post(
        url + path,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **form,
        },
    )


def authz(url, access_token, proxy="orders"):
    return requests.get(
        url + "/authz",
        timeout=5,
        headers={"Authorization": f"Bearer {access_token}", "X-Gatekey-Proxy": proxy},
    ).status_code


def edit(kube, kind, name, change):
    doc = kube.get(kind, "default", name)
    change(doc["spec"])
    kube.replace(
        {
            "apiVersion": doc["apiVersion"],
            "kind": kind,
            "metadata": {"name": name},
            "spec": doc["spec"],
        },
        "default",
    )


def test_quickstart_tokens_work_in_both_modes(cluster):
    url, kube = cluster
    proxy_key = client(kube, "apiproxy-orders-proxy-key")
    jwt = eventually(lambda: (r := token(url, proxy_key, "/auth/jwt")).ok and r).json()
    assert authz(url, jwt["access_token"]) == 200
    password = requests.post(
        url + "/auth/token",
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
    billing = client(kube, "billing-service-credentials")
    acl = token(url, billing, "/credential/jwt", scope="orders.read")
    assert acl.status_code == 200, acl.text
    assert acl.json()["tier"] == "gold"
    assert authz(url, acl.json()["access_token"], "payments") == 200


def test_changes_take_effect_without_restart(cluster):
    url, kube = cluster
    billing = client(kube, "billing-service-credentials")
    issued = eventually(lambda: (r := token(url, billing, "/credential/jwt")).ok and r).json()

    # A Role's subjects change: the Credential no longer holds orders.read.
    edit(
        kube,
        "Role",
        "orders-read",
        lambda spec: spec.update(subjects=[{"kind": "User", "name": "alice"}]),
    )
    eventually(
        lambda: token(url, billing, "/credential/jwt", scope="orders.read").status_code == 400
    )

    # A policy's settings change: the token lifetime follows.
    edit(kube, "AuthPolicy", "orders-oauth2", lambda spec: spec["token"].update(ttl="5m"))
    proxy_key = client(kube, "apiproxy-orders-proxy-key")
    eventually(lambda: token(url, proxy_key, "/auth/token").json().get("expires_in") == 300)

    # The Credential's ACL changes: its earlier token no longer reaches the proxy group.
    edit(
        kube,
        "Credential",
        "billing-service",
        lambda spec: spec.update(acl=[{"kind": "ApiProxy", "name": "elsewhere"}]),
    )
    eventually(lambda: authz(url, issued["access_token"]) == 403)


def test_disabling_and_deleting_a_credential_stop_its_tokens(cluster):
    url, kube = cluster
    billing = client(kube, "billing-service-credentials")
    first = eventually(lambda: (r := token(url, billing, "/credential/jwt")).ok and r).json()
    edit(kube, "Credential", "billing-service", lambda spec: spec.update(disabled=True))
    eventually(lambda: authz(url, first["access_token"]) == 401)
    assert token(url, billing, "/credential/jwt").status_code == 401

    edit(kube, "Credential", "billing-service", lambda spec: spec.update(disabled=False))
    second = eventually(lambda: (r := token(url, billing, "/credential/jwt")).ok and r).json()
    kube.delete("Credential", "default", "billing-service")
    eventually(lambda: authz(url, second["access_token"]) == 401)
