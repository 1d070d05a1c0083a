"""Attacks on the remembered client credentials grants (``issuer/http/grant_cache.py``),
over HTTP against a served issuer: each first has a token endpoint answer the same request
more than once (its grant is then remembered), then changes what the grant depends on, or
sends something that differs from it, and expects what the whole check answers."""

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.embedded.test_rotation import audit_lines, show_key
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role, rotated_secret, secret
from tests.support.process import serving
from tests.support.tokens import verified_claims
from tests.verification.conftest import iso, orders_entry_ending
from tests.verification.test_throttle import ATTACKER, VICTIM, client_form, issuer, post

__all__ = ["issuer"]  # the throttle's fixture: an issuer behind a trusted proxy

REPEAT = 3


def _granted(issuer, path, form, **kwargs):
    """``form`` answered ``REPEAT`` times at ``path``: from the second on, from memory."""
    answers = [issuer.post(path, form, **kwargs) for _ in range(REPEAT)]
    assert [a.status_code for a in answers] == [200] * REPEAT, answers[-1].text
    return [a.json() for a in answers]


def _form(client):
    client_id, secret_ = client
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret_}


def test_remembered_requests_get_tokens_of_their_own_with_the_same_claims(start_issuer):
    issuer = start_issuer(
        policy("orders-jwt", "JWT"),
        role("read", "ApiProxy/orders", scope="orders.read"),
    )
    client_id, client_secret = issuer.proxy_key("ApiProxy", "orders")
    form = {"grant_type": "client_credentials", "scope": "orders.read"}
    bodies = _granted(issuer, "/auth/jwt", form, auth=(client_id, client_secret))
    claims = [verified_claims(issuer, b["access_token"]) for b in bodies]
    assert len({c["jti"] for c in claims}) == REPEAT, "a token handed out twice"
    fixed = ("iss", "sub", "aud", "client_id", "scope")
    assert all({k: c.get(k) for k in fixed} == {k: claims[0].get(k) for k in fixed} for c in claims)
    assert claims[0]["sub"] == client_id
    assert all(b.keys() == bodies[0].keys() for b in bodies)


def test_a_remembered_request_writes_the_audit_line_of_the_whole_check(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("orders-jwt", "JWT"))
    client_id, client_secret = show_key(manifests, state, "ApiProxy/orders")
    with serving(manifests, state) as (url, process):
        for _ in range(REPEAT):
            answer = requests.post(
                url + "/auth/jwt",
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
                timeout=5,
            )
            assert answer.status_code == 200, answer.text
        process.terminate()
        process.wait(timeout=15)
        lines = [line for line in audit_lines(process) if line["endpoint"] == "/auth/jwt"]
    assert len(lines) == REPEAT
    volatile = ("time", "duration_ms", "jti")
    same = [{k: v for k, v in line.items() if k not in volatile} for line in lines]
    assert same == [same[0]] * REPEAT
    assert same[0]["result"] == "issued"
    assert same[0]["secret"] == "current"
    assert len({line["jti"] for line in lines}) == REPEAT


def test_a_wrong_secret_after_a_remembered_grant_is_refused_and_counted(issuer):
    for _ in range(REPEAT):
        assert post(issuer, ATTACKER, **client_form(issuer)).status_code == 200
    for _ in range(REPEAT):  # the throttle fixture blocks after three failures
        assert post(issuer, ATTACKER, **client_form(issuer, "wrong")).status_code == 401
    blocked = post(issuer, ATTACKER, **client_form(issuer))
    assert blocked.status_code == 429, "a remembered grant skipped the throttle's block"
    assert post(issuer, VICTIM, **client_form(issuer)).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        lambda form: {**form, "client_secret": form["client_secret"] + "x"},
        lambda form: {**form, "client_secret": form["client_secret"][:-1]},
        lambda form: {**form, "client_secret": form["client_secret"].upper()},
        lambda form: {**form, "client_secret": ""},
        lambda form: {k: v for k, v in form.items() if k != "client_secret"},
    ],
    ids=["longer", "shorter", "case", "empty", "none"],
)
def test_a_request_that_differs_from_a_remembered_one_takes_the_whole_check(start_issuer, change):
    issuer = start_issuer(policy("orders-jwt", "JWT"))
    form = _form(issuer.proxy_key("ApiProxy", "orders"))
    _granted(issuer, "/auth/jwt", form)
    refused = issuer.post("/auth/jwt", change(form))
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"


def test_a_basic_header_that_is_not_utf8_is_refused_not_crashed(start_issuer):
    issuer = start_issuer(policy("orders-jwt", "JWT"))
    client_id, client_secret = issuer.proxy_key("ApiProxy", "orders")
    _granted(
        issuer, "/auth/jwt", {"grant_type": "client_credentials"}, auth=(client_id, client_secret)
    )
    host, port = issuer.url.removeprefix("http://").split(":")
    body = b"grant_type=client_credentials"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Authorization: Basic \xff\xfe\x80\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    status = int(received.split()[1])
    assert status in (400, 401), received[:200]


def test_a_changed_secret_stops_the_remembered_old_one(start_issuer):
    documents = [
        policy("acl", "JWT", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
    ]
    issuer = start_issuer(
        *documents, secret("svc-credentials", client_id="svc", client_secret="old-secret")
    )
    old = _form(("svc", "old-secret"))
    _granted(issuer, "/credential/jwt", old)
    write_manifests(
        issuer.source.folder.root,
        *documents,
        secret("svc-credentials", client_id="svc", client_secret="new-secret"),
    )
    issuer.reload()
    refused = issuer.post("/credential/jwt", old)
    assert refused.status_code == 401, refused.text
    _granted(issuer, "/credential/jwt", _form(("svc", "new-secret")))


def test_a_previous_secret_is_not_remembered_past_its_expiry(start_issuer):
    later = datetime.now(UTC) + timedelta(minutes=10)
    issuer = start_issuer(
        policy("acl", "JWT", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        rotated_secret("svc-credentials", "svc", "new-secret", "old-secret", later),
    )
    old = _form(("svc", "old-secret"))
    _granted(issuer, "/credential/jwt", old)
    issuer.clock.advance(11 * 60)
    refused = issuer.post("/credential/jwt", old)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"


BEFORE_THE_END = pytest.mark.parametrize(
    "before_end", [300, 0.002, 0.0009, 0.0005], ids=["early", "2ms", "0.9ms", "0.5ms"]
)
"""How long before an ``expiresAt`` the grant is remembered: early, or in its last
milliseconds (a service polling fast enough always lands there)."""


@BEFORE_THE_END
def test_a_credential_expiring_while_remembered_gets_no_more_tokens(start_issuer, before_end):
    expires = float(int(time.time()) + 600)
    issuer = start_issuer(
        policy("acl", "JWT", management="ACL"),
        credential("svc", ["ApiProxy/orders"], expiresAt=iso(expires)),
    )
    form = _form(issuer.credential("svc"))
    issuer.clock.now = expires - before_end
    _granted(issuer, "/credential/jwt", form)
    issuer.clock.now = expires + 86400
    refused = issuer.post("/credential/jwt", form)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"


@BEFORE_THE_END
def test_an_acl_entry_ending_while_remembered_leaves_the_audience(start_issuer, before_end):
    ends = float(int(time.time()) + 600)
    issuer = orders_entry_ending(start_issuer, ends)
    form = _form(issuer.credential("svc"))
    issuer.clock.now = ends - before_end
    before = _granted(issuer, "/credential/jwt", form)[-1]
    assert (
        "ApiProxy/orders" in verified_claims(issuer, before["access_token"], "/credential")["aud"]
    )
    issuer.clock.now = ends + 86400
    after = issuer.post("/credential/jwt", form)
    assert after.status_code == 200, after.text
    audience = verified_claims(issuer, after.json()["access_token"], "/credential")["aud"]
    assert "ApiProxy/orders" not in audience
    assert "ApiProxy/billing" in audience


def test_a_role_withdrawn_while_remembered_is_no_longer_granted(start_issuer):
    documents = [policy("acl", "JWT", management="ACL"), credential("svc", ["ApiProxy/orders"])]
    reader = role("read", "Credential/svc", "ApiProxy/orders", scope="orders.read")
    issuer = start_issuer(*documents, reader)
    form = {**_form(issuer.credential("svc")), "scope": "orders.read"}
    assert _granted(issuer, "/credential/jwt", form)[-1]["scope"] == "orders.read"
    write_manifests(issuer.source.folder.root, *documents)
    issuer.reload()
    after = issuer.post("/credential/jwt", form)
    assert "orders.read" not in after.json().get("scope", ""), after.text


def test_a_disabled_credential_is_refused_though_remembered(start_issuer):
    documents = [policy("acl", "JWT", management="ACL")]
    issuer = start_issuer(*documents, credential("svc", ["ApiProxy/orders"]))
    form = _form(issuer.credential("svc"))
    _granted(issuer, "/credential/jwt", form)
    write_manifests(
        issuer.source.folder.root,
        *documents,
        credential("svc", ["ApiProxy/orders"], disabled=True),
    )
    issuer.reload()
    assert issuer.post("/credential/jwt", form).status_code == 401


def test_a_dpop_header_on_a_remembered_request_is_checked(start_issuer):
    issuer = start_issuer(policy("orders-jwt", "JWT"))
    form = _form(issuer.proxy_key("ApiProxy", "orders"))
    _granted(issuer, "/auth/jwt", form)
    refused = issuer.post("/auth/jwt", form, headers={"DPoP": "not-a-proof"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_dpop_proof"


def test_opaque_tokens_of_a_remembered_request_are_each_stored(start_issuer):
    issuer = start_issuer(policy("orders-oauth2", "OAuth2"))
    client = issuer.proxy_key("ApiProxy", "orders")
    form = _form(client)
    tokens = [b["access_token"] for b in _granted(issuer, "/auth/token", form)]
    assert len(set(tokens)) == REPEAT
    for token in tokens:
        answer = issuer.post("/auth/introspect", {"token": token, **form}).json()
        assert answer["active"] is True, answer


def test_a_body_that_arrives_across_a_reload_is_decided_under_the_new_configuration(
    start_issuer,
):
    documents = [policy("acl", "JWT", management="ACL")]
    issuer = start_issuer(*documents, credential("svc", ["ApiProxy/orders"]))
    client_id, client_secret = issuer.credential("svc")
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}"
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /credential/jwt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5].encode()
        )
        write_manifests(
            issuer.source.folder.root,
            *documents,
            credential("svc", ["ApiProxy/orders"], disabled=True),
        )
        issuer.reload()
        conn.sendall(body[5:].encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert int(received.split()[1]) == 401, received[:300]
