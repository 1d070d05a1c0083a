"""Request rules of the token endpoints (RFC 6749 §2.3.1, §3.2, §5.2; docs/api.md)."""

import base64
import json
import socket
from urllib.parse import quote

import pytest

from gatekey.issuer.store.base import StoreUnavailable
from tests.support.manifests import policy

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def issuer(start_issuer):
    return start_issuer(policy("p", "OAuth2", token={"refresh": {"enabled": True}}))


def basic(client_id, secret, encode=True):
    if encode:
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_client_secret_basic(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 200, response.text


def test_basic_credentials_are_form_decoded(start_issuer):
    """openid-client sends ``svc%2Dclient``: both parts are form-urlencoded before base64."""
    from tests.support.manifests import secret

    issuer = start_issuer(
        policy("p", "OAuth2"),
        secret("apiproxy-orders-proxy-key", client_id="svc-client", client_secret="s3cr:t/+x"),
    )
    header = "Basic " + base64.b64encode(b"svc%2Dclient:s3cr%3At%2F%2Bx").decode()
    response = issuer.post(
        "/auth/token", {"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 200, response.text


def test_bad_basic_header_is_401_with_challenge(issuer):
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!notbase64"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_basic_secret_is_401_with_challenge(issuer):
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": basic(client_id, "wrong")},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_two_authentication_methods_is_invalid_request(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials", "client_secret": secret},
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_no_client_authentication_is_invalid_client(issuer):
    response = issuer.post("/auth/token", {"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_repeated_parameter_is_invalid_request(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    body += "&scope=a&scope=b"
    response = issuer.post("/auth/token", body, headers={"Content-Type": FORM})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_body_that_is_not_a_form_is_invalid_request(issuer, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = issuer.post("/auth/token", b'{"grant_type": "client_credentials"}', headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_form_with_charset_is_accepted(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    response = issuer.post("/auth/token", body, headers={"Content-Type": FORM + "; charset=UTF-8"})
    assert response.status_code == 200


def test_body_over_64_kib_is_413(issuer):
    body = "grant_type=client_credentials&pad=" + "x" * (64 * 1024)
    response = issuer.post("/auth/token", body, headers={"Content-Type": FORM})
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_body_that_is_not_utf8_is_invalid_request(issuer):
    response = issuer.post("/auth/token", b"grant_type=\xff\xfe", headers={"Content-Type": FORM})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(issuer, method):
    response = issuer.session.request(method, issuer.url + "/auth/token", timeout=5)
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}


@pytest.mark.parametrize("path", ["/auth/token", "/auth/jwt", "/credential/token"])
def test_head_on_a_token_endpoint_mints_nothing(start_issuer, path):
    """aiohttp answers HEAD wherever GET is routed; on a token endpoint that would mint,
    and for opaque tokens store, a token no one receives (and ``revokePrevious`` would
    revoke the client's tokens for it)."""
    issuer = start_issuer(policy("orders-oauth2", "OAuth2"), policy("orders-jwt", "JWT"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = issuer.session.request("HEAD", issuer.url + path, data=form, timeout=5)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
    served = [
        line
        for line in issuer.get("/metrics").text.splitlines()
        if line.startswith("gatekey_requests_total{") and f'endpoint="{path}"' in line
    ]
    assert served == [], "the token endpoint's handler ran"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/auth/introspect", {"POST"}),
        ("DELETE", "/credential/revoke", {"POST"}),
        ("POST", "/auth/.well-known/jwks.json", {"GET", "HEAD"}),
        ("PUT", "/metrics", {"GET", "HEAD"}),
    ],
)
def test_a_method_a_path_does_not_take_is_a_json_405(issuer, method, path, allowed):
    response = issuer.session.request(method, issuer.url + path, timeout=5)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid_request"
    assert set(response.headers["Allow"].split(",")) == allowed


@pytest.mark.parametrize(
    "path", ["/nowhere", "/auth/jwt/extra", "/auth", "/authzz", "/.well-known/x", "/%2e%2e/etc"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_path_no_route_serves_is_a_json_404(issuer, path, method):
    response = issuer.session.request(method, issuer.url + path, timeout=5)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "Not Found"}


def test_a_chunked_body_over_the_limit_in_one_packet_is_413(issuer):
    """No Content-Length to refuse it by: the body is measured as read, even when it came
    whole with the head (the read that does not wait)."""
    body = b"grant_type=client_credentials&pad=" + b"x" * (64 * 1024)
    head = (
        b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() + b"\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head + chunked)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:200]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "invalid_request"


def test_unexpected_failure_off_the_token_endpoints_is_a_bare_json_500(issuer, monkeypatch):
    """The routes outside the OAuth endpoints answer a failure as those do."""

    def explode(*args, **kwargs):
        raise RuntimeError("/secret/internal/path")

    monkeypatch.setattr(issuer.runtime.metrics, "exposition", explode)
    response = issuer.get("/metrics")
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "internal" not in response.text


def test_error_bodies_hold_only_error_and_description(issuer):
    body = issuer.post(
        "/auth/token", {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    ).json()
    assert set(body) == {"error", "error_description"}


def test_unexpected_failure_is_a_bare_500(issuer, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("/secret/internal/path")

    monkeypatch.setattr(issuer.runtime.minter, "mint", explode)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "internal" not in response.text


def test_store_outage_is_503_temporarily_unavailable(issuer, monkeypatch):
    async def down(*records, **more):
        raise StoreUnavailable("down")

    monkeypatch.setattr(issuer.runtime.store, "add", down)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_a_client_made_for_one_configuration_never_serves_the_next(start_issuer):
    """The issuer keeps each proxy-key client it made for the configuration in force: a
    reload that takes a grant type or a role away applies at the next request."""
    from tests.support.issuer import write_manifests
    from tests.support.manifests import role, user_pool

    granted = policy("p", "JWT", grantTypes=["client_credentials"])
    reader = role("reader", "ApiProxy/orders", scope="orders:read")
    issuer = start_issuer(granted, reader)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    auth = {"Authorization": basic(client_id, secret)}
    form = {"grant_type": "client_credentials", "scope": "orders:read"}
    for _ in range(3):  # made, then served again
        first = issuer.post("/auth/jwt", form, headers=auth)
        assert first.status_code == 200, first.text
        assert first.json()["scope"] == "orders:read"
    write_manifests(issuer.source.folder.root, granted)
    issuer.reload()
    narrowed = issuer.post("/auth/jwt", form, headers=auth)
    assert narrowed.json().get("scope", "") == "", narrowed.text
    users = policy("p", "JWT", grantTypes=["password"], userPool={"secretName": "users"})
    write_manifests(issuer.source.folder.root, users, user_pool("users", {"alice": "pw"}))
    issuer.reload()
    refused = issuer.post("/auth/jwt", form, headers=auth)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "unauthorized_client"
