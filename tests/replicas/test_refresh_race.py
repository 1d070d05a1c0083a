"""Refresh-token reuse under a race (RFC 9700 §4.14), from outside over HTTP.

Many clients present one refresh token at once. Exactly one wins; every other one is
told the token was already used and the chain is revoked. Once that is reported, every
token of the chain is dead, the winner's included: its new refresh token is refused and
its access token (opaque or JWT) no longer passes ``/authz``. Both stores (SQLite in one
process; one SQLite file under ``--workers 2`` or two serves; Redis behind two replicas,
the racers split between them), both endpoint
families, both token types, 2-way and 20-way, many rounds: before rotation and chain
revocation were one atomic step, about half the rounds left the winner's tokens alive.
"""

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import gatekey
from tests.support.workers import STORES, issuers

# (path, proxy the token is for, who the client is)
ENDPOINTS = {
    "/auth/jwt": ("orders", "proxy-key"),
    "/auth/token": ("orders", "proxy-key"),
    "/credential/jwt": ("payments", "credential"),
    "/credential/token": ("payments", "credential"),
}
WAYS_ROUNDS = [(2, 25), (20, 5)]


@dataclass
class World:
    urls: list[str]
    clients: dict[str, tuple[str, str]]


def _manifests(folder: Path) -> None:
    refresh = {"ttl": "10m", "refresh": {"enabled": True, "ttl": "1h"}}
    write_manifests(
        folder,
        policy("pj", "JWT", token=refresh),
        policy("po", "OAuth2", token=refresh),
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        policy("ao", "OAuth2", "ApiProxy/payments", management="ACL"),
        credential(
            "billing",
            ["ApiProxy/payments"],
            token={"grantTypes": ["client_credentials"], **refresh},
        ),
    )


def _clients(manifests: Path, state: Path) -> dict[str, tuple[str, str]]:
    def key(target: str) -> tuple[str, str]:
        shown = gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), target
        )
        values = json.loads(shown.stdout)
        return values["client_id"], values["client_secret"]

    return {"proxy-key": key("ApiProxy/orders"), "credential": key("Credential/billing")}


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Issuers set up once per store: each round starts its own chain."""
    folder = tmp_path_factory.mktemp(request.param)
    manifests, state = folder / "m", folder / "state"
    _manifests(manifests)
    clients = _clients(manifests, state)
    with ExitStack() as stack:
        urls = issuers(stack, request.param, folder, manifests, state)
        yield World(urls, clients)


async def _race(world: World, path: str, ways: int) -> list[str]:
    """One round; what is wrong with it (an empty list when all is well)."""
    proxy, who = ENDPOINTS[path]
    client_id, secret = world.clients[who]
    problems: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def post(url: str, form: dict[str, str]) -> tuple[int, dict[str, str]]:
            form = {"client_id": client_id, "client_secret": secret, **form}
            async with session.post(url + path, data=form) as response:
                return response.status, await response.json()

        async def authz(url: str, token: str) -> int:
            headers = {"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": proxy}
            async with session.get(url + "/authz", headers=headers) as response:
                return response.status

        status, first = await post(world.urls[0], {"grant_type": "client_credentials"})
        assert status == 200, first
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        urls = [world.urls[n % len(world.urls)] for n in range(ways)]
        results = await asyncio.gather(*(post(url, form) for url in urls))
        winners = [body for status, body in results if status == 200]
        losers = [body for status, body in results if status != 200]
        if len(winners) != 1:
            problems.append(f"{len(winners)} winners")
        if any(body.get("error") != "invalid_grant" for body in losers):
            problems.append(f"unexpected refusals {losers}")
        if not any("chain is revoked" in body.get("error_description", "") for body in losers):
            problems.append(f"no loser reported the chain revoked: {losers}")
        for body in winners:
            again = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
            for url in world.urls:
                status, _ = await post(url, again)
                if status == 200:
                    problems.append(f"the winner's refresh token still works on {url}")
            # Every replica refuses the winner's access token. A JWT is refused through the
            # deny list, which other replicas hear of over pub/sub: give them a moment.
            for url in world.urls:
                for _ in range(40):
                    status = await authz(url, body["access_token"])
                    if status == 401:
                        break
                    await asyncio.sleep(0.025)
                if status != 401:
                    problems.append(f"the winner's access token passes /authz on {url}: {status}")
    return problems


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_a_reported_reuse_kills_every_token_of_the_chain(world: World, path: str) -> None:
    failures: list[str] = []
    for ways, rounds in WAYS_ROUNDS:
        for n in range(rounds):
            failures += [
                f"{ways}-way round {n}: {p}" for p in asyncio.run(_race(world, path, ways))
            ]
    assert failures == []
