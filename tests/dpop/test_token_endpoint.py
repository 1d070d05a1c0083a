"""DPoP at the token endpoint (RFC 9449 §5): proofs checked, tokens bound, refresh stays bound."""

import jwt
import pytest

from tests.dpop.proofs import Holder
from tests.support.manifests import policy

JWT_PATH, OPAQUE_PATH = "/auth/jwt", "/auth/token"


def documents(binding="DPoP"):
    refresh = {"refresh": {"enabled": True}, "binding": binding}
    return [
        policy("orders-jwt", "JWT", token=refresh),
        policy("orders-opaque", "OAuth2", token=refresh),
    ]


@pytest.fixture
def world(start_issuer):
    return start_issuer(*documents())


def grant(issuer, path, proof=None, **more):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    headers = {} if proof is None else {"DPoP": proof}
    return issuer.post(path, data | more, headers=headers)


def url(issuer, path):
    return issuer.url + path


@pytest.mark.parametrize("path", [JWT_PATH, OPAQUE_PATH])
def test_a_good_proof_binds_the_token(world, path):
    holder = Holder()
    response = grant(world, path, holder.proof("POST", url(world, path)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    if path == JWT_PATH:
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": holder.jkt}


def test_without_a_proof_the_token_is_bearer(world):
    response = grant(world, JWT_PATH)
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode(
        response.json()["access_token"], options={"verify_signature": False}
    )


def test_dpop_required_refuses_a_request_without_proof(start_issuer):
    issuer = start_issuer(*documents("DPoPRequired"))
    response = grant(issuer, JWT_PATH)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert grant(issuer, JWT_PATH, Holder().proof("POST", url(issuer, JWT_PATH))).status_code == 200


def test_binding_none_ignores_proofs(start_issuer):
    issuer = start_issuer(*documents("None"))
    response = grant(issuer, JWT_PATH, Holder().proof("POST", url(issuer, JWT_PATH)))
    assert response.json()["token_type"] == "Bearer"


def bad_proofs(issuer, holder, other):
    target = url(issuer, JWT_PATH)
    return {
        "wrong htu": holder.proof("POST", issuer.url + "/auth/token"),
        "another host": holder.proof("POST", "http://evil.example" + JWT_PATH),
        "wrong htm": holder.proof("GET", target),
        "stale iat": holder.proof("POST", target, iat=1_000_000_000),
        "future iat": holder.proof("POST", target, iat=4_000_000_000),
        "wrong typ": holder.proof("POST", target, header={"typ": "JWT"}),
        "no jwk": holder.proof("POST", target, header={"jwk": None}),
        "private jwk": holder.proof("POST", target, header={"jwk": holder.jwk | {"d": "AAAA"}}),
        "signed by another key": holder.proof("POST", target, signer=other),
        "no jti": holder.proof("POST", target, claims={"jti": None}),
        "not a jwt": "not-a-jwt",
        "huge": "a" * 6000,
    }


def test_bad_proofs_are_refused(world):
    holder, other = Holder(), Holder()
    for name, proof in bad_proofs(world, holder, other).items():
        response = grant(world, JWT_PATH, proof)
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_dpop_proof", name


def test_symmetric_and_none_algorithms_are_refused(world):
    holder = Holder()
    target = url(world, JWT_PATH)
    claims = {"jti": "x1", "htm": "POST", "htu": target, "iat": int(__import__("time").time())}
    hs = jwt.encode(
        claims, "k" * 32, algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": holder.jwk}
    )
    none = jwt.encode(
        claims, None, algorithm="none", headers={"typ": "dpop+jwt", "jwk": holder.jwk}
    )
    for proof in (hs, none):
        assert grant(world, JWT_PATH, proof).json()["error"] == "invalid_dpop_proof"


def test_a_replayed_proof_is_refused(world):
    proof = Holder().proof("POST", url(world, JWT_PATH))
    assert grant(world, JWT_PATH, proof).status_code == 200
    replay = grant(world, JWT_PATH, proof)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_dpop_proof"


def test_two_dpop_headers_are_refused(world):
    holder = Holder()
    client_id, secret = world.proxy_key("ApiProxy", "orders")
    headers = [
        ("DPoP", holder.proof("POST", url(world, JWT_PATH))),
        ("DPoP", holder.proof("POST", url(world, JWT_PATH))),
    ]
    response = world.session.post(
        url(world, JWT_PATH),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers=__import__("requests").structures.CaseInsensitiveDict(),
        timeout=5,
    )
    assert response.status_code == 200  # no header: Bearer
    import http.client

    connection = http.client.HTTPConnection(world.url.removeprefix("http://"), timeout=5)
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    connection.putrequest("POST", JWT_PATH)
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(len(body)))
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders(body.encode())
    answer = connection.getresponse()
    assert answer.status == 400
    assert b"invalid_dpop_proof" in answer.read()


@pytest.mark.parametrize("path", [JWT_PATH, OPAQUE_PATH])
def test_a_bound_refresh_token_stays_bound(world, path):
    holder, other = Holder(), Holder()
    first = grant(world, path, holder.proof("POST", url(world, path))).json()
    refresh = first["refresh_token"]
    client_id, secret = world.proxy_key("ApiProxy", "orders")
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
    form["client_secret"] = secret
    # Without a proof, or with a proof of another key: refused, and the chain lives on.
    assert world.post(path, form).json()["error"] == "invalid_grant"
    wrong = world.post(path, form, headers={"DPoP": other.proof("POST", url(world, path))})
    assert wrong.json()["error"] == "invalid_grant"
    right = world.post(path, form, headers={"DPoP": holder.proof("POST", url(world, path))})
    assert right.status_code == 200, right.text
    assert right.json()["token_type"] == "DPoP"


def test_metadata_advertises_the_algorithms(world):
    metadata = world.get("/auth/.well-known/oauth-authorization-server").json()
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert "HS256" not in metadata["dpop_signing_alg_values_supported"]
    assert "none" not in metadata["dpop_signing_alg_values_supported"]
