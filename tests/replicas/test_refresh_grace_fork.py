"""Trying to fork a refresh-token chain through ``refresh.reuseGracePeriod``, from outside.

The grace period lets a client present a just-rotated refresh token again. An attacker
holding the token A and its answer B sends, all at once, retries of A (each one replaces
B's generation) and uses of B (each one rotates it, or is itself a retry within its own
grace period), split between the replicas. However the store orders them, at most one
answer may stay live: a second live branch is a fork, two holders refreshing apart
forever without a reuse ever being noticed. SQLite in one process; Redis behind two
replicas. (The rule in docs/security.md: once an answer was used, presenting the token
it answered is a reuse; a replaced answer's token is a reuse too.)
"""

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import gatekey, serving
from tests.support.redis_server import redis_server

PATH = "/auth/token"
ROUNDS = 6
RACERS = 6  # of each: retries of A, uses of B


@dataclass
class World:
    urls: list[str]
    client: tuple[str, str]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"fork-{request.param}")
    manifests, state = folder / "m", folder / "state"
    refresh = {"ttl": "10m", "refresh": {"enabled": True, "ttl": "1h", "reuseGracePeriod": "1m"}}
    write_manifests(manifests, policy("po", "OAuth2", token=refresh))
    shown = gatekey(
        "show-key", "--manifests", str(manifests), "--state-dir", str(state), "ApiProxy/orders"
    )
    values = json.loads(shown.stdout)
    client = values["client_id"], values["client_secret"]
    with ExitStack() as stack:
        if request.param == "sqlite":
            urls = [stack.enter_context(serving(manifests, state))[0]]
        else:
            (folder / "redis").mkdir()
            server = stack.enter_context(redis_server(folder / "redis"))
            shared = ("--store", server.url, "--issuer-url", "http://gatekey.test")
            urls = [stack.enter_context(serving(manifests, state, *shared))[0] for _ in range(2)]
        yield World(urls, client)


async def _post(
    session: aiohttp.ClientSession, world: World, form: dict[str, str], replica: int
) -> tuple[int, dict[str, Any]]:
    client_id, secret = world.client
    url = world.urls[replica % len(world.urls)] + PATH
    data = {"client_id": client_id, "client_secret": secret, **form}
    async with session.post(url, data=data) as response:
        return response.status, await response.json()


async def _live(session: aiohttp.ClientSession, world: World, access_token: str) -> bool:
    """Whether any replica lets the token through /authz (a replica hears of a denied JWT
    over pub/sub: ask for a while before calling it live; a dead one answers at once)."""
    headers = {"Authorization": f"Bearer {access_token}", "X-Gatekey-Proxy": "orders"}
    for url in world.urls:
        for _ in range(100):
            async with session.get(url + "/authz", headers=headers) as response:
                status = response.status
            if status == 401:
                break
            await asyncio.sleep(0.05)
        if status == 200:
            return True
    return False


async def _round(world: World) -> tuple[int, list[int]]:
    async with aiohttp.ClientSession() as session:
        status, first = await _post(session, world, {"grant_type": "client_credentials"}, 0)
        assert status == 200, first
        a = first["refresh_token"]
        status, b = await _post(
            session, world, {"grant_type": "refresh_token", "refresh_token": a}, 0
        )
        assert status == 200, b
        racing = [
            _post(session, world, {"grant_type": "refresh_token", "refresh_token": token}, n)
            for n in range(RACERS)
            for token in (a, b["refresh_token"])
        ]
        answers = await asyncio.gather(*racing)
        issued = [body for status, body in answers if status == 200]
        assert all(
            status == 200 or body.get("error") == "invalid_grant" for status, body in answers
        ), answers
        candidates = [first, b, *issued]
        live = [await _live(session, world, body["access_token"]) for body in candidates]
        return sum(live), [status for status, _ in answers]


def test_racing_retries_and_uses_never_leave_two_live_branches(world: World) -> None:
    outcomes = [asyncio.run(_round(world)) for _ in range(ROUNDS)]
    # Whatever the order, one request of the other kind comes after the first of either:
    # a B after A's retry replaced it, or an A after B was used. Both are reuses, so the
    # whole chain ends revoked: no branch at all, let alone two.
    assert [live for live, _ in outcomes] == [0] * ROUNDS, outcomes
    assert all(200 in statuses for _, statuses in outcomes), outcomes
