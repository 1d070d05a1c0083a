"""How the Python clients surface the issuer's refusals: 401 invalid_client (with its
challenge), then the lockout's 429 temporarily_unavailable with Retry-After."""

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from gatekey.issuer.throttle import ThrottleSettings
from tests.support.issuer import running_issuer, write_manifests
from tests.support.manifests import policy


@pytest.fixture
def strict_issuer(tmp_path):
    folder = write_manifests(tmp_path / "m", policy("orders-jwt", "JWT")).parent
    throttle = ThrottleSettings(slow_after=100, block_after=3)
    with running_issuer(folder, tmp_path / "s", throttle=throttle) as issuer:
        yield issuer


def test_authlib_raises_invalid_client_then_the_lockout(strict_issuer):
    client_id, secret = strict_issuer.proxy_key("ApiProxy", "orders")
    session = OAuth2Session(
        client_id, "not-" + secret, token_endpoint_auth_method="client_secret_basic"
    )
    errors = []
    for _ in range(4):
        with pytest.raises(OAuthError) as caught:
            session.fetch_token(strict_issuer.url + "/auth/jwt", grant_type="client_credentials")
        errors.append(caught.value.error)
    assert errors == ["invalid_client"] * 3 + ["temporarily_unavailable"]


def test_the_lockout_on_the_wire(strict_issuer):
    client_id, _ = strict_issuer.proxy_key("ApiProxy", "orders")
    form = {"grant_type": "client_credentials", "client_id": client_id}
    for _ in range(3):
        refused = requests.post(
            strict_issuer.url + "/auth/jwt", data=form | {"client_secret": "x"}, timeout=10
        )
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="gatekey"'
    locked = requests.post(
        strict_issuer.url + "/auth/jwt", data=form | {"client_secret": "x"}, timeout=10
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "temporarily_unavailable"
    assert int(locked.headers["Retry-After"]) > 0
