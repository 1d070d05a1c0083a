"""The operator against the emulator: CRs in, Secrets, ConfigMaps, statuses and Events out."""

import time
from typing import Any

import kmock
import pytest

from gatekey.operator import contract
from tests.operator.helpers import (
    events_for,
    labelled,
    owners,
    payload,
    ready_condition,
    values,
    wait_condition,
)
from tests.support.kube_harness import EmulatorThread, KubeClient, KubeError, wait_for
from tests.support.manifests import credential, policy, role, secret, user_pool

pytestmark = pytest.mark.usefixtures("operator")
PROXY_KEY = "apiproxy-orders-proxy-key"


def gone(kube: KubeClient, kind: str, ns: str, name: str) -> bool:
    return kube.get(kind, ns, name) is None


# AuthPolicy ---------------------------------------------------------------------------


def test_policy_mode_generates_a_proxy_key_and_its_configmap(kube: KubeClient, ns: str) -> None:
    kube.create(policy("orders-jwt"), ns)
    cr = wait_condition(kube, "AuthPolicy", ns, "orders-jwt")
    status = cr["status"]
    assert status["proxyKeySecretName"] == PROXY_KEY
    assert status["endpoints"] == ["/auth/jwt"]
    assert status["observedGeneration"] == 1

    key = kube.get("Secret", ns, PROXY_KEY)
    assert values(key)["client_id"] == status["clientId"]
    assert len(values(key)["client_secret"]) >= 40
    assert key["metadata"]["labels"] == contract.labels("proxy-key")
    assert key["metadata"]["annotations"][contract.SOURCE_KIND_ANNOTATION] == "AuthPolicy"
    assert owners(key) == [("AuthPolicy", "orders-jwt", cr["metadata"]["uid"])]

    config = kube.get("ConfigMap", ns, "gatekey-authpolicy-orders-jwt")
    loaded = payload(config, contract.AUTHPOLICY_KEY)
    assert loaded["clientId"] == status["clientId"]
    assert loaded["audience"] == ["ApiProxy/orders"]
    assert owners(config) == [("AuthPolicy", "orders-jwt", cr["metadata"]["uid"])]

    jwks = payload(kube.get("ConfigMap", ns, contract.JWKS_CONFIGMAP), contract.JWKS_KEY)
    (published,) = jwks["keys"]
    assert published["alg"] == "ES256"
    assert published["kid"]
    assert "d" not in published  # the public half only


def test_updating_a_policy_rerenders_and_keeps_the_proxy_key(kube: KubeClient, ns: str) -> None:
    kube.create(policy("orders-jwt"), ns)
    before = wait_condition(kube, "AuthPolicy", ns, "orders-jwt")
    key_before = values(kube.get("Secret", ns, PROXY_KEY))

    kube.patch("AuthPolicy", ns, "orders-jwt", {"spec": {"token": {"ttl": "5m"}}})
    after = wait_condition(kube, "AuthPolicy", ns, "orders-jwt")

    assert after["metadata"]["generation"] == 2
    assert after["status"]["observedGeneration"] == 2
    loaded = payload(kube.get("ConfigMap", ns, "gatekey-authpolicy-orders-jwt"), "authpolicy.json")
    assert loaded["spec"]["token"]["ttl"] == "5m"
    assert values(kube.get("Secret", ns, PROXY_KEY)) == key_before
    # Still Ready: the transition time did not move.
    assert (
        ready_condition(after)["lastTransitionTime"]
        == ready_condition(before)["lastTransitionTime"]
    )


def test_deleting_a_policy_removes_what_it_produced(kube: KubeClient, ns: str) -> None:
    kube.create(policy("orders-jwt"), ns)
    kube.create(policy("orders-token", "OAuth2"), ns)
    wait_condition(kube, "AuthPolicy", ns, "orders-jwt")
    wait_condition(kube, "AuthPolicy", ns, "orders-token")

    kube.delete("AuthPolicy", ns, "orders-jwt")
    wait_for(lambda: gone(kube, "ConfigMap", ns, "gatekey-authpolicy-orders-jwt"))
    # The proxy key is shared by both policies of the target: it stays, owned by the other.
    key = kube.get("Secret", ns, PROXY_KEY)
    assert [o[1] for o in owners(key)] == ["orders-token"]

    kube.delete("AuthPolicy", ns, "orders-token")
    wait_for(lambda: gone(kube, "Secret", ns, PROXY_KEY))
    wait_for(lambda: gone(kube, "ConfigMap", ns, "gatekey-authpolicy-orders-token"))


def test_the_older_policy_wins_a_conflict(kube: KubeClient, ns: str) -> None:
    kube.create(policy("first"), ns)
    wait_condition(kube, "AuthPolicy", ns, "first")
    kube.create(policy("second"), ns)

    loser = wait_condition(kube, "AuthPolicy", ns, "second", "False", "Conflict")
    assert "first" in ready_condition(loser)["message"]
    assert gone(kube, "ConfigMap", ns, "gatekey-authpolicy-second")
    # The Event is posted after the status: wait for it rather than race it.
    wait_for(lambda: ("Warning", "Conflict") in [e[:2] for e in events_for(kube, ns, "second")])

    kube.delete("AuthPolicy", ns, "first")
    wait_condition(kube, "AuthPolicy", ns, "second")
    wait_for(lambda: kube.get("ConfigMap", ns, "gatekey-authpolicy-second"))


def test_user_pool_changes_reach_the_policy(kube: KubeClient, ns: str) -> None:
    kube.create(policy("p", grantTypes=["password"], userPool={"secretName": "users"}), ns)
    cr = wait_condition(kube, "AuthPolicy", ns, "p", "False", "UserPoolMissing")
    assert cr["status"]["conditions"][0]["message"].startswith("user pool Secret users")

    kube.create(user_pool("users", {"alice": "a"}), ns)
    wait_condition(kube, "AuthPolicy", ns, "p")
    copy_name = contract.user_pool_secret("users")
    first = values(kube.get("Secret", ns, copy_name))["htpasswd"]
    assert first.startswith("alice:")

    kube.patch("Secret", ns, "users", {"stringData": {"htpasswd": "bob:$2b$04$x\n"}})
    wait_for(lambda: values(kube.get("Secret", ns, copy_name))["htpasswd"].startswith("bob:"))


# Credential ---------------------------------------------------------------------------


def test_credential_generates_a_client_secret(kube: KubeClient, ns: str) -> None:
    kube.create(policy("shop", target="ProxyGroup/shop", management="ACL"), ns)
    kube.create(credential("svc", acl=["ProxyGroup/shop", "ApiProxy/elsewhere"]), ns)
    cr = wait_condition(kube, "Credential", ns, "svc")

    status = cr["status"]
    assert status["secretName"] == "svc-credentials"
    assert status["acl"] == ["ProxyGroup/shop"]  # only targets an ACL-mode policy serves
    secret_obj = kube.get("Secret", ns, "svc-credentials")
    assert values(secret_obj)["client_id"] == status["clientId"]
    assert secret_obj["metadata"]["labels"][contract.CONFIG_KIND_LABEL] == "credential-secret"
    loaded = payload(kube.get("ConfigMap", ns, "gatekey-credential-svc"), "credential.json")
    assert loaded["clientId"] == status["clientId"]
    assert loaded["secretName"] == "svc-credentials"


def test_an_existing_secret_is_adopted_never_overwritten(kube: KubeClient, ns: str) -> None:
    kube.create(secret("svc-credentials", client_id="mine", client_secret="s3cret"), ns)
    original = kube.get("Secret", ns, "svc-credentials")
    kube.create(credential("svc"), ns)

    cr = wait_condition(kube, "Credential", ns, "svc")
    assert cr["status"]["clientId"] == "mine"
    adopted = kube.get("Secret", ns, "svc-credentials")
    assert adopted["data"] == original["data"]
    assert adopted["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] == "true"
    assert adopted["metadata"]["labels"][contract.COMPONENT_LABEL] == contract.COMPONENT
    assert owners(adopted) == []  # deleting the Credential never deletes the user's data

    # A change to the adopted Secret re-renders what depends on it.
    kube.patch("Secret", ns, "svc-credentials", {"stringData": {"client_id": "renamed"}})
    wait_for(
        lambda: (
            payload(kube.get("ConfigMap", ns, "gatekey-credential-svc"), "credential.json")[
                "clientId"
            ]
            == "renamed"
        )
    )
    wait_for(lambda: kube.get("Credential", ns, "svc")["status"]["clientId"] == "renamed")

    # Deleting the Credential releases the Secret: data kept, Gatekey's marks removed.
    kube.delete("Credential", ns, "svc")
    wait_for(lambda: gone(kube, "ConfigMap", ns, "gatekey-credential-svc"))
    released = wait_for(
        lambda: (
            (s := kube.get("Secret", ns, "svc-credentials"))
            and contract.COMPONENT_LABEL not in (s["metadata"].get("labels") or {})
            and s
        )
    )
    assert values(released) == {"client_id": "renamed", "client_secret": "s3cret"}
    assert contract.ADOPTED_ANNOTATION not in (released["metadata"].get("annotations") or {})


def test_a_named_missing_secret_is_never_invented(kube: KubeClient, ns: str) -> None:
    kube.create(credential("svc", secretName="vault-creds"), ns)
    cr = wait_condition(kube, "Credential", ns, "svc", "False", "SecretMissing")
    assert "vault-creds" in ready_condition(cr)["message"]
    assert gone(kube, "Secret", ns, "vault-creds")
    assert gone(kube, "ConfigMap", ns, "gatekey-credential-svc")
    wait_for(lambda: ("Warning", "SecretMissing") in [e[:2] for e in events_for(kube, ns, "svc")])

    kube.create(secret("vault-creds", client_id="from-vault", client_secret="x" * 40), ns)
    cr = wait_condition(kube, "Credential", ns, "svc")
    assert cr["status"]["clientId"] == "from-vault"
    assert values(kube.get("Secret", ns, "vault-creds"))["client_secret"] == "x" * 40


def test_deleting_a_credential_removes_its_generated_secret(kube: KubeClient, ns: str) -> None:
    kube.create(credential("svc"), ns)
    wait_condition(kube, "Credential", ns, "svc")
    assert kube.get("Secret", ns, "svc-credentials")

    kube.delete("Credential", ns, "svc")
    wait_for(lambda: gone(kube, "Secret", ns, "svc-credentials"))
    wait_for(lambda: gone(kube, "ConfigMap", ns, "gatekey-credential-svc"))


def test_metadata_from_a_secret_follows_that_secret(kube: KubeClient, ns: str) -> None:
    claim = {"key": "api", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "k"}}}
    kube.create(secret("vault", k="one"), ns)
    kube.create(credential("svc", claims=[claim]), ns)
    wait_condition(kube, "Credential", ns, "svc")
    name = contract.credential_metadata_secret("svc")
    assert values(kube.get("Secret", ns, name)) == {"api": "one"}

    kube.patch("Secret", ns, "vault", {"stringData": {"k": "two"}})
    wait_for(lambda: values(kube.get("Secret", ns, name)) == {"api": "two"})


# Role ---------------------------------------------------------------------------------


def test_role_changes_propagate_to_credentials(kube: KubeClient, ns: str) -> None:
    kube.create(credential("svc"), ns)
    kube.create(role("reader", "Credential/svc", scope="orders.read"), ns)
    role_cr = wait_condition(kube, "Role", ns, "reader")
    assert role_cr["status"]["scope"] == "orders.read"
    assert role_cr["status"]["subjects"] == 1
    wait_for(lambda: kube.get("Credential", ns, "svc")["status"].get("roles") == ["orders.read"])

    kube.create(role("writer", "Credential/svc", scope="orders.write"), ns)
    wait_for(
        lambda: (
            kube.get("Credential", ns, "svc")["status"]["roles"] == ["orders.read", "orders.write"]
        )
    )

    kube.patch("Role", ns, "reader", {"spec": {"subjects": []}})
    wait_for(lambda: kube.get("Credential", ns, "svc")["status"]["roles"] == ["orders.write"])
    loaded = payload(kube.get("ConfigMap", ns, "gatekey-role-reader"), "role.json")
    assert loaded["spec"]["subjects"] == []

    kube.delete("Role", ns, "writer")
    wait_for(lambda: kube.get("Credential", ns, "svc")["status"]["roles"] == [])
    wait_for(lambda: gone(kube, "ConfigMap", ns, "gatekey-role-writer"))


# Status, Events, bookkeeping -----------------------------------------------------------


def test_ready_condition_follows_the_conventions(kube: KubeClient, ns: str) -> None:
    kube.create(policy("shop", target="ProxyGroup/shop", management="ACL"), ns)
    kube.create(credential("svc", acl=["ProxyGroup/shop"]), ns)
    cr = wait_condition(kube, "Credential", ns, "svc")
    first = ready_condition(cr)
    assert set(first) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert first["reason"] == "Ready"
    assert first["observedGeneration"] == 1

    # A new message with the same status keeps lastTransitionTime.
    kube.patch("Credential", ns, "svc", {"spec": {"acl": []}})
    cr = wait_condition(kube, "Credential", ns, "svc")
    second = ready_condition(cr)
    assert second["message"] != first["message"]
    assert second["lastTransitionTime"] == first["lastTransitionTime"]
    assert second["observedGeneration"] == 2

    # kopf's bookkeeping is in annotations, never in status.
    assert set(cr["status"]) <= {
        "conditions",
        "observedGeneration",
        "clientId",
        "secretName",
        "roles",
        "acl",
        "secretGenerations",
    }
    notes = cr["metadata"]["annotations"]
    assert "kopf.gatekey.io/last-handled-configuration" in notes


def test_events_tell_what_was_written(kube: KubeClient, ns: str) -> None:
    kube.create(credential("svc"), ns)
    wait_condition(kube, "Credential", ns, "svc")
    ready = ("Normal", "Ready", "no ACL target has an ACL-mode policy")
    # Posted one after the other: wait for the second, not just for any.
    found = wait_for(lambda: (f := events_for(kube, ns, "svc")) and ready in f and f)
    applied = [m for t, r, m in found if r == "Applied"]
    assert applied
    assert "created Secret svc-credentials" in applied[0]
    assert "created ConfigMap gatekey-credential-svc" in applied[0]


def test_drift_is_repaired(kube: KubeClient, ns: str) -> None:
    kube.create(role("reader", scope="orders.read"), ns)
    wait_condition(kube, "Role", ns, "reader")
    name = "gatekey-role-reader"
    good = kube.get("ConfigMap", ns, name)["data"]

    kube.patch("ConfigMap", ns, name, {"data": {"role.json": "{}"}})
    wait_for(lambda: kube.get("ConfigMap", ns, name)["data"] == good)
    kube.delete("ConfigMap", ns, name)
    wait_for(lambda: (c := kube.get("ConfigMap", ns, name)) and c["data"] == good)


def test_an_object_in_the_way_is_left_alone(kube: KubeClient, ns: str) -> None:
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gatekey-role-r"}}
    kube.create({**foreign, "data": {"mine": "yes"}}, ns)
    kube.create(role("r"), ns)
    cr = wait_condition(kube, "Role", ns, "r", "False", "ObjectConflict")
    assert "gatekey-role-r" in ready_condition(cr)["message"]
    assert kube.get("ConfigMap", ns, "gatekey-role-r")["data"] == {"mine": "yes"}

    kube.delete("ConfigMap", ns, "gatekey-role-r")  # noticed: the Role becomes Ready
    wait_condition(kube, "Role", ns, "r")


def test_a_secret_in_the_way_is_noticed_when_it_goes(kube: KubeClient, ns: str) -> None:
    # No kopf retry timer: the watch on Secrets named like Gatekey's starts the pass.
    in_the_way = secret("gatekey-credential-svc-metadata", pin="mine")
    kube.create(in_the_way, ns)
    kube.create(credential("svc", claims=[{"key": "pin", "value": "1", "secret": True}]), ns)
    cr = wait_condition(kube, "Credential", ns, "svc", "False", "ObjectConflict")
    assert "gatekey-credential-svc-metadata" in ready_condition(cr)["message"]
    assert values(kube.get("Secret", ns, "gatekey-credential-svc-metadata")) == {"pin": "mine"}

    kube.delete("Secret", ns, "gatekey-credential-svc-metadata")
    wait_condition(kube, "Credential", ns, "svc")
    assert values(kube.get("Secret", ns, "gatekey-credential-svc-metadata")) == {"pin": "1"}


def test_a_failed_write_is_retried(kube: KubeClient, ns: str, emulator: EmulatorThread) -> None:
    emulator.call(lambda emu: emu.fail("POST", "secrets", 500, name=None, times=1))
    kube.create(credential("svc"), ns)
    wait_condition(kube, "Credential", ns, "svc")
    assert kube.get("Secret", ns, "svc-credentials")


def test_the_api_server_checks_manifests_against_the_crds(kube: KubeClient, ns: str) -> None:
    with pytest.raises(KubeError) as caught:
        kube.create(policy("p", grantTypes=["password"]), ns)
    assert caught.value.status == 422
    assert "userPool.secretName is required" in caught.value.body["message"]

    reserved = credential("c", claims=[{"key": "sub", "value": "x"}])
    with pytest.raises(KubeError) as caught:
        kube.create(reserved, ns)
    assert "reserved" in caught.value.body["message"]

    stored = kube.create(credential("c"), ns)
    assert stored["spec"]["token"] == {
        "ttl": "1h",
        "immortal": False,
        "refresh": {"enabled": False, "ttl": "24h", "maxCount": 0, "reuseGracePeriod": "0s"},
        "revokePrevious": False,
        "grantTypes": ["client_credentials"],
    }


def test_only_labelled_objects_are_written(kube: KubeClient, ns: str) -> None:
    kube.create(secret("unrelated", a="b"), ns)
    kube.create(credential("svc"), ns)
    wait_condition(kube, "Credential", ns, "svc")
    written = labelled(kube, ns)
    assert ("Secret", "unrelated") not in written
    for obj in written.values():
        notes: dict[str, Any] = obj["metadata"]["annotations"]
        assert obj["metadata"]["labels"][contract.FORMAT_LABEL] == contract.FORMAT
        assert contract.SOURCE_KIND_ANNOTATION in notes or obj["metadata"]["name"].startswith(
            "gatekey-"
        )
    assert kube.get("Secret", ns, "unrelated")["metadata"].get("labels") is None


def slip_past_the_schema(emulator: EmulatorThread, plural: str, write: Any) -> None:
    """``write`` with the CRD schema switched off: an invalid CR the model catches (an old
    CRD, a model stricter than the schema)."""
    resource = kmock.resource("gatekey.io", "v1alpha1", plural)
    schema = emulator.call(lambda emu: emu._schemas.pop(resource))
    try:
        write()
    finally:
        emulator.call(lambda emu: emu._schemas.__setitem__(resource, schema))


def test_an_invalid_credential_stops_granting_and_keeps_its_secret(
    kube: KubeClient, ns: str, emulator: EmulatorThread
) -> None:
    kube.create(credential("svc"), ns)
    wait_condition(kube, "Credential", ns, "svc")
    good = labelled(kube, ns)
    assert ("ConfigMap", contract.credential_configmap("svc")) in good

    slip_past_the_schema(
        emulator,
        "credentials",
        lambda: kube.patch(
            "Credential", ns, "svc", {"spec": {"claims": [{"key": "sub", "value": "x"}]}}
        ),
    )
    cr = wait_condition(kube, "Credential", ns, "svc", "False", "Invalid")
    assert "reserved" in ready_condition(cr)["message"]
    # Fail closed: the ConfigMap the issuer grants from goes; the client secret stays.
    wait_for(lambda: gone(kube, "ConfigMap", ns, contract.credential_configmap("svc")))
    assert labelled(kube, ns).keys() == good.keys() - {
        ("ConfigMap", contract.credential_configmap("svc"))
    }
    assert (
        labelled(kube, ns)[("Secret", "svc-credentials")]["data"]
        == (good[("Secret", "svc-credentials")]["data"])
    )


def test_an_invalid_role_stops_granting_and_an_invalid_policy_keeps_serving(
    kube: KubeClient, ns: str, emulator: EmulatorThread
) -> None:
    kube.create(policy("p", "JWT"), ns)
    kube.create(role("r", "ApiProxy/orders", scope="read"), ns)
    wait_condition(kube, "AuthPolicy", ns, "p")
    wait_for(lambda: kube.get("ConfigMap", ns, contract.role_configmap("r")))
    good = labelled(kube, ns)

    slip_past_the_schema(
        emulator,
        "roles",
        lambda: kube.patch("Role", ns, "r", {"spec": {"subjects": [{"kind": "Everyone"}]}}),
    )
    slip_past_the_schema(
        emulator,
        "authpolicies",
        lambda: kube.patch("AuthPolicy", ns, "p", {"spec": {"token": {"ttl": "soon"}}}),
    )
    wait_condition(kube, "Role", ns, "r", "False", "Invalid")
    wait_condition(kube, "AuthPolicy", ns, "p", "False", "Invalid")
    wait_for(lambda: gone(kube, "ConfigMap", ns, contract.role_configmap("r")))
    time.sleep(0.3)  # a pass that would prune the policy's objects has had its chance
    assert labelled(kube, ns).keys() == good.keys() - {("ConfigMap", contract.role_configmap("r"))}
