"""``private_key_jwt`` (RFC 7523 §2.2) wherever a client authenticates, from outside over HTTP.

Introspection (RFC 7662 §2.1), revocation (RFC 7009 §2.1) and regeneration accept a
client assertion as the token endpoints do, with the same checks: a good assertion is
accepted; a replayed one (at the same or another endpoint), one for another audience,
an expired one and an unsigned one are 401 ``invalid_client``. Each assertion is built
by hand with PyJWT.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from tests.support.issuer import RunningIssuer, running_issuer, write_manifests
from tests.support.manifests import credential, policy

ISSUER = "http://gatekey.test"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig"}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    folder = tmp_path_factory.mktemp("pkjwt-everywhere")
    jwks = {"keys": [_jwk(KEY, "k1")]}
    write_manifests(
        folder / "m",
        policy("pj", "JWT", proxyKeyJwks=jwks),
        policy("aj", "JWT", "ApiProxy/payments", management="ACL"),
        credential("billing", ["ApiProxy/payments"], jwks=jwks),
        credential("plain", ["ApiProxy/payments"]),
    )
    limits = ThrottleSettings(slow_after=100, delay_seconds=0.01, block_after=200)
    with running_issuer(folder / "m", folder / "s", IssuerSettings(issuer_url=ISSUER), limits) as r:
        yield r


def assertion(client_id: str, aud: str, key: Any = KEY, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    } | claims
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": "k1"})


def unsigned(client_id: str, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "jti": "x"}
    return jwt.encode(claims, None, algorithm="none")


def asserted(made: str, **more: str) -> dict[str, str]:
    return {"client_assertion_type": TYPE, "client_assertion": made} | more


def token_for(issuer: RunningIssuer, base: str, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = issuer.post(f"{base}/jwt", form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def client(issuer: RunningIssuer, base: str) -> tuple[str, str]:
    if base == "/auth":
        return issuer.proxy_key("ApiProxy", "orders")
    return issuer.credential("billing")


Call = Callable[[RunningIssuer, str, str, str], requests.Response]
"""(issuer, base, a token of the client, the client's assertion) -> the response."""


def introspect(issuer: RunningIssuer, base: str, token: str, made: str) -> requests.Response:
    return issuer.post(f"{base}/introspect", asserted(made, token=token))


def revoke(issuer: RunningIssuer, base: str, token: str, made: str) -> requests.Response:
    return issuer.post(f"{base}/revoke", asserted(made, token=token))


def regenerate(issuer: RunningIssuer, base: str, token: str, made: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return issuer.post(f"{base}/jwt/regenerate", asserted(made), headers=headers)


ENDPOINTS: dict[str, tuple[str, Call]] = {
    "introspect": ("introspect", introspect),
    "revoke": ("revoke", revoke),
    "regenerate": ("jwt/regenerate", regenerate),
}
BASES = ["/auth", "/credential"]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_a_good_assertion_is_accepted(issuer: RunningIssuer, base: str, name: str) -> None:
    client_id, secret = client(issuer, base)
    token = token_for(issuer, base, client_id, secret)
    path, call = ENDPOINTS[name]
    response = call(issuer, base, token, assertion(client_id, f"{ISSUER}{base}/{path}"))
    assert response.status_code == 200, response.text
    if name == "introspect":
        assert response.json()["active"] is True
        assert response.json()["client_id"] == client_id
    if name == "regenerate":
        fresh = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert fresh["client_id"] == client_id


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_the_issuer_identifier_and_the_token_endpoint_are_audiences(
    issuer: RunningIssuer, base: str, name: str
) -> None:
    client_id, secret = client(issuer, base)
    _, call = ENDPOINTS[name]
    for aud in (f"{ISSUER}{base}", f"{ISSUER}{base}/jwt", f"{ISSUER}{base}/token"):
        token = token_for(issuer, base, client_id, secret)
        response = call(issuer, base, token, assertion(client_id, aud))
        assert response.status_code == 200, (aud, response.text)


def other_mode(aud: str) -> str:
    """The same endpoint under the other base: a Policy-mode URL for ACL mode and back."""
    mine, theirs = ("/auth/", "/credential/") if "/auth/" in aud else ("/credential/", "/auth/")
    return aud.replace(mine, theirs)


def refused(response: requests.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]


BAD: dict[str, tuple[Callable[[str, str], str], str]] = {
    "wrong aud": (lambda c, aud: assertion(c, "https://elsewhere.example/token"), "Audience"),
    "the other mode's aud": (lambda c, aud: assertion(c, other_mode(aud)), "Audience"),
    "expired": (
        lambda c, aud: assertion(c, aud, exp=int(time.time()) - 5, iat=int(time.time()) - 65),
        "expired",
    ),
    "lives too long": (lambda c, aud: assertion(c, aud, exp=int(time.time()) + 3600), "longer"),
    "alg none": (unsigned, "'none' is not allowed"),
    "another key": (lambda c, aud: assertion(c, aud, key=OTHER_KEY), "not signed by a key"),
}


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
@pytest.mark.parametrize("case", list(BAD))
def test_bad_assertions_are_invalid_client(
    issuer: RunningIssuer, base: str, name: str, case: str
) -> None:
    client_id, secret = client(issuer, base)
    token = token_for(issuer, base, client_id, secret)
    path, call = ENDPOINTS[name]
    make, reason = BAD[case]
    refused(call(issuer, base, token, make(client_id, f"{ISSUER}{base}/{path}")), reason)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_a_replayed_assertion_is_refused(issuer: RunningIssuer, base: str, name: str) -> None:
    client_id, secret = client(issuer, base)
    path, call = ENDPOINTS[name]
    made = assertion(client_id, f"{ISSUER}{base}/{path}")
    first = call(issuer, base, token_for(issuer, base, client_id, secret), made)
    assert first.status_code == 200, first.text
    again = call(issuer, base, token_for(issuer, base, client_id, secret), made)
    refused(again, "already used")


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_an_assertion_spent_at_the_token_endpoint_is_refused_elsewhere(
    issuer: RunningIssuer, name: str
) -> None:
    client_id, secret = client(issuer, "/credential")
    made = assertion(client_id, f"{ISSUER}/credential/jwt")
    spent = issuer.post("/credential/jwt", asserted(made, grant_type="client_credentials"))
    assert spent.status_code == 200, spent.text
    _, call = ENDPOINTS[name]
    refused(
        call(issuer, "/credential", token_for(issuer, "/credential", client_id, secret), made),
        "already used",
    )


def test_revocation_by_assertion_revokes(issuer: RunningIssuer) -> None:
    client_id, secret = client(issuer, "/credential")
    token = token_for(issuer, "/credential", client_id, secret)
    assert revoke(issuer, "/credential", token, assertion(client_id, ISSUER + "/credential")).ok
    answer = introspect(issuer, "/credential", token, assertion(client_id, ISSUER + "/credential"))
    assert answer.status_code == 200
    assert answer.json() == {"active": False}


def test_a_client_without_keys_is_refused(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.credential("plain")
    token = token_for(issuer, "/credential", client_id, secret)
    for path, call in ENDPOINTS.values():
        made = assertion(client_id, f"{ISSUER}/credential/{path}")
        refused(call(issuer, "/credential", token, made), "no public keys")


def test_an_assertion_and_a_secret_at_once_are_invalid_request(issuer: RunningIssuer) -> None:
    client_id, secret = client(issuer, "/credential")
    token = token_for(issuer, "/credential", client_id, secret)
    made = assertion(client_id, ISSUER + "/credential")
    form = asserted(made, token=token, client_secret=secret)
    assert issuer.post("/credential/introspect", form).status_code == 400


@pytest.mark.parametrize("base", BASES)
def test_metadata_advertises_private_key_jwt_where_accepted(
    issuer: RunningIssuer, base: str
) -> None:
    body = issuer.get(f"{base}/.well-known/oauth-authorization-server").json()
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert "private_key_jwt" in body[f"{endpoint}_auth_methods_supported"], endpoint
    for endpoint in ("introspection_endpoint", "revocation_endpoint"):
        algs = body[f"{endpoint}_auth_signing_alg_values_supported"]
        assert "ES256" in algs
        assert "none" not in algs
        assert not any(a.startswith("HS") for a in algs)
