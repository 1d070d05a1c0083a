"""A client assertion whose times are not finite numbers (RFC 7519 §2 NumericDate).

JSON as Python reads it also has ``NaN`` and ``Infinity``. An assertion signed by the
client's own key with ``"exp": NaN`` passed every time check (NaN compares false both
ways) and reached the replay store with a NaN expiry: 500 behind Redis, 503 "the token
store is unavailable" with SQLite, and a traceback in the log. It is ``invalid_client``
like any other bad assertion, in both stores.
"""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import Served, gatekey, serving
from tests.support.redis_server import redis_server

ISSUER = "http://gatekey.test"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def issuer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Served]]:
    folder = tmp_path_factory.mktemp(f"numbers-{request.param}")
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k"}
    write_manifests(
        folder / "m",
        policy("ao", "OAuth2", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwks={"keys": [jwk]}),
    )
    shown = gatekey(
        "show-key", "--manifests", str(folder / "m"), "--state-dir", str(folder / "s"),
        "Credential/billing",
    )  # fmt: skip
    client_id = json.loads(shown.stdout)["client_id"]
    with ExitStack() as stack:
        extra: tuple[str, ...] = ("--issuer-url", ISSUER)
        if request.param == "redis":
            (folder / "redis").mkdir()
            extra += ("--store", stack.enter_context(redis_server(folder / "redis")).url)
        url, process = stack.enter_context(serving(folder / "m", folder / "s", *extra))
        yield url, client_id, process


def _post(url: str, client_id: str, **claims: Any) -> requests.Response:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/credential/token",
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    } | claims
    # PyJWT writes float("nan") as NaN, as Python's json does.
    assertion = jwt.encode(payload, KEY, algorithm="ES256", headers={"kid": "k"})
    return requests.post(
        url + "/credential/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", float("nan")), ("exp", float("inf")), ("iat", float("nan")), ("nbf", float("nan"))],
)
def test_a_time_that_is_not_a_finite_number_is_invalid_client(
    issuer: tuple[str, str, Served], claim: str, value: float
) -> None:
    url, client_id, process = issuer
    for _ in range(2):  # and again: nothing was remembered, nothing broke
        answer = _post(url, client_id, **{claim: value})
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_client"
        assert (
            claim in answer.json()["error_description"]
            or "longer than" in (answer.json()["error_description"])
        )
    assert _post(url, client_id).status_code == 200
    assert "Traceback" not in process.output()[1]
