"""Row 2 of the tenancy rules: a clash never changes who holds a client id. Another
namespace writing the victim's client id into its own Secret (a proxy key, or a
Credential's fixed ``clientId``) is refused loudly; the victim keeps working."""

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import eventually, serving
from tests.tenancy.conftest import adopted_key, in_namespace, victim

VICTIM_KEY = ("orders-proxy", "victims-own-secret")
VICTIM_CREDENTIAL = ("svc-client", "victims-credential-secret")


def victim_world():
    documents = victim()
    for document in documents:
        if document["kind"] == "Credential":
            document["spec"]["secretName"] = "svc-secret"
    return [
        *documents,
        adopted_key("default", "apiproxy-orders-proxy-key", *VICTIM_KEY),
        adopted_key("default", "svc-secret", *VICTIM_CREDENTIAL),
    ]


def attack():
    """The attacker's policy adopts a Secret carrying the victim's proxy-key id, and its
    Credential fixes the victim's Credential id, each with the attacker's secret."""
    evil_cred = credential("svc", ["ApiProxy/orders"], clientId=VICTIM_CREDENTIAL[0])
    return [
        *in_namespace(
            "evil",
            policy("orders-jwt", "JWT"),
            policy("orders-acl-jwt", "JWT", management="ACL"),
            evil_cred,
        ),
        adopted_key("evil", "apiproxy-orders-proxy-key", VICTIM_KEY[0], "attackers-secret"),
    ]


def grant(url, path, client_id, secret):
    return requests.post(
        url + path,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=5,
    )


def test_a_newcomer_never_takes_a_served_client_id(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, *victim_world(), name="default.yaml")
    with serving(manifests, state) as (url, process):
        assert grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 200
        assert grant(url, "/credential/jwt", *VICTIM_CREDENTIAL).status_code == 200
        skipped_before = requests.get(url + "/readyz", timeout=5).json()["skipped"]

        write_manifests(manifests, *attack(), name="evil.yaml")
        ready = eventually(
            lambda: (
                (r := requests.get(url + "/readyz", timeout=5).json())["skipped"]
                >= skipped_before + 2
                and r
            )
        )
        assert ready["status"] == "ready"
        # The holder keeps its id; the attacker's secret is refused under it.
        assert grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 200
        assert grant(url, "/auth/jwt", VICTIM_KEY[0], "attackers-secret").status_code == 401
        assert grant(url, "/credential/jwt", *VICTIM_CREDENTIAL).status_code == 200
        refused = grant(url, "/credential/jwt", VICTIM_CREDENTIAL[0], "anything")
        assert refused.status_code == 401
        # Loudly: the log names the refused objects and the reason.
        _out, err = process.output()
        assert "ClientIdConflict" in err
        assert "evil/apiproxy-orders-proxy-key" in err
        assert "Credential evil/svc" in err


def test_a_clash_on_a_cold_start_serves_neither(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, *victim_world(), name="default.yaml")
    write_manifests(manifests, *attack(), name="evil.yaml")
    with serving(manifests, state) as (url, _process):
        assert grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 401
        assert grant(url, "/auth/jwt", VICTIM_KEY[0], "attackers-secret").status_code == 401
        assert requests.get(url + "/readyz", timeout=5).json()["skipped"] >= 2
        # Resolving the clash (the newcomer goes) gives the id to the one left.
        (manifests / "evil.yaml").unlink()
        eventually(lambda: grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 200)


def test_a_holder_keeps_its_id_through_an_invalid_edit(tmp_path):
    """A typo in the holder's manifest must not hand its id to a waiting newcomer."""
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, *victim_world(), name="default.yaml")
    with serving(manifests, state) as (url, process):
        assert grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 200
        # The victim's key Secret breaks (no client_secret), then the attacker arrives.
        broken = [d for d in victim_world() if d["metadata"]["name"] != "apiproxy-orders-proxy-key"]
        broken.append(adopted_key("default", "apiproxy-orders-proxy-key", VICTIM_KEY[0], ""))
        write_manifests(manifests, *broken, name="default.yaml")
        write_manifests(manifests, *attack(), name="evil.yaml")
        eventually(lambda: "ClientIdConflict" in process.output()[1])
        assert grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 401
        assert grant(url, "/auth/jwt", VICTIM_KEY[0], "attackers-secret").status_code == 401
        write_manifests(manifests, *victim_world(), name="default.yaml")
        eventually(lambda: grant(url, "/auth/jwt", *VICTIM_KEY).status_code == 200)
        assert grant(url, "/auth/jwt", VICTIM_KEY[0], "attackers-secret").status_code == 401
