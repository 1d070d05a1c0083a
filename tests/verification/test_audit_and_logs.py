"""Audit lines, and no secret, password or token in anything the server logs (docs/contract.md)."""

import json
import signal

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role, user_pool
from tests.support.process import gatekey, serving

PASSWORD = "wonderland-Pa55"


def test_a_full_session_logs_no_secret_and_audits_every_request(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(
        manifests,
        policy(
            "jwt",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy(
            "op",
            "OAuth2",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy("shop", "OAuth2", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        credential(
            "svc",
            ["ProxyGroup/shop"],
            claims=[
                {
                    "key": "pin",
                    "value": "secret-pin-4242",
                    "secret": True,
                    "includeInTokenResponse": True,
                }
            ],
        ),
        user_pool("users", {"alice": PASSWORD}),
        role("r", "User/alice", scope="orders.read"),
    )
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    svc = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "Credential/svc"
        ).stdout
    )
    secrets = {key["client_secret"], svc["client_secret"], PASSWORD, "secret-pin-4242"}
    with serving(manifests, state) as (url, process):

        def post(path, **form):
            response = requests.post(url + path, data=form, timeout=5)
            for value in (
                response.json().values()
                if response.headers.get("Content-Type", "").startswith("application/json")
                else ()
            ):
                if isinstance(value, str) and value.startswith(("gk", "ey")):
                    secrets.add(value)
            return response

        cc = {"client_id": key["client_id"], "client_secret": key["client_secret"]}
        jwt = post("/auth/jwt", grant_type="client_credentials", **cc).json()
        post(
            "/auth/jwt",
            grant_type="refresh_token",
            client_id=key["client_id"],
            client_secret="-",
            refresh_token=jwt["refresh_token"],
        )
        post(
            "/auth/jwt",
            grant_type="refresh_token",
            client_id=key["client_id"],
            client_secret="-",
            refresh_token=jwt["refresh_token"],
        )  # reuse
        pw = post(
            "/auth/token",
            grant_type="password",
            client_id=key["client_id"],
            client_secret="-",
            username="alice",
            password=PASSWORD,
        ).json()
        post(
            "/auth/token",
            grant_type="password",
            client_id=key["client_id"],
            client_secret="-",
            username="alice",
            password=PASSWORD + "x",
        )
        post(
            "/auth/token",
            grant_type="client_credentials",
            client_id=key["client_id"],
            client_secret=key["client_secret"] + "x",
        )
        post(
            "/credential/token",
            grant_type="client_credentials",
            client_id=svc["client_id"],
            client_secret=svc["client_secret"],
        )
        post("/auth/introspect", token=pw["access_token"], **cc)
        post("/auth/revoke", token=pw["refresh_token"], **cc)
        requests.post(
            url + "/auth/jwt/regenerate",
            data=cc,
            timeout=5,
            headers={"Authorization": "Bearer " + jwt["access_token"]},
        )
        requests.get(
            url + "/authz",
            timeout=5,
            headers={"Authorization": "Bearer " + jwt["access_token"], "X-Gatekey-Proxy": "orders"},
        )
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        stdout, stderr = process.output()
    logged = stdout + stderr
    for secret in secrets:
        assert secret not in logged, "a secret, password or token reached the log"
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert len(lines) == 10  # one per token, introspection, revocation, regeneration request
    assert {line["endpoint"] for line in lines} >= {
        "/auth/jwt",
        "/auth/token",
        "/credential/token",
        "/auth/introspect",
        "/auth/revoke",
        "/auth/jwt/regenerate",
    }
    password_line = next(
        line for line in lines if line["grant"] == "password" and line["result"] == "issued"
    )
    assert password_line["principal"] == "alice"
    assert password_line["client_id"] == key["client_id"]
    assert {"time", "scope", "error", "duration_ms", "source", "status"} <= set(password_line)
    errors = {line["error"] for line in lines}
    assert {"invalid_grant", "invalid_client"} <= errors
