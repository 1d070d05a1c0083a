"""The proxy-key clients the issuer makes once per configuration, attacked through a real
``gatekey serve`` whose folder and state dir change under it: a secret rotated away, or
an audience or grant type edited out, is refused at once, however often the client was
served before (docs/rotation.md: "rotating again while a previous secret is still valid
replaces it (the oldest one stops working at once)")."""

import base64
import json

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy, user_pool
from tests.support.process import eventually, gatekey, serving, show_key


def _token(url, client_id, secret, **form):
    return requests.post(
        url + "/auth/jwt",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
        timeout=10,
    )


def _claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _rotate(manifests, state):
    result = gatekey(
        "rotate-secret",
        "--manifests",
        str(manifests),
        "--state-dir",
        str(state),
        "ApiProxy/orders",
        "--keep",
        "2h",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["client_secret"]


def test_a_secret_rotated_away_twice_is_refused_at_once(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "JWT"))
    key = show_key(manifests, state)
    client_id, oldest = key["client_id"], key["client_secret"]
    with serving(manifests, state) as (url, _):
        for _ in range(3):  # made once, then served again
            assert _token(url, client_id, oldest).status_code == 200
        middle = _rotate(manifests, state)
        eventually(lambda: _token(url, client_id, middle).status_code == 200)
        for _ in range(3):  # the previous generation, made once, served again
            assert _token(url, client_id, oldest).status_code == 200
        newest = _rotate(manifests, state)
        eventually(lambda: _token(url, client_id, newest).status_code == 200)
        refused = _token(url, client_id, oldest)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
        assert _token(url, client_id, middle).status_code == 200


def test_an_audience_edited_out_is_not_minted_again(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    wide = policy("p", "JWT", token={"audience": ["https://api.example"]})
    write_manifests(manifests, wide)
    key = show_key(manifests, state)
    client = (key["client_id"], key["client_secret"])
    with serving(manifests, state) as (url, _):
        for _ in range(3):
            answer = _token(url, *client)
            assert "https://api.example" in _claims(answer.json()["access_token"])["aud"]
        write_manifests(manifests, policy("p", "JWT", grantTypes=["client_credentials"]))

        def narrowed():
            aud = _claims(_token(url, *client).json()["access_token"])["aud"]
            return "https://api.example" not in aud

        eventually(narrowed)
        users = policy("p", "JWT", grantTypes=["password"], userPool={"secretName": "users"})
        write_manifests(manifests, users, user_pool("users", {"alice": "pw"}))
        eventually(lambda: _token(url, *client).status_code == 400)
        assert _token(url, *client).json()["error"] == "unauthorized_client"
