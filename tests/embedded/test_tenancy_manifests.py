"""Tenancy rules a manifest folder is held to: ``gatekey serve`` and ``gatekey render``.

A policy's ``token.audience`` may only name targets of its own namespace, and
Credential Metadata may not set claims that carry identity or authorization. Both
are refused with the file and field, and the refused object issues nothing.
"""

import signal

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, secret
from tests.support.process import eventually, gatekey, serving

EVIL_KEY = ("evil-client", "evil-secret")


def in_namespace(doc, namespace):
    doc["metadata"]["namespace"] = namespace
    return doc


def evil_folder(manifests, audience):
    """``default`` serves ``orders``; ``evil`` has its own proxy ``mine`` with a known key."""
    write_manifests(manifests, policy("orders", "JWT"), name="default.yaml")
    write_manifests(
        manifests,
        in_namespace(
            secret("apiproxy-mine-proxy-key", client_id=EVIL_KEY[0], client_secret=EVIL_KEY[1]),
            "evil",
        ),
        in_namespace(policy("mine", "JWT", "ApiProxy/mine", token={"audience": audience}), "evil"),
        name="evil.yaml",
    )


def jwt_for(url, client):
    return requests.post(
        url + "/auth/jwt",
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
        },
        timeout=5,
    )


def authz(url, token, proxy):
    return requests.get(
        url + "/authz",
        headers={"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": proxy},
        timeout=5,
    )


def test_a_policy_cannot_name_another_namespaces_proxy_in_its_audience(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    evil_folder(manifests, ["ApiProxy/orders"])
    with serving(manifests, state) as (url, process):
        refused = jwt_for(url, EVIL_KEY)
        assert refused.status_code == 401, refused.text  # the policy is not served at all
        assert refused.json()["error"] == "invalid_client"

        # The same policy without the foreign value is served, and reaches only its proxy.
        evil_folder(manifests, ["https://mine.example"])
        issued = eventually(lambda: (r := jwt_for(url, EVIL_KEY)).status_code == 200 and r)
        token = issued.json()["access_token"]
        # Two namespaces: the bare name is the home namespace's (default), so qualify.
        assert authz(url, token, "evil/mine").status_code == 200
        assert authz(url, token, "mine").status_code == 403
        assert authz(url, token, "orders").status_code == 403

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        log = process.output()[1]
    assert "evil.yaml[-] spec.token.audience: AuthPolicy mine: token.audience value " in log
    assert "'ApiProxy/orders' is not a target of namespace evil" in log


def test_a_namespace_qualified_audience_of_another_namespace_is_refused(tmp_path):
    manifests = tmp_path / "m"
    evil_folder(manifests, ["default/ApiProxy/orders"])
    result = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "evil.yaml[-] spec.token.audience: AuthPolicy mine:" in result.stderr
    assert "'default/ApiProxy/orders' names namespace default" in result.stderr
    assert "gatekey-authpolicy-mine" not in result.stdout  # nothing of it is rendered
    assert "gatekey-authpolicy-orders" in result.stdout


def test_an_audience_the_namespace_owns_is_fine(tmp_path):
    manifests = tmp_path / "m"
    write_manifests(
        manifests,
        in_namespace(policy("mine", "JWT", "ApiProxy/mine"), "evil"),
        in_namespace(
            policy("group", "JWT", "ProxyGroup/g", management="ACL", proxies=["a"]), "evil"
        ),
        in_namespace(
            policy("more", "OAuth2", "ApiProxy/mine", token={"audience": ["ApiProxy/a"]}), "evil"
        ),
    )
    result = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "gatekey-authpolicy-more" in result.stdout


def test_metadata_may_not_set_an_authorization_claim(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("acl", "JWT", management="ACL"), name="policy.yaml")
    preset = secret("svc-credentials", client_id="svc", client_secret="svc-secret")
    forged = credential("svc", ["ApiProxy/orders"], claims=[{"key": "Roles", "value": "admin"}])
    write_manifests(manifests, preset, forged, name="creds.yaml")

    result = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "creds.yaml[1] spec.claims.0: 'Roles' is a reserved claim" in result.stderr

    with serving(manifests, state) as (url, _):
        refused = requests.post(
            url + "/credential/jwt",
            data={"grant_type": "client_credentials"},
            auth=("svc", "svc-secret"),
            timeout=5,
        )
        assert refused.status_code == 401, refused.text
        fixed = credential("svc", ["ApiProxy/orders"], claims=[{"key": "team", "value": "a"}])
        write_manifests(manifests, preset, fixed, name="creds.yaml")
        eventually(
            lambda: (
                requests.post(
                    url + "/credential/jwt",
                    data={"grant_type": "client_credentials"},
                    auth=("svc", "svc-secret"),
                    timeout=5,
                ).status_code
                == 200
            )
        )
