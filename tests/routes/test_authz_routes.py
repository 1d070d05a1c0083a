"""Per-route rules at ``/authz``, over HTTP: the headers each gateway sends, who is
believed, the path tricks, the RFC 6750 §3.1 refusal."""

from ipaddress import ip_network

import pytest

from gatekey.issuer.settings import IssuerSettings
from tests.support.manifests import credential, policy, role

ROUTES = {
    "default": "Deny",
    "rules": [
        {"path": {"prefix": "/admin"}, "require": {"allOf": ["orders.admin"]}},
        {"path": {"exact": "/orders"}, "methods": ["POST"], "require": {"allOf": ["orders.write"]}},
        {"path": {"glob": "/orders/**"}, "methods": ["GET", "HEAD"]},
        {"path": {"prefix": "/gold"}, "require": {"claims": {"tier": "gold"}}},
    ],
}
TRUSTED = IssuerSettings(trusted_proxies=(ip_network("127.0.0.1/32"),))


def documents(routes=ROUTES):
    return [
        policy("orders-jwt", "JWT", routes=routes),
        policy("orders-acl", "OAuth2", management="ACL", routes=routes),
        credential(
            "gold",
            ["ApiProxy/orders"],
            claims=[{"key": "tier", "value": "gold"}],
        ),
        credential("silver", ["ApiProxy/orders"], claims=[{"key": "tier", "value": "silver"}]),
        role(
            "reader", "ApiProxy/orders", "Credential/gold", "Credential/silver", scope="orders.read"
        ),
        role("writer", "ApiProxy/orders", scope="orders.write"),
        role("admin", scope="orders.admin"),
    ]


def token(issuer, path, client, scope=None):
    data = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]}
    if scope:
        data["scope"] = scope
    response = issuer.post(path, data)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def check(issuer, access_token, method="GET", uri=None, *, traefik=False, envoy_path=None):
    headers = {"Authorization": f"Bearer {access_token}", "X-Gatekey-Proxy": "orders"}
    if uri is not None:
        prefix = "X-Forwarded" if traefik else "X-Original"
        headers[f"{prefix}-{'Uri' if traefik else 'URI'}"] = uri
        headers[f"{prefix}-Method"] = method
    if envoy_path is not None:
        return issuer.session.request(
            method, issuer.url + "/authz" + envoy_path, headers=headers, timeout=5
        )
    return issuer.get("/authz", headers=headers)


@pytest.fixture
def world(start_issuer):
    return start_issuer(*documents(), settings=TRUSTED)


@pytest.fixture
def writer(world):
    return token(
        world, "/auth/jwt", world.proxy_key("ApiProxy", "orders"), "orders.read orders.write"
    )


def test_allowed_and_refused_routes_through_nginx_headers(world, writer):
    assert check(world, writer, "POST", "/orders").status_code == 200
    assert check(world, writer, "GET", "/orders/7").status_code == 200
    refused = check(world, writer, "GET", "/admin/users")
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="gatekey", error="insufficient_scope", scope="orders.admin"'
    )
    # No rule matches: the policy's default (Deny).
    assert check(world, writer, "DELETE", "/orders/7").status_code == 403


def test_traefik_and_envoy_forms(world, writer):
    assert check(world, writer, "GET", "/orders/7", traefik=True).status_code == 200
    assert check(world, writer, "GET", "/admin", traefik=True).status_code == 403
    assert check(world, writer, "GET", envoy_path="/orders/7").status_code == 200
    assert check(world, writer, "GET", envoy_path="/admin/x").status_code == 403
    assert check(world, writer, "POST", envoy_path="/orders").status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        "/ADMIN",
        "//admin",
        "/orders/../admin",
        "/admin/",
        "/%61dmin",
        "/orders/%2e%2e/admin",
        "/admin%2fusers",
        "/orders%2f..%2fadmin",
        "/%252e%252e/admin",
        "/orders/7/../../admin",
    ],
)
def test_path_tricks_do_not_slip_through(world, writer, uri):
    assert check(world, writer, "GET", uri).status_code == 403
    assert check(world, writer, "GET", envoy_path=uri).status_code == 403


def test_credential_metadata_claims(world):
    gold = token(world, "/credential/token", world.credential("gold"))
    silver = token(world, "/credential/token", world.credential("silver"))
    assert check(world, gold, "GET", "/gold/x").status_code == 200
    assert check(world, silver, "GET", "/gold/x").status_code == 403


def test_headers_from_an_untrusted_peer_are_not_believed(start_issuer):
    """Without --trusted-proxies the nginx/Traefik headers say nothing; with rules in
    force and no path known, /authz refuses (it never guesses the route)."""
    issuer = start_issuer(*documents())
    writer = token(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders"), "orders.write")
    assert check(issuer, writer, "POST", "/orders").status_code == 403
    # Envoy's form carries the path in the request line itself.
    assert check(issuer, writer, "POST", envoy_path="/orders").status_code == 200


def test_a_sidecar_believes_its_gateway(start_issuer):
    settings = IssuerSettings(proxies=("ApiProxy/orders",))
    issuer = start_issuer(*documents(), settings=settings)
    writer = token(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders"), "orders.write")
    assert check(issuer, writer, "POST", "/orders").status_code == 200


def test_a_policy_without_routes_is_unchanged(start_issuer):
    issuer = start_issuer(policy("orders-jwt", "JWT"))
    plain = token(issuer, "/auth/jwt", issuer.proxy_key("ApiProxy", "orders"))
    assert check(issuer, plain, "DELETE", "/admin").status_code == 200


def test_a_rule_naming_an_unknown_scope_is_refused_at_load(start_issuer):
    routes = {"rules": [{"require": {"allOf": ["orders.typo"]}}]}
    issuer = start_issuer(policy("orders-jwt", "JWT", routes=routes))
    status = issuer.build.rendered["default"].statuses[("AuthPolicy", "orders-jwt")]
    assert (status.ready, status.reason) == (False, "UnknownScope")
    assert "orders.typo" in status.message
    response = issuer.post(
        "/auth/jwt", {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert response.status_code == 401
