"""``gatekey serve --kube``: the issuer on the objects of the operator contract
(docs/contract.md, docs/operations.md).

The objects are written to the emulator as the operator would (``render``'s
output); the issuer runs as a real process with a kubeconfig.
"""

from datetime import UTC, datetime

import requests

from gatekey.operator import contract
from gatekey.operator.entropy import SystemEntropy
from gatekey.operator.model import parse_document
from gatekey.operator.render import RenderInput, render
from tests.support.manifests import credential, policy, role
from tests.support.process import eventually, serving


def rendered_objects(*docs):
    resources = [parse_document(d, "test.yaml", str(i)) for i, d in enumerate(docs)]
    kinds = {k: [r for r in resources if r.kind == k] for k in ("AuthPolicy", "Credential", "Role")}
    result = render(
        RenderInput(
            "default",
            kinds["AuthPolicy"],
            kinds["Credential"],
            kinds["Role"],
            {},
            datetime.now(UTC),
            SystemEntropy(),
        )
    )
    # No CR exists in this test, so no owner either (the emulator checks owner uids).
    for obj in result.objects:
        obj["metadata"].pop("ownerReferences", None)
    return {(o["kind"], o["metadata"]["name"]): o for o in result.objects}


def token(url, client, path="/credential/jwt", **more):
    client_id, secret = client
    return requests.post(
        url + path,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **more,
        },
    )


def client_of(objects, secret_name):
    values = contract.secret_values(objects[("Secret", secret_name)])
    return values["client_id"], values["client_secret"]


def test_tokens_from_watched_objects_and_changes_without_restart(tmp_path, kube, kubeconfig):
    objects = rendered_objects(
        policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        credential("svc", ["ProxyGroup/shop"]),
        role("read", "Credential/svc", scope="orders.read"),
    )
    for obj in objects.values():
        kube.create(obj, "default")
    svc = client_of(objects, "svc-credentials")
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, _):
        issued = token(url, svc, scope="orders.read")
        assert issued.status_code == 200, issued.text
        bearer = {
            "Authorization": "Bearer " + issued.json()["access_token"],
            "X-Gatekey-Proxy": "orders",
        }
        assert requests.get(url + "/authz", headers=bearer, timeout=5).status_code == 200

        # A Role change reaches the issuer: the scope is no longer held.
        changed = rendered_objects(
            policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
            credential("svc", ["ProxyGroup/shop"]),
            role("read", "Credential/other", scope="orders.read"),
        )[("ConfigMap", "gatekey-role-read")]
        kube.patch("ConfigMap", "default", "gatekey-role-read", {"data": changed["data"]})
        eventually(lambda: token(url, svc, scope="orders.read").status_code == 400)

        # Deleting the Credential's objects stops its tokens at /authz.
        kube.delete("ConfigMap", "default", "gatekey-credential-svc")
        eventually(
            lambda: requests.get(url + "/authz", headers=bearer, timeout=5).status_code == 401
        )
        assert requests.get(url + "/readyz", timeout=5).json()["source"] == "in step"


def test_not_ready_until_synced_and_malformed_objects_are_skipped(tmp_path, kube, kubeconfig):
    objects = rendered_objects(policy("p", "OAuth2"))
    broken = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gatekey-role-broken", "labels": contract.labels("role")},
        "data": {contract.ROLE_KEY: "{not json"},
    }
    for obj in [*objects.values(), broken]:
        kube.create(obj, "default")
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, process):
        client = client_of(objects, "apiproxy-orders-proxy-key")
        assert token(url, client, "/auth/token").status_code == 200
        assert requests.get(url + "/readyz", timeout=5).json()["skipped"] == 1
    assert "gatekey-role-broken" in process.output()[1]


def test_api_outage_keeps_the_last_good_snapshot_and_loses_nothing(
    tmp_path, kube, kubeconfig, api_link
):
    objects = rendered_objects(policy("p", "OAuth2"), role("r", "ApiProxy/orders", scope="s"))
    for obj in objects.values():
        kube.create(obj, "default")
    client = client_of(objects, "apiproxy-orders-proxy-key")
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, _):
        assert token(url, client, "/auth/token", scope="s").status_code == 200
        api_link.cut()
        eventually(lambda: requests.get(url + "/readyz", timeout=5).json()["source"] != "in step")
        assert token(url, client, "/auth/token", scope="s").status_code == 200
        assert requests.get(url + "/readyz", timeout=5).status_code == 200
        # A change made while the issuer cannot see it arrives once the link is back.
        kube.delete("ConfigMap", "default", "gatekey-role-r")
        api_link.restore()
        eventually(lambda: token(url, client, "/auth/token", scope="s").status_code == 400)
        assert requests.get(url + "/readyz", timeout=5).json()["source"] == "in step"
