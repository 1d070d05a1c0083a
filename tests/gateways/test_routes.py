"""Per-route rules enforced through nginx (``X-Original-URI``/``-Method``) and Envoy (the
path appended to ``/authz``): an allowed route reaches the API, a forbidden one is a 403
from the gateway, whatever spelling of the path the client tries."""

import uuid

import pytest

from tests.gateways.conftest import Backend, Gateway, Issuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_allowed_route_reaches_the_api(gateway: Gateway, issuer: Issuer, backend: Backend):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = f"/orders/{uuid.uuid4().hex}/lines"
    response = gateway.request("GET", path, bearer(token))
    assert response.status_code == 200, response.text
    assert len(backend.requests_to(path)) == 1


def test_a_forbidden_route_never_reaches_the_api(gateway: Gateway, issuer: Issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = f"/admin/{uuid.uuid4().hex}"
    response = gateway.request("GET", path, bearer(token))
    assert response.status_code == 403
    assert backend.requests_to(path) == []
    if gateway.name == "envoy":  # nginx's auth_request passes WWW-Authenticate on 401 only
        challenge = response.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope", scope="orders.admin"' in challenge


def test_a_forbidden_method_never_reaches_the_api(gateway: Gateway, issuer: Issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = f"/orders/{uuid.uuid4().hex}/lines"
    assert gateway.request("DELETE", path, bearer(token)).status_code == 403
    assert backend.requests_to(path) == []


@pytest.mark.parametrize(
    "spelling", ["/ADMIN/{}", "//admin/{}", "/orders/../admin/{}", "/%61dmin/{}"]
)
def test_path_tricks_are_refused_through_the_gateway(
    gateway: Gateway, issuer: Issuer, backend, spelling
):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = spelling.format(uuid.uuid4().hex)
    response = gateway.request("GET", path, bearer(token))
    assert response.status_code in (400, 403), (path, response.status_code)
    assert response.status_code != 200
