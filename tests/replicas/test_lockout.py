"""Blocks of the brute-force protection live in the store: they survive a restart of the
issuer on the same SQLite state, reach every replica on one Redis (a replica started
later included), and arm once a count reaches or passes the threshold. Real ``gatekey
serve`` processes; addresses come from ``X-Forwarded-For`` through a trusted loopback."""

import json
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import eventually, gatekey, serving

ATTACKER, VICTIM = "192.0.2.66", "198.51.100.7"
TRUST = ("--trusted-proxies", "127.0.0.0/8")
QUIET = {"GATEKEY_SLOW_AFTER": "100"}


def world(tmp_path: Path) -> tuple[Path, Path, tuple[str, str]]:
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("jwt", "JWT"))
    key = json.loads(
        gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
        ).stdout
    )
    return manifests, state, (key["client_id"], key["client_secret"])


def post(url: str, client: tuple[str, str], via: str) -> requests.Response:
    client_id, secret = client
    return requests.post(
        url + "/auth/jwt",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers={"X-Forwarded-For": via},
        timeout=10,
    )


def fail(url: str, client: tuple[str, str], times: int) -> None:
    for _ in range(times):
        assert post(url, (client[0], "wrong"), ATTACKER).status_code == 401


def test_a_restart_on_the_same_sqlite_state_keeps_the_block(tmp_path):
    manifests, state, client = world(tmp_path)
    limits = QUIET | {"GATEKEY_BLOCK_AFTER": "3"}
    with serving(manifests, state, *TRUST, env=limits) as (url, _):
        fail(url, client, 3)
        assert post(url, client, ATTACKER).status_code == 429
    with serving(manifests, state, *TRUST, env=limits) as (url, _):
        assert post(url, client, ATTACKER).status_code == 429
        assert post(url, client, VICTIM).status_code == 200


def test_a_count_past_the_threshold_arms_the_block(tmp_path):
    manifests, state, client = world(tmp_path)
    with serving(manifests, state, *TRUST, env=QUIET | {"GATEKEY_BLOCK_AFTER": "10"}) as (url, _):
        fail(url, client, 5)
        assert post(url, client, ATTACKER).status_code == 200  # not blocked at 5 of 10
        fail(url, client, 5)  # a success cleared the count: 5 again
    # Restarted with a lower threshold, the count (5) is already past it: the next
    # failure (6) arms the block, although no count ever equals the threshold.
    with serving(manifests, state, *TRUST, env=QUIET | {"GATEKEY_BLOCK_AFTER": "3"}) as (url, _):
        assert post(url, (client[0], "wrong"), ATTACKER).status_code == 401
        assert post(url, client, ATTACKER).status_code == 429
        assert post(url, client, VICTIM).status_code == 200


def test_replicas_share_blocks_through_redis(tmp_path, redis_instance):
    manifests, state, client = world(tmp_path)
    shared = ("--store", redis_instance.url, *TRUST)
    limits = QUIET | {"GATEKEY_BLOCK_AFTER": "4"}
    with ExitStack() as stack:
        a, _ = stack.enter_context(serving(manifests, state, *shared, env=limits))
        b, _ = stack.enter_context(serving(manifests, state, *shared, env=limits))
        for url in (a, b, a, b):  # the count is shared too
            assert post(url, (client[0], "wrong"), ATTACKER).status_code == 401
        for url in (a, b):
            refused = eventually(
                lambda url=url: (r := post(url, client, ATTACKER)).status_code == 429 and r,
                timeout=1.0,
            )
            assert int(refused.headers["Retry-After"]) > 0
            assert post(url, client, VICTIM).status_code == 200
        # A replica started after the block was published reads it from the store.
        c, _ = stack.enter_context(serving(manifests, state, *shared, env=limits))
        assert post(c, client, ATTACKER).status_code == 429
        assert post(c, client, VICTIM).status_code == 200
