"""Request rules of the token endpoints (RFC 6749 §2.3.1, §3.2, §5.2; docs/api.md)."""

import base64
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
