"""Tenancy on the operator's side, against the emulator with a cluster-wide operator.

- A client id is held by the claimant already served under it, else by the oldest,
  in any namespace: a later Credential or proxy key with the same id is refused
  (Ready=False ``ClientIdConflict`` and a Warning Event) and nothing of it is
  written; the holder stays Ready and intact.
- ``token.audience`` may only name targets of the policy's own namespace.
- Credential Metadata may not set identity or authorization claims.
"""

import time

import kmock
import pytest

from tests.operator.helpers import (
    events_for,
    labelled,
    payload,
    ready_condition,
    values,
    wait_condition,
)
from tests.support.kube_harness import EmulatorThread, KubeClient, KubeError, wait_for
from tests.support.manifests import credential, policy, secret

pytestmark = pytest.mark.usefixtures("operator")
PROXY_KEY = "apiproxy-orders-proxy-key"


def refused(kube: KubeClient, kind: str, ns: str, name: str) -> dict:
    cr = wait_condition(kube, kind, ns, name, "False", "ClientIdConflict")
    warnings = wait_for(
        lambda: [e for e in events_for(kube, ns, name) if e[:2] == ("Warning", "ClientIdConflict")]
    )
    assert "held by another client in another namespace" in warnings[0][2]
    return cr


# Client ids ------------------------------------------------------------------------------


def test_a_later_credential_elsewhere_cannot_take_a_client_id(kube: KubeClient, ns: str) -> None:
    # The newcomer's namespace sorts first: only age decides (creation times have seconds).
    victim_ns, late_ns = f"z-{ns}", f"a-{ns}"
    kube.create(credential("victim", ["ApiProxy/orders"], clientId="fixed-id"), victim_ns)
    victim = wait_condition(kube, "Credential", victim_ns, "victim")
    secret_before = kube.get("Secret", victim_ns, "victim-credentials")
    config_before = kube.get("ConfigMap", victim_ns, "gatekey-credential-victim")
    time.sleep(1.1)

    kube.create(credential("late", ["ApiProxy/orders"], clientId="fixed-id"), late_ns)
    late = refused(kube, "Credential", late_ns, "late")
    assert "clientId" not in late["status"]
    assert labelled(kube, late_ns) == {}  # no Secret generated, no ConfigMap

    again = wait_condition(kube, "Credential", victim_ns, "victim")
    assert again["status"]["clientId"] == victim["status"]["clientId"] == "fixed-id"
    assert kube.get("Secret", victim_ns, "victim-credentials") == secret_before
    assert kube.get("ConfigMap", victim_ns, "gatekey-credential-victim") == config_before
    assert not [e for e in events_for(kube, victim_ns, "victim") if e[0] == "Warning"]


def test_a_proxy_key_secret_elsewhere_cannot_take_the_victims_key(
    kube: KubeClient, ns: str
) -> None:
    victim_ns, evil_ns = f"{ns}-shop", f"{ns}-evil"
    kube.create(policy("orders"), victim_ns)
    victim = wait_condition(kube, "AuthPolicy", victim_ns, "orders")
    client_id = victim["status"]["clientId"]  # public: it is in every token
    time.sleep(1.1)  # creation times have seconds; a tie would go by namespace name

    forged = secret("apiproxy-mine-proxy-key", client_id=client_id, client_secret="attacker")
    kube.create(forged, evil_ns)
    kube.create(policy("mine", "JWT", "ApiProxy/mine"), evil_ns)
    refused(kube, "AuthPolicy", evil_ns, "mine")
    assert labelled(kube, evil_ns) == {}  # the adopted Secret is not even labelled
    assert kube.get("Secret", evil_ns, "apiproxy-mine-proxy-key")["metadata"].get("labels") is None

    kept = wait_condition(kube, "AuthPolicy", victim_ns, "orders")
    assert kept["status"]["clientId"] == client_id
    config = kube.get("ConfigMap", victim_ns, "gatekey-authpolicy-orders")
    assert payload(config, "authpolicy.json")["clientId"] == client_id
    assert values(kube.get("Secret", victim_ns, PROXY_KEY))["client_secret"] != "attacker"


def test_an_older_credential_pointed_at_a_served_id_does_not_take_it(
    kube: KubeClient, ns: str
) -> None:
    evil_ns, victim_ns = f"{ns}-evil", f"{ns}-shop"
    kube.create(credential("sleeper", clientId="own-id"), evil_ns)  # created first: older
    wait_condition(kube, "Credential", evil_ns, "sleeper")
    time.sleep(1.1)
    kube.create(credential("victim", clientId="victim-id"), victim_ns)
    wait_condition(kube, "Credential", victim_ns, "victim")

    # The sleeper's Secret is Gatekey's: the attacker re-points the spec and the Secret.
    kube.patch("Credential", evil_ns, "sleeper", {"spec": {"clientId": "victim-id"}})
    stolen = {"client_id": "dmljdGltLWlk", "client_secret": "YXR0YWNrZXI="}  # base64
    kube.patch("Secret", evil_ns, "sleeper-credentials", {"data": stolen})
    refused(kube, "Credential", evil_ns, "sleeper")

    kept = wait_condition(kube, "Credential", victim_ns, "victim")
    assert kept["status"]["clientId"] == "victim-id"
    assert kube.get("ConfigMap", victim_ns, "gatekey-credential-victim")
    assert kube.get("ConfigMap", evil_ns, "gatekey-credential-sleeper") is None


def test_the_refused_one_is_served_once_the_holder_goes(kube: KubeClient, ns: str) -> None:
    first_ns, second_ns = f"{ns}-1", f"{ns}-2"
    kube.create(credential("first", clientId="moving-id"), first_ns)
    wait_condition(kube, "Credential", first_ns, "first")
    kube.create(credential("second", clientId="moving-id"), second_ns)
    refused(kube, "Credential", second_ns, "second")

    kube.delete("Credential", first_ns, "first")
    # No change in second_ns itself: the pass over first_ns asks for one there.
    cr = wait_condition(kube, "Credential", second_ns, "second")
    assert cr["status"]["clientId"] == "moving-id"
    assert kube.get("ConfigMap", second_ns, "gatekey-credential-second")


def test_in_one_namespace_the_older_claimant_is_named(kube: KubeClient, ns: str) -> None:
    kube.create(credential("old", clientId="same"), ns)
    wait_condition(kube, "Credential", ns, "old")
    time.sleep(1.1)
    kube.create(credential("new", clientId="same"), ns)
    cr = wait_condition(kube, "Credential", ns, "new", "False", "ClientIdConflict")
    assert ready_condition(cr)["message"] == "client id same is held by Credential old"


# Audience --------------------------------------------------------------------------------


def test_an_audience_naming_another_namespaces_proxy_is_refused(kube: KubeClient, ns: str) -> None:
    kube.create(policy("orders"), f"{ns}-shop")
    wait_condition(kube, "AuthPolicy", f"{ns}-shop", "orders")

    for value, why in [
        ("ApiProxy/orders", "'ApiProxy/orders' is not a target of namespace"),
        (f"{ns}-shop/ApiProxy/orders", f"names namespace {ns}-shop"),
    ]:
        kube.create(policy("mine", "JWT", "ApiProxy/mine", token={"audience": [value]}), ns)
        cr = wait_condition(kube, "AuthPolicy", ns, "mine", "False", "AudienceNotOwned")
        assert why in ready_condition(cr)["message"]
        assert labelled(kube, ns) == {}
        warnings = [e for e in events_for(kube, ns, "mine") if e[0] == "Warning"]
        assert ("Warning", "AudienceNotOwned") in [e[:2] for e in warnings]
        kube.delete("AuthPolicy", ns, "mine")
        wait_for(lambda: kube.get("AuthPolicy", ns, "mine") is None)

    # Naming its own targets is fine.
    kube.create(policy("mine", "JWT", "ApiProxy/mine", token={"audience": ["ApiProxy/mine"]}), ns)
    wait_condition(kube, "AuthPolicy", ns, "mine")


def test_the_api_server_refuses_a_malformed_target_audience(kube: KubeClient, ns: str) -> None:
    with pytest.raises(KubeError) as caught:
        kube.create(policy("p", token={"audience": ["ApiProxy/Not_A_Name"]}), ns)
    assert caught.value.status == 422
    assert "must be Kind/name" in caught.value.body["message"]


# Reserved claims -------------------------------------------------------------------------


def test_the_api_server_refuses_authorization_claims(kube: KubeClient, ns: str) -> None:
    for key in ("roles", "Groups", "cnf", "act"):
        with pytest.raises(KubeError) as caught:
            kube.create(credential("c", claims=[{"key": key, "value": "admin"}]), ns)
        assert caught.value.status == 422
        assert "reserved" in caught.value.body["message"]


def test_the_operator_refuses_authorization_claims_past_the_schema(
    kube: KubeClient, ns: str, emulator: EmulatorThread
) -> None:
    # An older CRD without the rule: the operator's model still refuses it.
    resource = kmock.resource("gatekey.io", "v1alpha1", "credentials")
    schema = emulator.call(lambda emu: emu._schemas.pop(resource))
    try:
        kube.create(credential("c", claims=[{"key": "Scope", "value": "admin"}]), ns)
    finally:
        emulator.call(lambda emu: emu._schemas.__setitem__(resource, schema))
    cr = wait_condition(kube, "Credential", ns, "c", "False", "Invalid")
    message = ready_condition(cr)["message"]
    assert message.startswith("spec.claims.0: 'Scope' is a reserved claim")
    assert labelled(kube, ns) == {}
