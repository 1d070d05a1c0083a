"""``gatekey serve`` and ``gatekey render`` refuse a Credential Metadata key equal to a
token response field name, with the file and the field, and serve everything else."""

import signal

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, secret
from tests.support.process import eventually, gatekey, serving

CLIENT = ("billing-client", "billing-secret")


def folder(manifests, response_name):
    renamed = {"response": {"fieldNames": {"access_token": response_name}}}
    write_manifests(
        manifests,
        policy("shop", "OAuth2", "ProxyGroup/shop", management="ACL", tokenManagement=renamed),
        name="policies.yaml",
    )
    write_manifests(
        manifests,
        secret("billing-credentials", client_id=CLIENT[0], client_secret=CLIENT[1]),
        credential(
            "billing",
            ["ProxyGroup/shop"],
            claims=[
                {"key": "tier", "value": "gold"},
                {"key": "token", "value": "x", "includeInTokenResponse": True},
            ],
        ),
        name="billing.yaml",
    )


def token(url):
    return requests.post(
        url + "/credential/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
        },
        timeout=5,
    )


def test_serve_names_the_file_and_field_and_does_not_serve_the_credential(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    folder(manifests, "token")
    with serving(manifests, state) as (url, process):
        refused = token(url)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"

        folder(manifests, "tok")  # the clash resolved: served, and the key is in the response
        issued = eventually(lambda: (r := token(url)).status_code == 200 and r)
        assert issued.json()["tok"].startswith("gkat_")
        assert issued.json()["token"] == "x"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        log = process.output()[1]
    assert "billing.yaml[-] spec.claims.1.key: Credential billing: claims key 'token'" in log


def test_render_fails_with_the_file_and_field(tmp_path):
    manifests = tmp_path / "m"
    folder(manifests, "token")
    result = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "billing.yaml[-] spec.claims.1.key: Credential billing: claims key 'token'" in (
        result.stderr
    )
    assert "gatekey-credential-billing" not in result.stdout
