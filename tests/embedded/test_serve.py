"""``gatekey serve --manifests DIR`` as a user runs it: a real process, real files."""

import json
import signal
import stat

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role
from tests.support.process import eventually, gatekey, serving


def token(url, client, path="/auth/jwt", **more):
    client_id, secret = client
    return requests.post(
        url + path,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **more,
        },
        timeout=5,
    )


def show_key(manifests, state, target):
    result = gatekey("show-key", "--manifests", str(manifests), "--state-dir", str(state), target)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    return values["client_id"], values["client_secret"]


def test_restart_keeps_keys_secrets_and_refresh_tokens(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(
        manifests, policy("p", "OAuth2", token={"refresh": {"enabled": True}}), policy("j", "JWT")
    )
    key = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, _):
        first = token(url, key, "/auth/token").json()
        jwks = requests.get(url + "/auth/.well-known/jwks.json", timeout=5).json()
    assert show_key(manifests, state, "ApiProxy/orders") == key
    with serving(manifests, state) as (url, _):
        assert requests.get(url + "/auth/.well-known/jwks.json", timeout=5).json() == jwks
        refreshed = requests.post(
            url + "/auth/token",
            timeout=5,
            data={
                "grant_type": "refresh_token",
                "client_id": key[0],
                "client_secret": key[1],
                "refresh_token": first["refresh_token"],
            },
        )
        assert refreshed.status_code == 200, refreshed.text


def test_tokens_answered_survive_a_killed_process(tmp_path):
    """An opaque or refresh token is answered only once its row is committed to the
    state dir's SQLite file (docs/reference.md): a process killed with SIGKILL right after
    answering, with no chance to checkpoint or close the file, loses none of them."""
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "OAuth2", token={"refresh": {"enabled": True}}))
    key = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, process):
        answers = [token(url, key, "/auth/token").json() for _ in range(30)]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    with serving(manifests, state) as (url, _):
        for answer in answers:
            found = requests.post(
                url + "/auth/introspect",
                data={"token": answer["access_token"]},
                auth=key,
                timeout=5,
            )
            assert found.json()["active"] is True, found.text
        refreshed = requests.post(
            url + "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": answers[-1]["refresh_token"]},
            auth=key,
            timeout=5,
        )
        assert refreshed.status_code == 200, refreshed.text


def test_state_dir_is_private_and_holds_no_tokens(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "OAuth2", token={"refresh": {"enabled": True}}))
    key = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, _):
        body = token(url, key, "/auth/token").json()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in (state / "secrets").rglob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    everything = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    assert body["access_token"].encode() not in everything
    assert body["refresh_token"].encode() not in everything


def test_edits_are_picked_up_and_a_broken_role_stops_granting(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "JWT"), role("r", "ApiProxy/orders", scope="read"))
    key = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, process):
        assert token(url, key, scope="read").status_code == 200
        assert token(url, key, scope="write").status_code == 400

        write_manifests(manifests, policy("p", "JWT"), role("r", "ApiProxy/orders", scope="write"))
        eventually(lambda: token(url, key, scope="write").status_code == 200)

        # Fail closed: a Role edited into an invalid shape grants nothing until fixed
        # (the edit may have removed a subject); the policy keeps serving.
        broken = role("r", "ApiProxy/orders", scope="write")
        broken["spec"]["subjects"][0]["kind"] = "Nobody"
        write_manifests(manifests, policy("p", "JWT"), broken)
        eventually(lambda: token(url, key, scope="write").status_code == 400)
        assert token(url, key).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        log = process.output()[1]
        assert "manifests.yaml[1] spec.subjects.0.kind" in log


def test_credential_added_while_running(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("shop", "JWT", "ProxyGroup/shop", management="ACL"))
    with serving(manifests, state) as (url, _):
        write_manifests(manifests, credential("new", ["ProxyGroup/shop"]), name="cred.yaml")
        key = eventually(lambda: _try_key(manifests, state, "Credential/new"))
        eventually(lambda: token(url, key, "/credential/jwt").status_code == 200)


def _try_key(manifests, state, target):
    result = gatekey("show-key", "--manifests", str(manifests), "--state-dir", str(state), target)
    return tuple(json.loads(result.stdout).values()) if result.returncode == 0 else None


def test_sigterm_stops_cleanly(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "JWT"))
    with serving(manifests, state) as (_, process):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # docs/operations.md: within 10 s of SIGTERM


def test_environment_variables_stand_for_flags(tmp_path):
    manifests = tmp_path / "m"
    write_manifests(manifests, policy("p", "JWT"))
    result = gatekey(
        "show-key",
        "ApiProxy/orders",
        env={"GATEKEY_MANIFESTS": str(manifests), "GATEKEY_STATE_DIR": str(tmp_path / "s")},
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"client_id", "client_secret"}
