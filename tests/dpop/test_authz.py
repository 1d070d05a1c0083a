"""DPoP at ``/authz`` (RFC 9449 §7): a bound token needs ``Authorization: DPoP`` and a
fresh proof of its key for the method and URL the gateway reports, hashing the token."""

from ipaddress import ip_network

import pytest

from gatekey.issuer.settings import IssuerSettings
from tests.dpop.proofs import Holder
from tests.dpop.test_token_endpoint import JWT_PATH, OPAQUE_PATH, documents, grant

TRUSTED = IssuerSettings(trusted_proxies=(ip_network("127.0.0.1/32"),))
SEEN = "https://api.example.com/orders/7"
"""The URL the client called, as the gateway reports it."""


@pytest.fixture
def world(start_issuer):
    return start_issuer(*documents(), settings=TRUSTED)


def bound(issuer, path, holder):
    response = grant(issuer, path, holder.proof("POST", issuer.url + path))
    assert response.json()["token_type"] == "DPoP"
    return response.json()["access_token"]


def check(issuer, token, proof=None, scheme="DPoP", method="GET"):
    headers = {
        "Authorization": f"{scheme} {token}",
        "X-Gatekey-Proxy": "orders",
        "X-Original-URI": "/orders/7?page=2",
        "X-Original-Method": method,
        "X-Forwarded-Host": "api.example.com",
        "X-Forwarded-Proto": "https",
    }
    if proof is not None:
        headers["DPoP"] = proof
    return issuer.get("/authz", headers=headers)


def refused(response, error):
    assert response.status_code == 401, response.status_code
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP algs="'), challenge
    assert f'error="{error}"' in challenge, challenge


@pytest.mark.parametrize("path", [JWT_PATH, OPAQUE_PATH])
def test_a_good_proof_passes(world, path):
    holder = Holder()
    token = bound(world, path, holder)
    response = check(world, token, holder.proof("GET", SEEN, access_token=token))
    assert response.status_code == 200, response.headers


@pytest.mark.parametrize("path", [JWT_PATH, OPAQUE_PATH])
def test_bad_proofs_are_refused(world, path):
    holder, other = Holder(), Holder()
    token = bound(world, path, holder)
    cases = {
        "missing ath": holder.proof("GET", SEEN),
        "ath of another token": holder.proof("GET", SEEN, access_token=token + "x"),
        "wrong key": other.proof("GET", SEEN, access_token=token),
        "wrong htu": holder.proof("GET", "https://api.example.com/admin", access_token=token),
        "wrong host": holder.proof("GET", "https://evil.example/orders/7", access_token=token),
        "wrong htm": holder.proof("POST", SEEN, access_token=token),
        "stale iat": holder.proof("GET", SEEN, access_token=token, iat=1_000_000_000),
        "signed by another key": holder.proof("GET", SEEN, access_token=token, signer=other),
    }
    for name, proof in cases.items():
        response = check(world, token, proof)
        assert response.status_code == 401, name
        refused(response, "invalid_dpop_proof")


def test_a_replayed_proof_is_refused(world):
    holder = Holder()
    token = bound(world, JWT_PATH, holder)
    proof = holder.proof("GET", SEEN, access_token=token)
    assert check(world, token, proof).status_code == 200
    refused(check(world, token, proof), "invalid_dpop_proof")


def test_a_bound_token_as_bearer_is_refused(world):
    holder = Holder()
    token = bound(world, JWT_PATH, holder)
    refused(
        check(world, token, holder.proof("GET", SEEN, access_token=token), "Bearer"),
        "invalid_token",
    )
    refused(check(world, token), "invalid_dpop_proof")  # DPoP scheme, no proof


def test_a_bearer_token_under_the_dpop_scheme_is_refused(world):
    response = grant(world, JWT_PATH)
    token = response.json()["access_token"]
    holder = Holder()
    refused(check(world, token, holder.proof("GET", SEEN, access_token=token)), "invalid_token")
    assert check(world, token, scheme="Bearer").status_code == 200


def test_forwarded_headers_from_an_untrusted_peer_are_not_believed(start_issuer):
    """Without --trusted-proxies the request line is the one Envoy sends: /authz/<path>,
    on the issuer's own host; the gateway's headers cannot point the proof elsewhere."""
    issuer = start_issuer(*documents())
    holder = Holder()
    token = bound(issuer, JWT_PATH, holder)
    refused(
        check(issuer, token, holder.proof("GET", SEEN, access_token=token)), "invalid_dpop_proof"
    )
    own = issuer.url + "/orders/7"
    response = issuer.get(
        "/authz/orders/7",
        headers={
            "Authorization": f"DPoP {token}",
            "X-Gatekey-Proxy": "orders",
            "DPoP": holder.proof("GET", own, access_token=token),
        },
    )
    assert response.status_code == 200, response.headers
