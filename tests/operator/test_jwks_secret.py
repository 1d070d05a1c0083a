"""``jwksSecretRef``: the operator renders the JWK Set a Secret holds into the Credential's
ConfigMap, follows changes to that Secret, and reports a missing or malformed one."""

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gatekey.operator import contract
from tests.operator.helpers import payload, ready_condition, wait_condition
from tests.support.kube_harness import KubeClient, KubeError, wait_for
from tests.support.manifests import credential, policy, secret

pytestmark = pytest.mark.usefixtures("operator")


def jwk(kid: str) -> dict:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {**jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True), "kid": kid}


def served_jwks(kube: KubeClient, ns: str) -> dict | None:
    config = kube.get("ConfigMap", ns, "gatekey-credential-billing")
    spec = payload(config, contract.CREDENTIAL_KEY)["spec"]
    assert "jwksSecretRef" not in spec or spec["jwksSecretRef"] is None  # the issuer reads keys
    return spec["jwks"]


def test_the_keys_follow_the_secret(kube: KubeClient, ns: str) -> None:
    kube.create(policy("payments", "JWT", "ApiProxy/payments", management="ACL"), ns)
    ref = {"name": "billing-keys"}
    kube.create(credential("billing", ["ApiProxy/payments"], jwksSecretRef=ref), ns)

    cr = wait_condition(kube, "Credential", ns, "billing", "False", "JwksSecretMissing")
    assert ready_condition(cr)["message"] == (
        "Secret billing-keys with key jwks.json (a JWK Set) not found"
    )
    assert served_jwks(kube, ns) is None  # served by its client secret meanwhile

    first = {"keys": [jwk("k1")]}
    kube.create(secret("billing-keys", **{"jwks.json": json.dumps(first)}), ns)
    wait_condition(kube, "Credential", ns, "billing")
    assert served_jwks(kube, ns)["keys"][0]["kid"] == "k1"

    second = {"keys": [jwk("k2")]}
    kube.replace(secret("billing-keys", **{"jwks.json": json.dumps(second)}), ns)
    wait_for(lambda: (served_jwks(kube, ns) or {"keys": [{}]})["keys"][0].get("kid") == "k2")

    kube.replace(secret("billing-keys", **{"jwks.json": "not json"}), ns)
    cr = wait_condition(kube, "Credential", ns, "billing", "False", "JwksInvalid")
    assert (
        "Secret billing-keys key jwks.json is not a public JWK Set"
        in (ready_condition(cr)["message"])
    )
    assert served_jwks(kube, ns) is None


def test_a_proxy_key_takes_its_keys_from_a_secret(kube: KubeClient, ns: str) -> None:
    keys = {"keys": [jwk("p1")]}
    kube.create(secret("orders-keys", keys=json.dumps(keys)), ns)
    ref = {"name": "orders-keys", "key": "keys"}
    kube.create(policy("orders", proxyKeyJwksSecretRef=ref), ns)
    wait_condition(kube, "AuthPolicy", ns, "orders")
    config = kube.get("ConfigMap", ns, "gatekey-authpolicy-orders")
    (served,) = payload(config, contract.AUTHPOLICY_KEY)["spec"]["proxyKeyJwks"]["keys"]
    assert {k: v for k, v in served.items() if v is not None} == keys["keys"][0]


def test_the_api_server_refuses_both_sources(kube: KubeClient, ns: str) -> None:
    both = {"jwks": {"keys": [jwk("k")]}, "jwksSecretRef": {"name": "s"}}
    with pytest.raises(KubeError) as caught:
        kube.create(credential("c", **both), ns)
    assert caught.value.status == 422
    assert "at most one of jwks and jwksSecretRef" in caught.value.body["message"]
    with pytest.raises(KubeError) as caught:
        kube.create(policy("p", proxyKeyJwks=both["jwks"], proxyKeyJwksSecretRef={"name": "s"}), ns)
    assert "at most one of proxyKeyJwks and proxyKeyJwksSecretRef" in (caught.value.body["message"])
