"""The issuer's Snapshot, built from render output: indexes, per-object errors, helpers."""

import copy
from datetime import timedelta
from typing import Any

import pytest

from gatekey.issuer.snapshot import ClientSecret, Snapshot, build_snapshot, parse_htpasswd
from gatekey.operator import contract
from gatekey.operator.model import Target, TokenManagement
from tests.unit.helpers import NOW, credential_doc, do_render, policy_doc, role_doc

NS = "default"
ORDERS = Target(NS, "ApiProxy", "orders")
SHOP = Target(NS, "ProxyGroup", "shop")
HTPASSWD = "# users\nalice:$2b$04$alicehash\n\nbob:$argon2id$v=19$m=65536,t=3,p=4$salt$hash\n"


def rendered_objects() -> list[dict[str, Any]]:
    return list(
        do_render(
            policy_doc(
                "orders-jwt",
                grantTypes=["client_credentials", "password"],
                userPool={"secretName": "users"},
                allowUrlParameters=True,
                tokenManagement={"scope": {"onMismatch": "Lenient"}},
            ),
            policy_doc("orders-token", "OAuth2"),
            policy_doc("shop-jwt", target="ProxyGroup/shop", management="ACL"),
            policy_doc("shop-token", "OAuth2", target="ProxyGroup/shop", management="ACL"),
            credential_doc(
                "svc",
                "ProxyGroup/shop",
                clientId="svc-client",
                claims=[
                    {"key": "tier", "value": "gold"},
                    {"key": "pin", "value": "1234", "secret": True},
                    {"key": "api", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "k"}}},
                ],
            ),
            credential_doc("other", clientId="other-client"),
            role_doc(
                "orders.read",
                {"kind": "User", "name": "alice", "pool": "users"},
                {"kind": "Credential", "name": "svc"},
                {"kind": "ApiProxy", "name": "orders"},
            ),
            role_doc("admin", {"kind": "User", "name": "alice"}, scope="admin:all"),
            secrets={"users": {"htpasswd": HTPASSWD}, "vault": {"k": "from-vault"}},
        ).objects
    )


def snapshot_of(objects: list[dict[str, Any]]) -> Snapshot:
    return build_snapshot(objects, TokenManagement())


def find(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["metadata"]["name"] == name)


def proxy_key_id(objects: list[dict[str, Any]]) -> str:
    return contract.secret_values(find(objects, "apiproxy-orders-proxy-key"))["client_id"]


# Indexes -------------------------------------------------------------------------------


def test_clean_build_has_no_errors():
    assert snapshot_of(rendered_objects()).errors == ()


def test_proxy_key_indexed_with_policies_by_type():
    objects = rendered_objects()
    snap = snapshot_of(objects)
    client_id = proxy_key_id(objects)
    assert set(snap.proxy_keys) == {client_id}
    client = snap.proxy_keys[client_id]
    assert client.target == ORDERS
    assert set(client.policies) == {"JWT", "OAuth2"}
    assert client.policies["JWT"].name == "orders-jwt"
    assert client.policies["OAuth2"].name == "orders-token"
    secret = contract.secret_values(find(objects, "apiproxy-orders-proxy-key"))["client_secret"]
    assert client.secret.matches(secret)
    assert not client.secret.matches(secret + "x")


def test_policy_view():
    snap = snapshot_of(rendered_objects())
    view = next(iter(snap.proxy_keys.values())).policies["JWT"]
    assert view.namespace == NS
    assert view.audience == ("ApiProxy/orders",)
    assert view.settings.scope.on_mismatch == "Lenient"
    assert view.settings.scope.when_not_requested == "None"
    assert view.token.ttl_seconds == 3600
    assert view.pool is not None
    assert view.pool.name == "users"
    assert set(view.pool.users) == {"alice", "bob"}
    other = next(iter(snap.proxy_keys.values())).policies["OAuth2"]
    assert other.settings == TokenManagement()
    assert other.pool is None


def test_issuer_defaults_apply_under_policy_override():
    defaults = TokenManagement.model_validate(
        {"scope": {"whenNotRequested": "All"}, "response": {"expiresInUnit": "milliseconds"}}
    )
    snap = build_snapshot(rendered_objects(), defaults)
    jwt = next(iter(snap.proxy_keys.values())).policies["JWT"]
    assert jwt.settings.scope.on_mismatch == "Lenient"
    assert jwt.settings.scope.when_not_requested == "All"
    assert jwt.settings.response.expires_in_unit == "milliseconds"


def test_acl_policies_by_target_and_type():
    snap = snapshot_of(rendered_objects())
    assert set(snap.acl_policies) == {(SHOP, "JWT"), (SHOP, "OAuth2")}
    assert snap.acl_policies[(SHOP, "JWT")].name == "shop-jwt"
    assert snap.acl_policies[(SHOP, "JWT")].spec.management == "ACL"


def test_credentials_by_client_id_with_resolved_claims():
    snap = snapshot_of(rendered_objects())
    assert set(snap.credentials) == {"svc-client", "other-client"}
    cred = snap.credentials["svc-client"]
    assert cred.name == "svc"
    assert cred.namespace == NS
    claims = {c.key: c for c in cred.claims}
    assert claims["tier"].value == "gold"
    assert claims["pin"].value == "1234"
    assert claims["pin"].in_jwt is False
    assert claims["api"].value == "from-vault"
    assert claims["api"].in_jwt is True
    assert cred.enabled_at(NOW)


def test_credential_secret_matches_rendered_secret():
    objects = rendered_objects()
    secret = contract.secret_values(find(objects, "svc-credentials"))["client_secret"]
    cred = snapshot_of(objects).credentials["svc-client"]
    assert cred.secret.matches(secret)
    assert not cred.secret.matches("")


def test_credential_enabled_at():
    objects = list(
        do_render(
            credential_doc("off", clientId="off", disabled=True),
            credential_doc("old", clientId="old", expiresAt=NOW.isoformat()),
        ).objects
    )
    snap = snapshot_of(objects)
    assert not snap.credentials["off"].enabled_at(NOW)
    assert snap.credentials["old"].enabled_at(NOW - timedelta(seconds=1))
    assert not snap.credentials["old"].enabled_at(NOW)


def test_roles_indexed_by_subject_kind():
    snap = snapshot_of(rendered_objects())
    assert snap.credential_roles[(NS, "svc")] == frozenset({"orders.read"})
    assert snap.target_roles[ORDERS] == frozenset({"orders.read"})
    assert (NS, "other") not in snap.credential_roles
    assert snap.user_scopes(NS, "users", "alice") == frozenset({"orders.read", "admin:all"})
    assert snap.user_scopes(NS, "staff", "alice") == frozenset({"admin:all"})
    assert snap.user_scopes(NS, "users", "bob") == frozenset()
    assert snap.user_scopes("elsewhere", "users", "alice") == frozenset()


def test_url_parameters():
    assert snapshot_of(rendered_objects()).url_parameters == frozenset({("Policy", "JWT")})


def test_signing_keys_and_jwks():
    snap = snapshot_of(rendered_objects())
    key = snap.signing_key(NS, "ES256", NOW)
    assert key is not None
    assert key.alg == "ES256"
    assert snap.signing_key(NS, "ES256", NOW - timedelta(seconds=1)) is None
    assert snap.signing_key(NS, "EdDSA", NOW) is None
    assert snap.signing_key("elsewhere", "ES256", NOW) is None
    assert [k["kid"] for k in snap.jwks[NS]["keys"]] == [key.kid]


def test_symmetric_keys_load_but_are_not_published():
    objects = list(do_render(policy_doc("p", token={"algorithm": "HS256"})).objects)
    snap = snapshot_of(objects)
    assert snap.signing_key(NS, "HS256", NOW).jwk["kty"] == "oct"
    assert snap.jwks == {NS: {"keys": []}}


def test_empty_snapshot():
    snap = snapshot_of([])
    assert snap.proxy_keys == {}
    assert snap.credentials == {}
    assert snap.jwks == {}
    assert snap.errors == ()


def test_unlabelled_objects_ignored():
    objects = rendered_objects()
    for obj in objects:
        obj["metadata"]["labels"] = {}
    assert snapshot_of(objects) == Snapshot()


def test_other_format_ignored():
    objects = rendered_objects()
    for obj in objects:
        obj["metadata"]["labels"][contract.FORMAT_LABEL] = "2"
    snap = snapshot_of(objects)
    assert snap.proxy_keys == {}
    assert snap.errors == ()


# Malformed objects ----------------------------------------------------------------------


def break_object(objects: list[dict[str, Any]], name: str, key: str, value: Any) -> None:
    obj = find(objects, name)
    if value is None:
        del obj["data"][key]
    else:
        obj["data"][key] = value


def errors_about(snap: Snapshot, name: str) -> list[str]:
    return [e for e in snap.errors if name in e]


def test_bad_json_policy_skipped_others_kept():
    objects = rendered_objects()
    break_object(objects, "gatekey-authpolicy-orders-token", "authpolicy.json", "{not json")
    snap = snapshot_of(objects)
    assert len(errors_about(snap, "gatekey-authpolicy-orders-token")) == 1
    assert set(next(iter(snap.proxy_keys.values())).policies) == {"JWT"}
    assert set(snap.credentials) == {"svc-client", "other-client"}


def test_missing_payload_key_skipped():
    objects = rendered_objects()
    break_object(objects, "gatekey-credential-other", "credential.json", None)
    snap = snapshot_of(objects)
    assert len(errors_about(snap, "gatekey-credential-other")) == 1
    assert set(snap.credentials) == {"svc-client"}


def test_payload_not_an_object_skipped():
    objects = rendered_objects()
    break_object(objects, "gatekey-authpolicy-shop-jwt", "authpolicy.json", "[1, 2]")
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-authpolicy-shop-jwt")
    assert set(snap.acl_policies) == {(SHOP, "OAuth2")}


def test_invalid_spec_in_payload_skipped():
    objects = rendered_objects()
    obj = find(objects, "gatekey-authpolicy-shop-token")
    payload = contract.payload(obj, "authpolicy.json")
    payload["spec"]["token"]["ttl"] = "forever"
    obj["data"]["authpolicy.json"] = contract.dump_json(payload)
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-authpolicy-shop-token")
    assert set(snap.acl_policies) == {(SHOP, "JWT")}


def test_bad_base64_secret_skipped():
    objects = rendered_objects()
    find(objects, "svc-credentials")["data"]["client_secret"] = "a"
    snap = snapshot_of(objects)
    assert errors_about(snap, "svc-credentials")
    assert errors_about(snap, "gatekey-credential-svc")
    assert set(snap.credentials) == {"other-client"}


def test_empty_credential_secret_skipped():
    objects = rendered_objects()
    find(objects, "svc-credentials")["data"]["client_secret"] = ""
    snap = snapshot_of(objects)
    assert "svc-client" not in snap.credentials
    assert errors_about(snap, "svc")


def test_empty_proxy_key_secret_refused():
    objects = rendered_objects()
    find(objects, "apiproxy-orders-proxy-key")["data"]["client_secret"] = ""
    snap = snapshot_of(objects)
    assert snap.proxy_keys == {}
    assert errors_about(snap, "apiproxy-orders-proxy-key")


def test_missing_metadata_secret_skips_credential():
    objects = [
        o for o in rendered_objects() if o["metadata"]["name"] != "gatekey-credential-svc-metadata"
    ]
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-credential-svc")
    assert set(snap.credentials) == {"other-client"}


def test_missing_proxy_key_secret_reported():
    objects = [
        o for o in rendered_objects() if o["metadata"]["name"] != "apiproxy-orders-proxy-key"
    ]
    snap = snapshot_of(objects)
    assert errors_about(snap, "apiproxy-orders-proxy-key")
    assert snap.proxy_keys == {}
    assert set(snap.acl_policies) == {(SHOP, "JWT"), (SHOP, "OAuth2")}


def test_bad_signing_keys_skipped():
    objects = rendered_objects()
    secret = find(objects, "gatekey-signing-keys")
    secret["data"] = contract.encode_data({"keys.json": '[{"kid": "x"}]'})
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-signing-keys")
    assert snap.signing_key(NS, "ES256", NOW) is None
    assert snap.jwks == {}
    assert snap.credentials


def test_bad_json_role_skipped():
    objects = rendered_objects()
    break_object(objects, "gatekey-role-admin", "role.json", "{")
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-role-admin")
    assert snap.user_scopes(NS, "users", "alice") == frozenset({"orders.read"})


@pytest.mark.parametrize(
    "payload",
    [
        "{}",
        '{"scope": "x"}',
        '{"scope": "x", "spec": {"subjects": [{"kind": "Nope", "name": "a"}]}}',
    ],
)
def test_malformed_role_payload_skipped(payload):
    objects = rendered_objects()
    break_object(objects, "gatekey-role-admin", "role.json", payload)
    snap = snapshot_of(objects)
    assert errors_about(snap, "gatekey-role-admin")
    assert snap.user_scopes(NS, "users", "alice") == frozenset({"orders.read"})


def test_broken_object_does_not_change_the_rest():
    clean = snapshot_of(rendered_objects())
    objects = rendered_objects()
    objects.append(copy.deepcopy(find(objects, "gatekey-credential-other")))
    objects[-1]["metadata"]["name"] = "gatekey-credential-broken"
    objects[-1]["data"]["credential.json"] = '{"metadata": {}}'
    snap = snapshot_of(objects)
    assert len(snap.errors) == 1
    assert snap.credentials == clean.credentials
    assert snap.proxy_keys == clean.proxy_keys


# Helpers ----------------------------------------------------------------------------------


def test_client_secret_matches():
    secret = ClientSecret.of("s3cret")
    assert secret.matches("s3cret")
    assert not secret.matches("s3cre")
    assert not secret.matches("S3CRET")
    assert not secret.matches("")
    assert ClientSecret.of("").matches("")
    assert "s3cret" not in repr(secret)


def test_parse_htpasswd():
    assert parse_htpasswd(HTPASSWD) == {
        "alice": "$2b$04$alicehash",
        "bob": "$argon2id$v=19$m=65536,t=3,p=4$salt$hash",
    }


def test_parse_htpasswd_edge_lines():
    text = "  carol:$2y$hash  \r\nno-colon-line\n#dave:$2b$x\nerin:a:b\n"
    assert parse_htpasswd(text) == {"carol": "$2y$hash", "erin": "a:b"}
    assert parse_htpasswd("") == {}


def test_duplicate_client_id_reported():
    objects = rendered_objects()
    twin = copy.deepcopy(
        [find(objects, "gatekey-credential-other"), find(objects, "other-credentials")]
    )
    for obj in twin:
        obj["metadata"]["namespace"] = "team"
    payload = contract.payload(twin[0], "credential.json")
    payload["metadata"]["namespace"] = "team"
    twin[0]["data"]["credential.json"] = contract.dump_json(payload)
    snap = snapshot_of(objects + twin)
    assert errors_about(snap, "other-client")


def test_a_metadata_key_equal_to_an_issuer_wide_response_name_is_skipped():
    # The operator rendered with the RFC names; only this issuer renames scope.
    objects = list(
        do_render(
            policy_doc("shop", "OAuth2", target="ProxyGroup/shop", management="ACL"),
            credential_doc("svc", "ProxyGroup/shop", claims=[{"key": "scopes", "value": "x"}]),
        ).objects
    )
    assert build_snapshot(objects, TokenManagement()).credentials
    renamed = TokenManagement.model_validate({"response": {"fieldNames": {"scope": "scopes"}}})
    snap = build_snapshot(objects, renamed)
    assert snap.credentials == {}
    assert snap.errors == (
        "ConfigMap default/gatekey-credential-svc: skipped "
        "(claim key 'scopes' is a configured response field)",
    )
