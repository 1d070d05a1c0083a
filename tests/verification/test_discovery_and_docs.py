"""RFC 8414 metadata, /metrics and the OpenAPI document."""

from ipaddress import ip_network

from gatekey.issuer.settings import IssuerSettings
from tests.support.manifests import policy, role
from tests.verification.conftest import issue


def test_metadata_document(world):
    body = world.get("/auth/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == "http://127.0.0.1:8080/auth"
    assert body["token_endpoint"] == "http://127.0.0.1:8080/auth/jwt"
    assert body["jwks_uri"].endswith("/auth/.well-known/jwks.json")
    assert body["introspection_endpoint"].endswith("/auth/introspect")
    assert body["revocation_endpoint"].endswith("/auth/revoke")
    assert "client_secret_basic" in body["token_endpoint_auth_methods_supported"]
    assert body["scopes_supported"] == ["orders.read"]
    acl = world.get("/credential/.well-known/oauth-authorization-server").json()
    assert acl["issuer"] == "http://127.0.0.1:8080/credential"


def test_forwarded_headers_only_from_trusted_proxies(start_issuer):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "auth.example"}
    untrusted = start_issuer(policy("p", "JWT"))
    body = untrusted.get("/auth/.well-known/oauth-authorization-server", headers=forwarded).json()
    assert body["token_endpoint"] == "http://127.0.0.1:8080/auth/jwt"
    trusted = start_issuer(
        policy("p", "JWT"), settings=IssuerSettings(trusted_proxies=(ip_network("127.0.0.0/8"),))
    )
    body = trusted.get("/auth/.well-known/oauth-authorization-server", headers=forwarded).json()
    assert body["token_endpoint"] == "https://auth.example/auth/jwt"
    assert body["issuer"] == "http://127.0.0.1:8080/auth"  # always the iss of the tokens


def test_metrics_count_outcomes_by_endpoint_and_grant(world):
    key = world.proxy_key("ApiProxy", "orders")
    issue(world, "/auth/jwt", key)
    world.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": key[0], "client_secret": "bad"},
    )
    world.post("/auth/jwt", {"grant_type": "made_up", "client_id": key[0]})
    text = world.get("/metrics").text
    assert (
        'gatekey_requests_total{endpoint="/auth/jwt",grant="client_credentials",outcome="ok"} 1.0'
    ) in text
    assert 'outcome="invalid_client"} 1.0' in text
    assert 'grant="other",outcome="unsupported_grant_type"' in text
    assert "made_up" not in text
    assert "gatekey_request_duration_seconds_bucket" in text


def test_openapi_documents_exactly_the_served_routes(world):
    document = world.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path.replace("{path}", "{tail}"), method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    app = world.runtime  # the routes come from the running app's router
    from gatekey.issuer.app import create_app
    from gatekey.issuer.http.guard import not_found

    served = set()
    for route in create_app(app).router.routes():
        refusal = route.handler is not_found or route.handler.__qualname__.startswith(
            "method_not_allowed."
        )
        if refusal:  # the JSON 404 and 405 answers, not operations
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        path = path.replace("{tail:[\\s\\S]*}", "{tail}")
        methods = (
            ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
            if route.method == "*"
            else [route.method]
        )
        served |= {(path, m) for m in methods}
    served -= {(p, "HEAD") for p, m in served if m == "GET" and not p.startswith("/authz")}
    assert served == documented


def test_readyz_and_healthz(world):
    assert world.get("/healthz").json() == {"status": "ok"}
    assert world.get("/readyz").json()["status"] == "ready"


def test_roles_feed_scopes_supported(start_issuer):
    issuer = start_issuer(
        policy("p", "JWT"),
        role("a", "User/x", scope="alpha"),
        role("b", "ApiProxy/orders", scope="beta"),
    )
    body = issuer.get("/auth/.well-known/oauth-authorization-server").json()
    assert body["scopes_supported"] == ["alpha", "beta"]
