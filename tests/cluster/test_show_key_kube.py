"""``gatekey show-key --kube``: the key read from the cluster, with the credentials of
``gatekey serve --kube`` (a kubeconfig here), against the Kubernetes API emulator."""

import json

from tests.cluster.test_issuer_watch import client_of, rendered_objects
from tests.support.manifests import credential, policy
from tests.support.process import gatekey


def show(kubeconfig, target, *extra):
    return gatekey("show-key", "--kube", "--kubeconfig", str(kubeconfig), target, *extra)


def test_show_key_reads_proxy_keys_and_credentials_from_the_cluster(kube, kubeconfig):
    objects = rendered_objects(
        policy("orders-jwt", "JWT"),
        policy(
            "custom", "OAuth2", "ProxyGroup/shop", proxies=["orders"], proxyKeySecretName="shop-key"
        ),
        policy("acl", "JWT", "ProxyGroup/mall", management="ACL", proxies=["orders"]),
        credential("svc", ["ProxyGroup/mall"]),
    )
    for obj in objects.values():
        kube.create(obj, "default")
    cases = {
        "ApiProxy/orders": "apiproxy-orders-proxy-key",
        "ProxyGroup/shop": "shop-key",  # a Secret name the policy chose
        "Credential/svc": "svc-credentials",
    }
    for target, secret_name in cases.items():
        shown = show(kubeconfig, target)
        assert shown.returncode == 0, shown.stderr
        client_id, client_secret = client_of(objects, secret_name)
        assert json.loads(shown.stdout) == {"client_id": client_id, "client_secret": client_secret}


def test_unknown_targets_are_one_line(kube, kubeconfig):
    for obj in rendered_objects(policy("orders-jwt", "JWT")).values():
        kube.create(obj, "default")
    for target, says in [
        ("ApiProxy/nowhere", "no AuthPolicy with management Policy targets ApiProxy/nowhere"),
        ("Credential/ghost", "no Credential default/ghost"),
        ("Gateway/x", "Gateway: expected Credential or one of"),
    ]:
        shown = show(kubeconfig, target)
        assert shown.returncode == 1
        lines = shown.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"gatekey show-key: {says}")
    other_namespace = show(kubeconfig, "ApiProxy/orders", "--namespace", "elsewhere")
    assert other_namespace.returncode == 1
    assert "in namespace elsewhere" in other_namespace.stderr
