"""Row 1 of the tenancy rules: a token minted in one namespace never passes ``/authz``
for a proxy of another, whatever ``X-Gatekey-Proxy`` says; the JWKS of one namespace
holds none of another's keys. Attacks run against ``gatekey serve`` as a process."""

import json

import jwt
import pytest
import requests

from tests.support.issuer import write_manifests
from tests.support.process import gatekey, serving
from tests.tenancy.conftest import attacker, victim

ENDPOINTS = ["/auth/jwt", "/auth/token", "/credential/jwt", "/credential/token"]


def client_of(manifests, state, namespace, endpoint):
    target = "ApiProxy/orders" if endpoint.startswith("/auth") else "Credential/svc"
    result = gatekey(
        "show-key",
        "--manifests",
        str(manifests),
        "--state-dir",
        str(state),
        "--namespace",
        namespace,
        target,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    return values["client_id"], values["client_secret"]


def token(url, client, endpoint, **more):
    response = requests.post(
        url + endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
            **more,
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def authz(url, access_token, proxy=None):
    headers = {"Authorization": f"Bearer {access_token}"}
    if proxy is not None:
        headers["X-Gatekey-Proxy"] = proxy
    return requests.get(url + "/authz", headers=headers, timeout=5)


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tenancy")
    manifests, state = folder / "m", folder / "state"
    write_manifests(manifests, *victim(), name="default.yaml")
    write_manifests(manifests, *attacker(), name="evil.yaml")
    with serving(manifests, state) as (url, _process):
        yield url, manifests, state


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_token_of_another_namespace_never_passes(two_tenants, endpoint):
    url, manifests, state = two_tenants
    evil = token(url, client_of(manifests, state, "evil", endpoint), endpoint, scope="orders.admin")
    # Every way of naming the victim's proxy: bare (home: default), qualified, with kind.
    for name in ["orders", "default/orders", "ApiProxy/orders", "ApiProxy/default/orders"]:
        response = authz(url, evil, name)
        assert response.status_code == 403, (name, response.headers)
    # The attacker's own proxy still works: the refusal is about namespaces, nothing else.
    own = authz(url, evil, "evil/orders")
    assert own.status_code == 200
    assert own.headers["X-Authenticated-UserRoles"] == "orders.admin"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_victims_token_passes_at_home_only(two_tenants, endpoint):
    url, manifests, state = two_tenants
    good = token(url, client_of(manifests, state, "default", endpoint), endpoint)
    assert authz(url, good, "orders").status_code == 200
    assert authz(url, good, "default/orders").status_code == 200
    assert authz(url, good, "evil/orders").status_code == 403


def test_an_unknown_or_malformed_proxy_name_is_refused(two_tenants):
    url, manifests, state = two_tenants
    good = token(url, client_of(manifests, state, "default", "/auth/jwt"), "/auth/jwt")
    for name in ["nowhere/orders", "ProxyGroup/orders", "Default/orders", "a/b/orders", ""]:
        assert authz(url, good, name).status_code == 403, name


def test_each_namespace_has_its_own_jwks(two_tenants):
    url, manifests, state = two_tenants
    home = requests.get(url + "/auth/.well-known/jwks.json", timeout=5).json()
    evil = requests.get(url + "/auth/.well-known/jwks.json?namespace=evil", timeout=5).json()
    home_kids = {k["kid"] for k in home["keys"]}
    evil_kids = {k["kid"] for k in evil["keys"]}
    assert home_kids
    assert evil_kids
    assert home_kids.isdisjoint(evil_kids)
    victim_token = token(url, client_of(manifests, state, "default", "/auth/jwt"), "/auth/jwt")
    evil_token = token(url, client_of(manifests, state, "evil", "/auth/jwt"), "/auth/jwt")
    assert jwt.get_unverified_header(victim_token)["kid"] in home_kids
    assert jwt.get_unverified_header(evil_token)["kid"] not in home_kids


def test_a_single_namespace_keeps_the_short_form(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, *attacker())  # everything in `evil`, nothing in default
    with serving(manifests, state) as (url, _process):
        good = token(url, client_of(manifests, state, "evil", "/auth/jwt"), "/auth/jwt")
        assert authz(url, good, "orders").status_code == 200
        keys = requests.get(url + "/auth/.well-known/jwks.json", timeout=5).json()["keys"]
        assert jwt.get_unverified_header(good)["kid"] in {k["kid"] for k in keys}


def test_a_sidecar_names_a_qualified_proxy(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, *victim(), name="default.yaml")
    write_manifests(manifests, *attacker(), name="evil.yaml")
    with serving(manifests, state, "--proxy", "ApiProxy/evil/orders") as (url, _process):
        evil = token(url, client_of(manifests, state, "evil", "/auth/jwt"), "/auth/jwt")
        good = token(url, client_of(manifests, state, "default", "/auth/jwt"), "/auth/jwt")
        assert authz(url, evil).status_code == 200
        assert authz(url, good).status_code == 403
        # The header cannot point the sidecar at another proxy.
        assert authz(url, good, "default/orders").status_code == 403


def test_a_bad_proxy_flag_is_a_one_line_error(tmp_path):
    result = gatekey(
        "serve", "--manifests", str(tmp_path), "--state-dir", str(tmp_path), "--proxy", "a/b/c"
    )
    assert result.returncode != 0
    assert "--proxy 'a/b/c' is not" in result.stderr
    assert "Traceback" not in result.stderr
