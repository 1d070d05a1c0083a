import jwt as pyjwt
from jwcrypto import jwk, jwt

from tests.support.manifests import policy


def test_client_credentials_jwt_verifies_with_published_key(start_issuer):
    issuer = start_issuer(policy("orders-jwt"))
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    response = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    keys = jwk.JWKSet.from_json(issuer.get("/auth/.well-known/jwks.json").text)
    token = jwt.JWT(jwt=body["access_token"], key=keys, expected_type="JWS")
    assert pyjwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert '"sub":"' + client_id in token.claims.replace(" ", "")
