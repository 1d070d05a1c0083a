"""Client secret rotation with overlap, embedded mode: ``gatekey rotate-secret`` and
user-written previous secrets, tried over HTTP against a served issuer."""

import json
from datetime import UTC, datetime, timedelta

import requests

from gatekey.operator import contract
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, rotated_secret, secret
from tests.support.process import client_credentials, eventually, gatekey, serving


def rotate(manifests, state, target, *extra):
    return gatekey(
        "rotate-secret", "--manifests", str(manifests), "--state-dir", str(state), target, *extra
    )


def show_key(manifests, state, target):
    result = gatekey("show-key", "--manifests", str(manifests), "--state-dir", str(state), target)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    return values["client_id"], values["client_secret"]


def audit_lines(process):
    return [json.loads(line) for line in process.output()[0].splitlines() if line.startswith("{")]


def test_rotate_secret_while_serving_keeps_both_secrets_working(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "OAuth2"))
    client_id, old = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, process):
        assert client_credentials(url, client_id, old).status_code == 200
        result = rotate(manifests, state, "ApiProxy/orders", "--keep", "2h")
        assert result.returncode == 0, result.stderr
        rotated = json.loads(result.stdout)
        assert rotated["client_id"] == client_id
        new = rotated["client_secret"]
        assert new != old
        expires = datetime.fromisoformat(rotated["previous_client_secret_expires_at"])
        assert timedelta(hours=1, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=2)
        # The running issuer picks the new secret up from the state dir.
        eventually(lambda: client_credentials(url, client_id, new).status_code == 200)
        assert client_credentials(url, client_id, old).status_code == 200
        assert client_credentials(url, client_id, old + "x").status_code == 401
        metrics = requests.get(url + "/metrics", timeout=5).text
        lines = audit_lines(process)
    used = [(line["secret"], line["status"]) for line in lines if line["endpoint"] == "/auth/token"]
    assert ("previous", 200) in used
    assert ("current", 200) in used
    assert (None, 401) in used
    assert 'gatekey_previous_secret_uses_total{endpoint="/auth/token"} 1.0' in metrics
    assert old not in metrics
    assert new not in metrics
    assert all(old not in json.dumps(line) and new not in json.dumps(line) for line in lines)
    # show-key shows the new secret; a restart keeps both generations.
    assert show_key(manifests, state, "ApiProxy/orders") == (client_id, new)
    with serving(manifests, state) as (url, _):
        assert client_credentials(url, client_id, old).status_code == 200
        assert client_credentials(url, client_id, new).status_code == 200


def test_previous_secret_after_expiry_is_refused(start_issuer):
    # A user-written Secret: the previous secret works until its expiry, on the issuer's clock.
    later = datetime.now(UTC) + timedelta(minutes=10)
    issuer = start_issuer(
        policy("acl", "OAuth2", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        rotated_secret("svc-credentials", "svc", "new-secret", "old-secret", later),
    )
    assert (
        client_credentials(issuer.url, "svc", "old-secret", "/credential/token").status_code == 200
    )
    assert (
        client_credentials(issuer.url, "svc", "new-secret", "/credential/token").status_code == 200
    )
    issuer.clock.advance(11 * 60)
    refused = client_credentials(issuer.url, "svc", "old-secret", "/credential/token")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert (
        client_credentials(issuer.url, "svc", "new-secret", "/credential/token").status_code == 200
    )
    # Introspection and revocation callers follow the same rule.
    revoked = issuer.post(
        "/credential/revoke", {"token": "x", "client_id": "svc", "client_secret": "old-secret"}
    )
    assert revoked.status_code == 401


def test_previous_secret_without_a_valid_expiry_is_not_honoured(start_issuer):
    issuer = start_issuer(
        policy("acl", "OAuth2", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        secret(
            "svc-credentials",
            client_id="svc",
            client_secret="new-secret",
            previous_client_secret="old-secret",
            previous_client_secret_expires_at="tomorrow",
        ),
        credential("bare", ["ApiProxy/orders"]),
        secret(
            "bare-credentials",
            client_id="bare",
            client_secret="bare-new",
            previous_client_secret="bare-old",
        ),
    )
    assert (
        client_credentials(issuer.url, "svc", "new-secret", "/credential/token").status_code == 200
    )
    assert (
        client_credentials(issuer.url, "svc", "old-secret", "/credential/token").status_code == 401
    )
    assert (
        client_credentials(issuer.url, "bare", "bare-old", "/credential/token").status_code == 401
    )
    errors = " ".join(issuer.build.snapshot.errors)
    assert "svc-credentials: previous client secret ignored" in errors
    assert "bare-credentials: previous client secret ignored" in errors


def test_previous_secret_of_another_namespace_does_not_authenticate(start_issuer):
    later = datetime.now(UTC) + timedelta(hours=1)

    def tenant(ns, current, previous):
        docs = (
            policy("acl", "OAuth2", management="ACL"),
            credential(f"svc-{ns}", ["ApiProxy/orders"]),
            rotated_secret(f"svc-{ns}-credentials", f"svc-{ns}", current, previous, later),
        )
        for doc in docs:
            doc["metadata"]["namespace"] = ns
        return docs

    issuer = start_issuer(*tenant("a", "a-new", "a-old"), *tenant("b", "b-new", "b-old"))
    assert client_credentials(issuer.url, "svc-a", "a-old", "/credential/token").status_code == 200
    assert client_credentials(issuer.url, "svc-b", "b-old", "/credential/token").status_code == 200
    for client_id, other in [("svc-a", "b-old"), ("svc-a", "b-new"), ("svc-b", "a-old")]:
        assert (
            client_credentials(issuer.url, client_id, other, "/credential/token").status_code == 401
        )


def test_rotation_on_a_user_owned_secret_is_refused_and_never_written(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    path = write_manifests(
        manifests,
        policy("acl", "OAuth2", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        secret("svc-credentials", client_id="svc", client_secret="mine"),
    )
    before = path.read_text()
    result = rotate(manifests, state, "Credential/svc")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "user-owned" in result.stderr
    assert "Traceback" not in result.stderr
    assert "previous_client_secret" in result.stderr
    assert path.read_text() == before
    assert not (state / "secrets" / "default" / "svc-credentials.json").exists()


def test_rotate_secret_bad_input_is_one_line(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "OAuth2"))
    for target, extra, words in [
        ("ApiProxy/nope", (), "no Policy-mode AuthPolicy targeting ApiProxy/nope"),
        ("Role/x", (), "is not one of"),
        ("ApiProxy/orders", ("--keep", "soon"), "--keep 'soon' is not a duration"),
    ]:
        result = rotate(manifests, state, target, *extra)
        assert result.returncode == 1
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_client_cannot_trigger_a_rotation(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "OAuth2"))
    client_id, current = show_key(manifests, state, "ApiProxy/orders")
    saved = (state / "secrets" / "default" / "apiproxy-orders-proxy-key.json").read_text()
    with serving(manifests, state) as (url, _):
        session = requests.Session()
        for path in ("/auth/rotate-secret", "/auth/token/rotate", "/rotate-secret"):
            answer = session.post(
                url + path, data={"client_id": client_id, "client_secret": current}, timeout=5
            )
            assert answer.status_code in (404, 405), (path, answer.status_code)
        odd = session.post(
            url + "/auth/token",
            data={"grant_type": "rotate_secret", "client_id": client_id, "client_secret": current},
            timeout=5,
        )
        assert odd.status_code == 400
        assert odd.json()["error"] == "unsupported_grant_type"
        assert client_credentials(url, client_id, current, session=session).status_code == 200
    saved_after = (state / "secrets" / "default" / "apiproxy-orders-proxy-key.json").read_text()
    assert saved_after == saved
    assert contract.PREVIOUS_CLIENT_SECRET_KEY not in json.loads(saved_after)


def test_the_rotate_annotation_works_in_a_manifest_folder_too(start_issuer):
    issuer = start_issuer(policy("p", "OAuth2"))
    client_id, old = issuer.proxy_key("ApiProxy", "orders")
    doc = policy("p", "OAuth2")
    doc["metadata"]["annotations"] = {contract.ROTATE_SECRET_ANNOTATION: "1"}
    write_manifests(issuer.source.folder.root, doc)
    issuer.reload()
    same_id, new = issuer.proxy_key("ApiProxy", "orders")
    assert same_id == client_id
    assert new != old
    assert client_credentials(issuer.url, client_id, old).status_code == 200
    assert client_credentials(issuer.url, client_id, new).status_code == 200
    issuer.reload()  # the value is handled: no second rotation
    assert issuer.proxy_key("ApiProxy", "orders") == (client_id, new)
