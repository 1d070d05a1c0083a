"""Bad manifest files and invalid edits, against ``gatekey serve`` as a real process.

A bad file (too large, binary, nested 20,000 deep, an alias bomb, not a mapping) is
reported by name and never stops the other files from loading or reloading; an
invalid edit of a Credential, Role or user pool stops it granting (fail closed), an
invalid edit of an AuthPolicy keeps its last good version.
"""

import json
import time

import requests

from gatekey.issuer.embedded.reading import MAX_FILE_BYTES
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role, user_pool
from tests.support.process import eventually, gatekey, serving

BOMB = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
)


def write_bad_files(folder, prefix=""):
    """One file of each kind of bad input; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        f"{prefix}deep.yaml": ("a: " + "[" * 20_000).encode(),
        f"{prefix}binary.yaml": bytes(range(256)) * 4,
        f"{prefix}huge.yaml": b"# padding\n" * (MAX_FILE_BYTES // 10 + 1),
        f"{prefix}bomb.yaml": BOMB.encode(),
        f"{prefix}list.yaml": b"- not\n- a manifest\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


def shop(*, disabled=False, **cred_spec):
    """policy.yaml, credential.yaml, role.yaml and users.yaml of one ACL-mode shop."""
    return {
        "policy.yaml": policy(
            "shop",
            "JWT",
            "ProxyGroup/shop",
            management="ACL",
            proxies=["orders"],
            userPool={"secretName": "users"},
        ),
        "credential.yaml": credential(
            "svc",
            ["ProxyGroup/shop"],
            token={"grantTypes": ["client_credentials", "password"]},
            disabled=disabled,
            **cred_spec,
        ),
        "role.yaml": role("reader", "Credential/svc", "User/alice", scope="orders.read"),
        "users.yaml": user_pool("users", {"alice": "wonderland"}),
    }


def write_shop(folder, **overrides):
    for name, doc in {**shop(), **overrides}.items():
        write_manifests(folder, doc, name=name)


def show_key(manifests, state, target="Credential/svc"):
    result = gatekey("show-key", "--manifests", str(manifests), "--state-dir", str(state), target)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    return values["client_id"], values["client_secret"]


def token(url, client, **more):
    client_id, secret = client
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return requests.post(url + "/credential/jwt", data={**data, **more}, timeout=10)


def alice(url, client):
    return token(url, client, grant_type="password", username="alice", password="wonderland")


def test_bad_files_are_named_and_every_other_file_keeps_loading(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_shop(manifests)
    bad = write_bad_files(manifests)
    # show-key and render work on the rest and name every bad file on one line each.
    key = show_key(manifests, state)
    rendered = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "r"))
    assert rendered.returncode == 1
    assert "gatekey-credential-svc" in rendered.stdout
    for name in bad:
        (line,) = [x for x in rendered.stderr.splitlines() if f"skipped: {name}[" in x]
        assert len(line) < 300, line
    assert "Traceback" not in rendered.stderr

    with serving(manifests, state) as (url, process):
        assert token(url, key, scope="orders.read").status_code == 200
        # Another deep file while running, then an edit elsewhere: the edit takes effect.
        (manifests / "later.yaml").write_text("[" * 20_000)
        time.sleep(0.5)
        write_manifests(manifests, shop(disabled=True)["credential.yaml"], name="credential.yaml")
        eventually(lambda: token(url, key).status_code == 401)
        eventually(lambda: "skipped: later.yaml[-]: nested more than" in process.output()[1])
        log = process.output()[1]
    for name in bad:
        assert f"skipped: {name}[" in log
    assert "Traceback" not in log
    assert "x, x" not in log  # a reason, not the content


def test_a_deep_file_at_start_does_not_stop_serve_or_show_key(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_shop(manifests)
    (manifests / "deep.yaml").write_text("[" * 20_000)
    key = show_key(manifests, state)
    with serving(manifests, state) as (url, _):
        assert token(url, key).status_code == 200


def test_invalid_edits_fail_closed_except_for_policies(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_shop(manifests)
    key = show_key(manifests, state)
    with serving(manifests, state) as (url, process):
        issued = token(url, key, scope="orders.read")
        assert issued.status_code == 200
        bearer = {
            "Authorization": "Bearer " + issued.json()["access_token"],
            "X-Gatekey-Proxy": "orders",
        }
        assert requests.get(url + "/authz", headers=bearer, timeout=5).status_code == 200
        assert alice(url, key).status_code == 200

        # An AuthPolicy with a typo: its last good version keeps serving.
        bad_policy = shop()["policy.yaml"]
        bad_policy["spec"]["token"] = {"ttl": "soon"}
        write_manifests(manifests, bad_policy, name="policy.yaml")
        eventually(lambda: "policy.yaml[0] spec.token.ttl" in process.output()[1])
        assert token(url, key).status_code == 200

        # A Role edited into an invalid shape grants nothing until fixed.
        bad_role = role("reader", "Credential/svc", "User/alice", scope="orders.read")
        bad_role["spec"]["subjects"][0]["kind"] = "Everyone"
        write_manifests(manifests, bad_role, name="role.yaml")
        eventually(lambda: token(url, key, scope="orders.read").status_code == 400)
        assert token(url, key, scope="orders.read").json()["error"] == "invalid_scope"

        # A user pool that no longer parses lets nobody in.
        bad_pool = user_pool("users", {"alice": "wonderland"})
        bad_pool["data"] = {"other": "not base64!"}
        write_manifests(manifests, bad_pool, name="users.yaml")
        eventually(lambda: alice(url, key).status_code == 400)
        assert alice(url, key).json()["error"] == "invalid_grant"

        # disabled: true saved together with a typo: the Credential stops issuing.
        write_manifests(
            manifests,
            shop(disabled=True, expiresAt="next tuesday")["credential.yaml"],
            name="credential.yaml",
        )
        eventually(lambda: token(url, key).status_code == 401)
        assert token(url, key).json()["error"] == "invalid_client"
        assert requests.get(url + "/authz", headers=bearer, timeout=5).status_code == 401

        # Fixed: everything is back, with the same client secret.
        write_shop(manifests)
        eventually(lambda: token(url, key, scope="orders.read").status_code == 200)
        eventually(lambda: alice(url, key).status_code == 200)
        log = process.output()[1]
    assert show_key(manifests, state) == key
    assert "AuthPolicy default/shop: the last good version keeps serving" in log
    assert "Credential default/svc: not in force until fixed" in log
    assert "Role default/reader: not in force until fixed" in log
    assert "Secret default/users: not in force until fixed" in log
