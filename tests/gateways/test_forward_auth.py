"""nginx ``auth_request`` and Envoy ``ext_authz`` in front of an API, asking Gatekey's /authz.

Each test runs once per gateway (the ``gateway`` fixture is parametrized) and sends its
requests to paths of its own, then asks the API which of them reached it: a denied
request must be answered by the gateway and never reach the API.
"""

import base64
import json
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.gateways.configs import DOC_ADDRESSES, ENVOY_BOOTSTRAP, NGINX_SITE, render
from tests.gateways.conftest import IDENTITY_HEADERS, Backend, Gateway, Issuer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateways.md"


def a_path() -> str:
    """A path no other request used, so that the API's record of it is this test's alone."""
    return f"/orders/{uuid.uuid4().hex}?page=2"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_let_through(backend: Backend, path: str, response, client_id: str, roles: str = ""):
    """The API answered, once, with the identity Gatekey vouched for."""
    assert response.status_code == 200, response.text
    (seen,) = backend.requests_to(path)
    assert seen.headers["x-authenticated-userid"] == client_id
    assert seen.headers["x-authenticated-clientid"] == client_id
    # nginx leaves out a header whose value is empty; Envoy sends it empty.
    assert seen.headers.get("x-authenticated-userroles", "") == roles
    assert response.json()["path"] == path  # the API's own answer came back


def assert_stopped(backend: Backend, path: str, response, status: int) -> None:
    """The gateway answered ``status`` itself; nothing reached the API."""
    assert response.status_code == status, response.text
    assert backend.requests_to(path) == []


# --- let through --------------------------------------------------------------------------


def test_jwt_reaches_the_api_with_the_identity(gateway: Gateway, issuer: Issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders, scope="orders.read")
    path = a_path()
    response = gateway.request("GET", path, bearer(token))
    assert_let_through(backend, path, response, issuer.orders.client_id, "orders.read")


def test_opaque_token_reaches_the_api_with_method_and_body(gateway: Gateway, issuer, backend):
    token = issuer.token("/auth/token", issuer.orders)
    assert token.startswith("gkat_")
    path = a_path()
    response = gateway.request("POST", path, bearer(token), json={"sku": "A-7", "qty": 2})
    assert_let_through(backend, path, response, issuer.orders.client_id)
    (seen,) = backend.requests_to(path)
    # The body went to the API, untouched, although Gatekey was never sent it.
    assert (seen.method, json.loads(seen.body)) == ("POST", {"sku": "A-7", "qty": 2})


def test_credential_token_reaches_the_api_through_its_group(gateway: Gateway, issuer, backend):
    token = issuer.token("/credential/jwt", issuer.svc, scope="orders.read")
    path = a_path()
    response = gateway.request("DELETE", path, bearer(token))
    assert_let_through(backend, path, response, issuer.svc.client_id, "orders.read")


def test_bare_token_without_the_scheme_is_accepted(gateway: Gateway, issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = a_path()
    response = gateway.request("GET", path, {"Authorization": token})
    assert_let_through(backend, path, response, issuer.orders.client_id)


def test_client_cannot_forge_the_identity_headers(gateway: Gateway, issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders)  # no scope: roles are empty
    forged = dict.fromkeys(IDENTITY_HEADERS, "admin")
    path = a_path()
    response = gateway.request("GET", path, bearer(token) | forged)
    # Gatekey's values replace the client's, the empty roles included.
    assert_let_through(backend, path, response, issuer.orders.client_id, roles="")


# --- stopped at the gateway ----------------------------------------------------------------


def test_missing_token_is_401_with_a_bare_challenge(gateway: Gateway, backend):
    path = a_path()
    response = gateway.request("GET", path)
    assert_stopped(backend, path, response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatekey"'


def _signed_by_another_key(issuer: Issuer) -> str:
    """A real token's header and claims, re-signed with a key that is not Gatekey's."""
    real = issuer.token("/auth/jwt", issuer.orders)
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": header["kid"]})


def _unsigned(issuer: Issuer) -> str:
    """A real token's claims with ``alg: none`` and no signature."""
    real = issuer.token("/auth/jwt", issuer.orders)
    claims = jwt.decode(real, options={"verify_signature": False})

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'at+jwt'})}.{part(claims)}."


FORGERIES = {
    "signed-by-another-key": _signed_by_another_key,
    "alg-none": _unsigned,
    "unknown-opaque": lambda issuer: "gkat_" + uuid.uuid4().hex,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_token_is_401_invalid_token(gateway: Gateway, issuer, backend, forgery):
    token = FORGERIES[forgery](issuer)
    path = a_path()
    response = gateway.request("GET", path, bearer(token))
    assert_stopped(backend, path, response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("base", "endpoint"), [("/auth", "/jwt"), ("/auth", "/token")])
def test_revoked_token_is_401_at_once(gateway: Gateway, issuer, backend, base, endpoint):
    token = issuer.token(base + endpoint, issuer.orders)
    before, after = a_path(), a_path()
    # Let through first: a JWT is then in Gatekey's verification cache.
    assert gateway.request("GET", before, bearer(token)).status_code == 200
    issuer.revoke(base, issuer.orders, token)
    response = gateway.request("GET", after, bearer(token))
    assert_stopped(backend, after, response, 401)
    assert len(backend.requests_to(before)) == 1


def test_token_for_another_proxy_is_403(gateway: Gateway, issuer, backend):
    token = issuer.token("/auth/jwt", issuer.billing)
    path = a_path()
    assert_stopped(backend, path, gateway.request("GET", path, bearer(token)), 403)


def test_client_cannot_choose_the_proxy(gateway: Gateway, issuer, backend):
    # A billing token, with the client claiming to call billing: the gateway's own
    # X-Gatekey-Proxy (orders) is what Gatekey sees.
    token = issuer.token("/auth/jwt", issuer.billing)
    path = a_path()
    response = gateway.request("GET", path, bearer(token) | {"X-Gatekey-Proxy": "billing"})
    assert_stopped(backend, path, response, 403)


def test_issuer_down_fails_closed(dead_gateway: Gateway, issuer, backend):
    token = issuer.token("/auth/jwt", issuer.orders)
    path = a_path()
    response = dead_gateway.request("GET", path, bearer(token))
    # nginx answers 500 when its auth subrequest fails; Envoy, with failure_mode_allow
    # false, 403. Either way the API is not reached.
    expected = {"nginx": 500, "envoy": 403}[dead_gateway.name]
    assert_stopped(backend, path, response, expected)


# --- the documentation shows what runs here -------------------------------------------------


@pytest.mark.parametrize("template", [NGINX_SITE, ENVOY_BOOTSTRAP], ids=["nginx", "envoy"])
def test_docs_show_the_tested_configs(template: str):
    assert render(template, **DOC_ADDRESSES) in DOCS.read_text()


# --- Gatekey as a sidecar: `gatekey serve --proxy ApiProxy/orders` -----------------------------


def test_sidecar_checks_its_own_proxy_without_the_header(sidecar, backend):
    issuer, gateway = sidecar.issuer, sidecar.gateway
    path = a_path()
    response = gateway.request("GET", path, bearer(issuer.token("/auth/jwt", issuer.orders)))
    assert_let_through(backend, path, response, issuer.orders.client_id)
    path = a_path()
    response = gateway.request("GET", path, bearer(issuer.token("/auth/jwt", issuer.billing)))
    assert_stopped(backend, path, response, 403)


def test_sidecar_client_cannot_choose_the_proxy(sidecar, backend):
    # nginx passes every client header to the auth subrequest: here the client's own
    # X-Gatekey-Proxy reaches the issuer, which must still check ApiProxy/orders only.
    issuer, gateway = sidecar.issuer, sidecar.gateway
    token = issuer.token("/auth/jwt", issuer.billing)
    path = a_path()
    response = gateway.request("GET", path, bearer(token) | {"X-Gatekey-Proxy": "billing"})
    assert_stopped(backend, path, response, 403)
