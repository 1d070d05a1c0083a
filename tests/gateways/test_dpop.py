"""DPoP through the gateways (RFC 9449): the proof header reaches /authz, which checks it
against the URL the client called; a stolen token without its key gets nowhere."""

import uuid

import jwt
import requests

from tests.dpop.proofs import Holder
from tests.gateways.conftest import Backend, Gateway, Issuer
from tests.interop.test_node_clients import run_node


def bound_token(issuer: Issuer, holder: Holder) -> str:
    client = issuer.orders
    response = requests.post(
        issuer.url + "/auth/jwt",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
        headers={"DPoP": holder.proof("POST", issuer.url + "/auth/jwt")},
        timeout=10,
    )
    assert response.json()["token_type"] == "DPoP", response.text
    return str(response.json()["access_token"])


def test_a_dpop_request_reaches_the_api(gateway: Gateway, issuer: Issuer, backend: Backend):
    holder = Holder()
    token = bound_token(issuer, holder)
    path = f"/orders/{uuid.uuid4().hex}"
    proof = holder.proof("GET", gateway.url + path, access_token=token)
    response = gateway.request("GET", path, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert response.status_code == 200, response.text
    assert len(backend.requests_to(path)) == 1


def test_a_stolen_bound_token_gets_nowhere(gateway: Gateway, issuer: Issuer, backend: Backend):
    token = bound_token(issuer, Holder())
    thief = Holder()
    path = f"/orders/{uuid.uuid4().hex}"
    as_bearer = gateway.request("GET", path, {"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    proof = thief.proof("GET", gateway.url + path, access_token=token)
    own_key = gateway.request("GET", path, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert own_key.status_code == 401
    assert backend.requests_to(path) == []


def test_a_proof_for_another_path_is_refused(gateway: Gateway, issuer: Issuer, backend: Backend):
    holder = Holder()
    token = bound_token(issuer, holder)
    path = f"/orders/{uuid.uuid4().hex}"
    proof = holder.proof("GET", gateway.url + "/orders/other", access_token=token)
    response = gateway.request("GET", path, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert response.status_code == 401
    assert backend.requests_to(path) == []


def test_openid_client_binds_and_proves_through_the_gateway(
    gateway: Gateway, issuer: Issuer, backend
):
    """openid-client 6's own DPoP support, nobody here wrote its proofs."""
    path = f"/orders/{uuid.uuid4().hex}"
    client = issuer.orders
    out = run_node(
        "dpop",
        issuer=issuer.url + "/auth",
        client_id=client.client_id,
        client_secret=client.client_secret,
        resource=gateway.url + path,
    )
    assert out["tokens"]["token_type"].lower() == "dpop"
    claims = jwt.decode(out["tokens"]["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": out["jkt"]}
    assert out["resource"] == 200
    assert out["as_bearer"] == 401
    assert len(backend.requests_to(path)) == 1
