"""A ``private_key_jwt`` assertion is spent on every replica at once (RFC 7523 §3 ``jti``).

Two issuer processes share a real redis-server: an assertion accepted by one is refused
by the other, also when both receive it at the same moment.
"""

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import gatekey, serving
from tests.support.redis_server import redis_server

ISSUER = "http://gatekey.test"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY = ec.generate_private_key(ec.SECP256R1())


def _assertion(client_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/credential/token",
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": "k"})


async def _post(session: aiohttp.ClientSession, url: str, assertion: str) -> int:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": TYPE,
        "client_assertion": assertion,
    }
    async with session.post(url + "/credential/token", data=form) as response:
        return response.status


def test_an_assertion_is_spent_on_every_replica(tmp_path: Path) -> None:
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k"}
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(
        manifests,
        policy("ao", "OAuth2", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwks={"keys": [jwk]}),
    )
    shown = gatekey(
        "show-key", "--manifests", str(manifests), "--state-dir", str(state), "Credential/billing"
    )
    client_id = json.loads(shown.stdout)["client_id"]
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as server:
        shared = ("--store", server.url, "--issuer-url", ISSUER)
        with (
            serving(manifests, state, *shared) as (a, _),
            serving(manifests, state, *shared) as (
                b,
                _,
            ),
        ):

            async def scenario() -> tuple[list[int], list[list[int]]]:
                async with aiohttp.ClientSession() as session:
                    one = _assertion(client_id)
                    sequential = [await _post(session, a, one), await _post(session, b, one)]
                    races = []
                    for _ in range(10):
                        raced = _assertion(client_id)
                        races.append(
                            sorted(
                                await asyncio.gather(
                                    _post(session, a, raced), _post(session, b, raced)
                                )
                            )
                        )
                    return sequential, races

            sequential, races = asyncio.run(scenario())
    assert sequential == [200, 401]
    assert races == [[200, 401]] * 10
