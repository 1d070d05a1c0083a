"""Issuer processes sharing one SQLite file behave as one issuer, without Redis
(docs/reference.md, "Workers and replicas"): the contract of ``test_two_replicas.py``,
against ``gatekey serve --workers 2`` (each request sent to a chosen worker over a
connection it accepted) and against two ``gatekey serve`` processes given the same
``--store sqlite:///...`` file. Revocations and blocks travel through the file's events
table; every process reads it every 0.1 s, and the tests give it 1 s."""

import concurrent.futures
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import eventually, gatekey, serving
from tests.support.workers import WORKERS_READY, Door, Response, doors, share_sqlite, sqlite_peer

HOPS = 1.0
"""How long a revocation or a block may take to reach another process (stated: 0.1 s)."""


class Url:
    """Requests to one ``gatekey serve`` process, a fresh connection each."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Response:
        answer = requests.request(method, self.url + path, data=form, headers=headers, timeout=10)
        return Response(answer.status_code, dict(answer.headers), answer.content)


Process = Door | Url


@dataclass
class World:
    a: Process
    b: Process
    client: tuple[str, str]
    more: Callable[[], tuple[Process, Process]]
    """Two more ways in, to A and to B (for racers that need a connection each)."""


def _key(manifests: Path, state: Path) -> tuple[str, str]:
    shown = gatekey(
        "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
    )
    key = json.loads(shown.stdout)
    return key["client_id"], key["client_secret"]


@pytest.fixture(scope="module", params=["workers", "two-serves"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[tuple[str, str], Callable[[], tuple[Process, Process]]]]:
    """Started once per setup: its client, and a way to get a way in to A and to B."""
    folder = tmp_path_factory.mktemp(request.param)
    manifests, state = folder / "m", folder / "state"
    write_manifests(
        manifests,
        policy("op", "OAuth2", token={"refresh": {"enabled": True}}),
        policy("jwt", "JWT", token={"ttl": "10m"}),
    )
    client = _key(manifests, state)
    # Each block test fails from its own address (X-Forwarded-For through a trusted
    # loopback), so that its block leaves the other tests alone.
    trust = ("--trusted-proxies", "127.0.0.0/8")
    limits = {"GATEKEY_BLOCK_AFTER": "4", "GATEKEY_SLOW_AFTER": "100"}
    with ExitStack() as stack:
        if request.param == "workers":
            url, proc = stack.enter_context(
                serving(
                    manifests,
                    state,
                    "--workers",
                    "2",
                    *trust,
                    env=limits,
                    ready_within=WORKERS_READY,
                )
            )
            port = int(url.rsplit(":", 1)[1])

            def more() -> tuple[Process, Process]:
                first, second = doors(proc.pid, port, 2)
                return first, second

        else:
            urls = share_sqlite(stack, manifests, state, *trust, env=limits)

            def more() -> tuple[Process, Process]:
                return Url(urls[0]), Url(urls[1])

        yield client, more


@pytest.fixture
def world(servers) -> World:
    client, more = servers
    a, b = more()
    return World(a, b, client, more)


def post(
    to: Process, path: str, client: tuple[str, str], via: str = "127.0.0.1", **form: str
) -> Response:
    """A form POST with client_secret_post, from address ``via`` (X-Forwarded-For)."""
    form = {"client_id": client[0], "client_secret": client[1], **form}
    return to.request("POST", path, form, **{"X-Forwarded-For": via})


def authz(to: Process, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": "orders"}
    return to.request("GET", "/authz", **headers).status


def test_the_two_ways_in_reach_two_processes(world):
    if isinstance(world.a, Door):
        assert world.a.pid != world.b.pid
    else:
        assert world.a.url != world.b.url


def test_refresh_on_b_rotates_what_a_issued(world):
    first = post(world.a, "/auth/token", world.client, grant_type="client_credentials").json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    on_b = post(world.b, "/auth/token", world.client, **refresh)
    assert on_b.status == 200, on_b.body
    replay = post(world.a, "/auth/token", world.client, **refresh)
    assert replay.json()["error"] == "invalid_grant"
    # The reuse revoked the chain: B's answer is dead on both.
    assert authz(world.a, on_b.json()["access_token"]) == 401
    assert authz(world.b, on_b.json()["access_token"]) == 401


def test_opaque_token_from_a_verifies_on_b_until_revoked_on_a(world):
    token = post(world.a, "/auth/token", world.client, grant_type="client_credentials").json()
    assert authz(world.b, token["access_token"]) == 200
    assert post(world.a, "/auth/revoke", world.client, token=token["access_token"]).status == 200
    assert authz(world.b, token["access_token"]) == 401


def test_jwt_revoked_on_a_is_refused_on_b_within_the_bound(world):
    token = post(world.a, "/auth/jwt", world.client, grant_type="client_credentials").json()
    jwt = token["access_token"]
    assert authz(world.b, jwt) == 200  # now in B's verification cache
    assert authz(world.a, jwt) == 200
    assert post(world.a, "/auth/revoke", world.client, token=jwt).status == 200
    assert authz(world.a, jwt) == 401  # at once where it was revoked
    eventually(lambda: authz(world.b, jwt) == 401, timeout=HOPS)


def test_concurrent_refreshes_across_processes_yield_exactly_one_success(world):
    first = post(world.a, "/auth/token", world.client, grant_type="client_credentials").json()
    racers = [world.a, world.b, *world.more()]
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    with concurrent.futures.ThreadPoolExecutor(len(racers)) as pool:
        answers = list(
            pool.map(lambda to: post(to, "/auth/token", world.client, **refresh), racers)
        )
    assert sorted(a.status for a in answers) == [200, 400, 400, 400]
    winner = next(a.json() for a in answers if a.status == 200)
    # Once a loser was told of the reuse, no branch of the chain is alive anywhere.
    again = {"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]}
    for to in (world.a, world.b):
        assert post(to, "/auth/token", world.client, **again).status == 400
        assert authz(to, winner["access_token"]) == 401


def test_a_block_armed_on_b_holds_on_a_within_the_bound(world):
    bad, attacker = (world.client[0], "wrong"), "192.0.2.66"
    statuses = [
        post(to, "/auth/jwt", bad, attacker, grant_type="client_credentials").status
        for to in (world.a, world.b, world.a, world.b)
    ]
    assert statuses == [401, 401, 401, 401]  # the count is shared: the 4th, on B, blocks

    def refused(to: Process) -> Response | None:
        answer = post(to, "/auth/jwt", world.client, attacker, grant_type="client_credentials")
        return answer if answer.status == 429 else None

    for to in (world.b, world.a):
        answer = eventually(lambda to=to: refused(to), timeout=HOPS)
        assert int(answer.headers["Retry-After"]) > 0
        # The owner, from its own address, is not locked out.
        assert post(to, "/auth/jwt", world.client, grant_type="client_credentials").status == 200


def test_a_process_started_later_loads_the_revocations_and_blocks(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("jwt", "JWT", token={"ttl": "10m"}))
    client = _key(manifests, state)
    limits = {"GATEKEY_BLOCK_AFTER": "2", "GATEKEY_SLOW_AFTER": "100"}
    bad = (client[0], "wrong")
    with ExitStack() as stack:
        first = Url(sqlite_peer(stack, manifests, state, "", env=limits))
        jwt = post(first, "/auth/jwt", client, grant_type="client_credentials").json()
        assert post(first, "/auth/revoke", client, token=jwt["access_token"]).status == 200
        for _ in range(2):
            assert post(first, "/auth/jwt", bad, grant_type="client_credentials").status == 401
        later = Url(sqlite_peer(stack, manifests, state, "later", env=limits))
        assert authz(later, jwt["access_token"]) == 401
        assert post(later, "/auth/jwt", client, grant_type="client_credentials").status == 429


def test_workers_share_one_port_and_stop_on_sigterm(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("op", "OAuth2"))
    client = _key(manifests, state)
    with serving(manifests, state, "--workers", "2", ready_within=WORKERS_READY) as (url, proc):
        tokens = [
            post(Url(url), "/auth/token", client, grant_type="client_credentials")
            for _ in range(20)
        ]
        assert {t.status for t in tokens} == {200}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert (state / "tokens.db").exists()  # the SQLite default, no Redis anywhere


def test_workers_refuse_an_in_memory_store(tmp_path):
    manifests = tmp_path / "m"
    write_manifests(manifests, policy("op", "OAuth2"))
    result = gatekey(
        "serve",
        "--manifests",
        str(manifests),
        "--state-dir",
        str(tmp_path / "s"),
        "--workers",
        "2",
        "--store",
        "sqlite:///:memory:",
    )
    assert result.returncode != 0
    assert "cannot share an in-memory store" in result.stderr
