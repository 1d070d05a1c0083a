"""The refresh grace period (``refresh.reuseGracePeriod``), from outside over HTTP.

A refresh token presented again within the period after its rotation (a retry after a
lost response) is answered with a new pair that continues the chain; the answer it
replaces dies, so that however many retries race, exactly one branch of the chain is
live. Presenting a replaced answer's refresh token, presenting the token again once its
answer was used, or after the period, is a reuse that revokes the whole chain. Both
stores (SQLite in one process, under ``--workers 2``, and shared by two serves; Redis
behind two replicas; the racers split between processes), all four endpoints.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import gatekey
from tests.support.workers import STORES, issuers

# path -> who the client is (a grace period of 1m)
ENDPOINTS = {
    "/auth/jwt": "proxy-key",
    "/auth/token": "proxy-key",
    "/credential/jwt": "credential",
    "/credential/token": "credential",
}
SHORT = ("/auth/jwt", "/auth/token")  # the proxy key of a policy with a grace period of 1s
PROXIES = {"proxy-key": "orders", "short-key": "shipping", "credential": "payments"}
RACERS = 12


@dataclass
class World:
    urls: list[str]
    clients: dict[str, tuple[str, str]]


def _manifests(folder: Path) -> None:
    def refresh(grace: str) -> dict[str, Any]:
        return {"ttl": "10m", "refresh": {"enabled": True, "ttl": "1h", "reuseGracePeriod": grace}}

    write_manifests(
        folder,
        policy("pj", "JWT", token=refresh("1m")),
        policy("po", "OAuth2", token=refresh("1m")),
        policy("sj", "JWT", "ApiProxy/shipping", token=refresh("1s")),
        policy("so", "OAuth2", "ApiProxy/shipping", token=refresh("1s")),
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        policy("ao", "OAuth2", "ApiProxy/payments", management="ACL"),
        credential(
            "billing",
            ["ApiProxy/payments"],
            token={"grantTypes": ["client_credentials"], **refresh("1m")},
        ),
    )


def _clients(manifests: Path, state: Path) -> dict[str, tuple[str, str]]:
    def key(target: str) -> tuple[str, str]:
        shown = gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), target
        )
        values = json.loads(shown.stdout)
        return values["client_id"], values["client_secret"]

    return {
        "proxy-key": key("ApiProxy/orders"),
        "short-key": key("ApiProxy/shipping"),
        "credential": key("Credential/billing"),
    }


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(request.param)
    manifests, state = folder / "m", folder / "state"
    _manifests(manifests)
    clients = _clients(manifests, state)
    with ExitStack() as stack:
        urls = issuers(stack, request.param, folder, manifests, state)
        yield World(urls, clients)


class Client:
    """One client of one endpoint, talking to every replica."""

    def __init__(self, world: World, session: aiohttp.ClientSession, path: str, who: str):
        self.world, self.session, self.path = world, session, path
        self.proxy = PROXIES[who]
        self.client_id, self.secret = world.clients[who]

    async def post(self, form: dict[str, str], replica: int = 0) -> tuple[int, dict[str, Any]]:
        form = {"client_id": self.client_id, "client_secret": self.secret, **form}
        url = self.world.urls[replica % len(self.world.urls)] + self.path
        async with self.session.post(url, data=form) as response:
            return response.status, await response.json()

    async def start(self) -> dict[str, Any]:
        status, body = await self.post({"grant_type": "client_credentials"})
        assert status == 200, body
        return body

    async def refresh(self, token: str, replica: int = 0) -> tuple[int, dict[str, Any]]:
        return await self.post({"grant_type": "refresh_token", "refresh_token": token}, replica)

    async def passes(self, access_token: str) -> list[bool]:
        """Whether every replica lets the token through /authz. A JWT is refused through
        the deny list, which other replicas hear of over pub/sub: give them a moment."""
        headers = {"Authorization": f"Bearer {access_token}", "X-Gatekey-Proxy": self.proxy}
        verdicts = []
        for url in self.world.urls:
            for _ in range(40):
                async with self.session.get(url + "/authz", headers=headers) as response:
                    status = response.status
                if status == 401:
                    break
                await asyncio.sleep(0.025)
            verdicts.append(status == 200)
        return verdicts


def _revoked(status: int, body: dict[str, Any]) -> bool:
    """The answer to a reuse: the chain is revoked."""
    return status == 400 and "chain is revoked" in body.get("error_description", "")


def _refused(status: int, body: dict[str, Any]) -> bool:
    """The answer to a token of a revoked chain."""
    return status == 400 and body.get("error") == "invalid_grant"


async def _racing_retries(world: World, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(world, session, path, ENDPOINTS[path])
        first = await client.start()
        answers = await asyncio.gather(
            *(client.refresh(first["refresh_token"], n) for n in range(RACERS))
        )
        assert [status for status, _ in answers] == [200] * RACERS, answers
        bodies = [body for _, body in answers]
        verdicts = [await client.passes(body["access_token"]) for body in bodies]
        live = [n for n, v in enumerate(verdicts) if any(v)]
        assert len(live) == 1, verdicts
        assert all(verdicts[live[0]]), verdicts  # on every replica
        # The live answer continues the chain; the first access token was never touched.
        status, next_ = await client.refresh(bodies[live[0]]["refresh_token"], 1)
        assert status == 200, next_
        assert all(await client.passes(first["access_token"]))
        # Whoever holds a replaced answer did not send the retry: a reuse.
        replaced = bodies[(live[0] + 1) % RACERS]["refresh_token"]
        assert _revoked(*await client.refresh(replaced))
        assert not any(await client.passes(next_["access_token"]))
        assert not any(await client.passes(first["access_token"]))
        assert _refused(*await client.refresh(next_["refresh_token"], 1))


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_racing_retries_in_the_grace_period_leave_one_live_branch(world: World, path: str):
    asyncio.run(_racing_retries(world, path))


async def _lost_response(world: World, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(world, session, path, ENDPOINTS[path])
        first = await client.start()
        status, lost = await client.refresh(first["refresh_token"])
        assert status == 200, lost
        status, retried = await client.refresh(first["refresh_token"], 1)
        assert status == 200, retried
        assert not any(await client.passes(lost["access_token"]))
        assert all(await client.passes(retried["access_token"]))
        status, body = await client.refresh(retried["refresh_token"])
        assert status == 200, body
        # Once the answer was used, the old token is a reuse again, grace or not.
        assert _revoked(*await client.refresh(first["refresh_token"], 1))
        assert _refused(*await client.refresh(body["refresh_token"]))


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_a_retry_after_a_lost_response_continues_the_chain(world: World, path: str):
    asyncio.run(_lost_response(world, path))


async def _after_the_period(world: World, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(world, session, path, "short-key")
        first = await client.start()
        status, answer = await client.refresh(first["refresh_token"])
        assert status == 200, answer
        rotated = time.monotonic()
        await asyncio.sleep(max(0.0, rotated + 1.5 - time.monotonic()))
        assert _revoked(*await client.refresh(first["refresh_token"], 1))
        assert not any(await client.passes(answer["access_token"]))
        assert _refused(*await client.refresh(answer["refresh_token"]))


@pytest.mark.parametrize("path", SHORT)
def test_after_the_grace_period_a_reuse_revokes_the_chain(world: World, path: str):
    asyncio.run(_after_the_period(world, path))
