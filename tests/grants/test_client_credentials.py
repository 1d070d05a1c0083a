"""The client_credentials grant on the wire (RFC 6749 §4.4), with scope rules (docs/contract.md)."""

import pytest

from tests.support.manifests import policy, role


def issue(issuer, **more):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return issuer.post("/auth/jwt", body | more)


def start(start_issuer, scope_rules=None):
    settings = {"tokenManagement": {"scope": scope_rules}} if scope_rules else {}
    return start_issuer(
        policy("p", "JWT", **settings),
        role("read", "ApiProxy/orders", scope="read"),
        role("write", "ApiProxy/orders", scope="write"),
        role("admin", "ApiProxy/other", scope="admin"),
    )


def test_wrong_secret_is_invalid_client(start_issuer):
    issuer = start(start_issuer)
    response = issue(issuer, client_secret="wrong")
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }
    # RFC 9110 §15.5.2: every 401 carries a challenge, also after client_secret_post.
    assert response.headers["WWW-Authenticate"] == 'Basic realm="gatekey"'


def test_unknown_client_is_invalid_client(start_issuer):
    issuer = start(start_issuer)
    assert issue(issuer, client_id="nobody").status_code == 401


def test_proxy_key_of_a_target_without_a_policy_of_this_type(start_issuer):
    issuer = start(start_issuer)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("rules", "requested", "status", "granted"),
    [
        (None, "read", 200, "read"),
        (None, "read admin", 400, None),  # Strict
        ({"onMismatch": "Lenient"}, "read admin", 200, "read"),
        ({"onMismatch": "Ignore"}, "admin", 200, "read write"),
        (None, None, 200, ""),  # whenNotRequested: None
        ({"whenNotRequested": "All"}, None, 200, "read write"),
    ],
)
def test_scope_rules(start_issuer, rules, requested, status, granted):
    issuer = start(start_issuer, rules)
    response = issue(issuer, **({"scope": requested} if requested else {}))
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["scope"] == granted
    else:
        assert response.json()["error"] == "invalid_scope"


def test_reject_when_no_roles(start_issuer):
    issuer = start_issuer(
        policy("p", "JWT", tokenManagement={"scope": {"rejectWhenNoRoles": True}})
    )
    response = issue(issuer)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_reject_when_no_roles_has_no_effect_with_ignore(start_issuer):
    rules = {"rejectWhenNoRoles": True, "onMismatch": "Ignore"}
    issuer = start_issuer(policy("p", "JWT", tokenManagement={"scope": rules}))
    assert issue(issuer).status_code == 200


def test_unsupported_grant_type(start_issuer):
    issuer = start(start_issuer)
    response = issue(issuer, grant_type="authorization_code")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_missing_grant_type_is_invalid_request(start_issuer):
    issuer = start(start_issuer)
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post("/auth/jwt", {"client_id": client_id, "client_secret": secret})
    assert response.json()["error"] == "invalid_request"
