"""Rows 4 and 11 of the integrity rules, attacked over HTTP: regeneration re-checks what
refresh re-checks; a JWT is accepted only with an exact ``iss`` and well-typed claims;
another namespace publishing the victim's ``kid`` can neither forge nor block its tokens."""

import json
import time

import jwt
import pytest

from gatekey.operator import contract
from gatekey.operator.signing_keys import SigningKey
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role, user_pool
from tests.tenancy.conftest import in_namespace


def world_documents(with_role=True, users=None):
    documents = [
        policy(
            "orders-jwt",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
        ),
        policy("orders-acl", "JWT", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        user_pool("users", users or {"alice": "wonderland"}),
    ]
    if with_role:
        documents.append(
            role("read", "User/alice", "ApiProxy/orders", "Credential/svc", scope="orders.read")
        )
    return documents


@pytest.fixture
def world(start_issuer):
    return start_issuer(*world_documents())


def issue(issuer, path, client, **more):
    response = issuer.post(
        path,
        {
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
            **more,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def regenerate(issuer, base, client, token):
    return issuer.post(
        f"{base}/jwt/regenerate",
        {"client_id": client[0], "client_secret": client[1]},
        headers={"Authorization": f"Bearer {token}"},
    )


def rewrite(issuer, *documents):
    write_manifests(issuer.source.folder.root, *documents)
    issuer.reload()


def scope_of(token):
    return jwt.decode(token, options={"verify_signature": False}).get("scope")


@pytest.mark.parametrize(("base", "client"), [("/auth", "key"), ("/credential", "svc")])
def test_regenerate_drops_scopes_whose_role_was_removed(world, base, client):
    pair = world.proxy_key("ApiProxy", "orders") if client == "key" else world.credential("svc")
    old = issue(world, f"{base}/jwt", pair, scope="orders.read")
    assert scope_of(old) == "orders.read"
    rewrite(world, *world_documents(with_role=False))
    response = regenerate(world, base, pair, old)
    assert response.status_code == 200, response.text
    assert scope_of(response.json()["access_token"]) is None


def test_regenerate_refuses_a_user_removed_from_the_pool(world):
    key = world.proxy_key("ApiProxy", "orders")
    response = world.post(
        "/auth/jwt",
        {
            "grant_type": "password",
            "client_id": key[0],
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
        },
    )
    assert response.status_code == 200, response.text
    rewrite(world, *world_documents(users={"bob": "builder"}))
    refused = regenerate(world, "/auth", key, response.json()["access_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_regenerate_refuses_a_disabled_credential(world):
    svc = world.credential("svc")
    old = issue(world, "/credential/jwt", svc)
    documents = world_documents()
    documents[2]["spec"]["disabled"] = True
    rewrite(world, *documents)
    assert regenerate(world, "/credential", svc, old).status_code == 401


# Forged tokens: the attacker holds a signing key the issuer trusts (its own namespace's,
# or, here, the victim's from the state dir) and shapes the claims.


def signing_key(issuer, namespace="default"):
    secret = issuer.build.rendered[namespace].by_name("Secret", contract.SIGNING_KEYS_SECRET)
    raw = contract.payload(secret, contract.SIGNING_KEYS_KEY)
    return SigningKey.model_validate(raw[0])


def forge(key, claims):
    """A compact JWS of any JSON (PyJWT's ``encode`` refuses some malformed claims)."""
    return jwt.PyJWS().encode(
        json.dumps(claims).encode(),
        jwt.PyJWK(key.jwk, algorithm=key.alg).key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "at+jwt"},
    )


def good_claims(issuer, client_id):
    now = int(time.time())
    return {
        "iss": issuer.runtime.settings.issuer_url + "/auth",
        "sub": client_id,
        "client_id": client_id,
        "aud": ["ApiProxy/orders"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged",
    }


def authz(issuer, token):
    return issuer.get(
        "/authz", headers={"Authorization": f"Bearer {token}", "X-Gatekey-Proxy": "orders"}
    )


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "http://127.0.0.1:8080"},
        {"iss": "http://127.0.0.1:8080/auth/"},
        {"iss": "http://127.0.0.1:8080/authority"},
        {"iss": ["http://127.0.0.1:8080/auth"]},
        {"exp": "9999999999"},
        {"exp": True},
        {"iat": "now"},
        {"nbf": None},
        {"sub": 7},
        {"client_id": ["x"]},
        {"aud": 5},
        {"aud": ["ApiProxy/orders", 5]},
        {"scope": ["orders.read"]},
        {"jti": {"id": 1}},
    ],
)
def test_malformed_or_foreign_claims_are_401_never_500(world, change):
    key_id = world.proxy_key("ApiProxy", "orders")[0]
    claims = good_claims(world, key_id) | change
    response = authz(world, forge(signing_key(world), claims))
    assert response.status_code == 401, (change, response.status_code)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_the_forgery_harness_itself_passes_with_good_claims(world):
    """So that the 401s above are about the claims, not the harness."""
    key_id = world.proxy_key("ApiProxy", "orders")[0]
    assert authz(world, forge(signing_key(world), good_claims(world, key_id))).status_code == 200


def test_another_namespace_reusing_the_victims_kid_changes_nothing(start_issuer):
    """``evil`` publishes a signing-keys Secret whose key carries the victim's ``kid``.
    Its tokens must not pass for the victim's proxy, and the victim's tokens keep passing."""
    evil_docs = in_namespace("evil", policy("orders-jwt", "JWT"))
    issuer = start_issuer(*world_documents(), *evil_docs)
    victim_key, evil_key = signing_key(issuer), signing_key(issuer, "evil")
    assert victim_key.kid != evil_key.kid
    stolen_kid = evil_key.model_copy(update={"kid": victim_key.kid})
    # The evil namespace's keys Secret now holds its own key under the victim's kid.
    objects = list(issuer.build.objects)
    for obj in objects:
        meta = obj["metadata"]
        if (meta["namespace"], meta["name"]) == ("evil", contract.SIGNING_KEYS_SECRET):
            obj["data"] = contract.encode_data(
                {contract.SIGNING_KEYS_KEY: f"[{stolen_kid.model_dump_json(by_alias=True)}]"}
            )
    from gatekey.issuer.snapshot import build_snapshot

    issuer.runtime.snapshots.swap(build_snapshot(objects, issuer.runtime.settings.token_management))
    victim_client = issuer.proxy_key("ApiProxy", "orders")
    genuine = issue(issuer, "/auth/jwt", victim_client)
    assert authz(issuer, genuine).status_code == 200
    forged = forge(stolen_kid, good_claims(issuer, victim_client[0]))
    assert authz(issuer, forged).status_code == 401  # signed in evil, for a default client
    evil_client = issuer.proxy_key("ApiProxy", "orders", "evil")
    evil_token = forge(stolen_kid, good_claims(issuer, evil_client[0]))
    assert authz(issuer, evil_token).status_code == 403  # a valid evil token, not for default
