"""Two issuer processes on one Redis behave as one issuer (docs/reference.md, "Replicas")."""

import concurrent.futures
import json
import signal
from contextlib import ExitStack

import pytest
import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy, role, user_pool
from tests.support.process import eventually, gatekey, serving


@pytest.fixture
def replicas(tmp_path, redis_instance):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(
        manifests,
        policy(
            "op",
            "OAuth2",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            token={"refresh": {"enabled": True}},
        ),
        policy("jwt", "JWT", token={"ttl": "10m"}),
        user_pool("users", {"alice": "wonderland"}),
        role("r", "ApiProxy/orders", scope="read"),
    )
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    with ExitStack() as stack:
        # Replicas behind one Service share the issuer URL (the iss of their JWTs).
        shared = ("--store", redis_instance.url, "--issuer-url", "http://gatekey.test")
        a, _ = stack.enter_context(serving(manifests, state, *shared))
        b, _ = stack.enter_context(serving(manifests, state, *shared))
        yield a, b, (key["client_id"], key["client_secret"]), redis_instance


def post(url, path, client, **form):
    client_id, secret = client
    return requests.post(
        url + path, data={"client_id": client_id, "client_secret": secret, **form}, timeout=10
    )


def authz(url, token):
    return requests.get(
        url + "/authz",
        timeout=5,
        headers={"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": "orders"},
    ).status_code


def test_refresh_on_b_rotates_what_a_issued(replicas):
    a, b, client, _ = replicas
    first = post(a, "/auth/token", client, grant_type="client_credentials").json()
    on_b = post(
        b, "/auth/token", client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert on_b.status_code == 200, on_b.text
    replay = post(
        a, "/auth/token", client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert replay.json()["error"] == "invalid_grant"


def test_opaque_token_from_a_verifies_on_b(replicas):
    a, b, client, _ = replicas
    token = post(a, "/auth/token", client, grant_type="client_credentials").json()["access_token"]
    assert authz(b, token) == 200
    post(a, "/auth/revoke", client, token=token)
    assert authz(b, token) == 401


def test_jwt_revoked_on_a_is_refused_on_b_cached_path(replicas):
    a, b, client, _ = replicas
    token = post(a, "/auth/jwt", client, grant_type="client_credentials").json()["access_token"]
    assert authz(b, token) == 200  # now in B's verification cache
    assert post(a, "/auth/revoke", client, token=token).status_code == 200
    eventually(lambda: authz(b, token) == 401, timeout=1.0)


def test_two_concurrent_refreshes_yield_exactly_one_success(replicas):
    a, b, client, _ = replicas
    refresh = post(a, "/auth/token", client, grant_type="client_credentials").json()[
        "refresh_token"
    ]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda url: (
                    post(
                        url,
                        "/auth/token",
                        client,
                        grant_type="refresh_token",
                        refresh_token=refresh,
                    ).status_code
                ),
                [a, b, a, b],
            )
        )
    assert sorted(results) == [200, 400, 400, 400]


def test_failure_counter_is_shared(tmp_path, redis_instance):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("jwt", "JWT"))
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    env_limits = {"GATEKEY_BLOCK_AFTER": "4", "GATEKEY_SLOW_AFTER": "100"}
    with ExitStack() as stack:
        a, _ = stack.enter_context(
            serving(manifests, state, "--store", redis_instance.url, env=env_limits)
        )
        b, _ = stack.enter_context(
            serving(manifests, state, "--store", redis_instance.url, env=env_limits)
        )
        bad = (key["client_id"], "wrong")
        statuses = [
            post(url, "/auth/jwt", bad, grant_type="client_credentials").status_code
            for url in (a, b, a, b)
        ]
        assert statuses == [401, 401, 401, 401]
        good = (key["client_id"], key["client_secret"])
        for url in (a, b):  # the block reached both replicas
            refused = eventually(lambda url=url: _refused(url, good), timeout=1.0)
            assert int(refused.headers["Retry-After"]) > 0


def _refused(url, client):
    """The response if it is a 429, else None (a Response is falsy for 4xx)."""
    response = post(url, "/auth/jwt", client, grant_type="client_credentials")
    return response if response.status_code == 429 else None


def test_redis_outage_and_recovery(replicas):
    a, b, client, server = replicas
    first = post(a, "/auth/token", client, grant_type="client_credentials").json()
    server.stop()
    down = post(
        a, "/auth/token", client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert down.status_code == 503
    assert down.json()["error"] == "temporarily_unavailable"
    jwt = post(b, "/auth/jwt", client, grant_type="client_credentials")
    assert jwt.status_code == 200  # a JWT without refresh needs no store
    assert requests.get(a + "/readyz", timeout=5).status_code == 200
    server.start()
    recovered = eventually(
        lambda: (
            (
                r := post(
                    b,
                    "/auth/token",
                    client,
                    grant_type="refresh_token",
                    refresh_token=first["refresh_token"],
                )
            ).status_code
            != 503
            and r
        ),
        timeout=10.0,
    )
    assert recovered.status_code == 200, recovered.text  # nothing stored was lost


def test_workers_share_one_port(tmp_path, redis_instance):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("op", "OAuth2"))
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    client = (key["client_id"], key["client_secret"])
    with serving(manifests, state, "--store", redis_instance.url, "--workers", "2") as (url, proc):
        tokens = [
            post(url, "/auth/token", client, grant_type="client_credentials") for _ in range(20)
        ]
        assert {t.status_code for t in tokens} == {200}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
