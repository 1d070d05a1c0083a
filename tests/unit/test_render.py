"""Render: CRs + existing Secrets -> the labelled Secrets and ConfigMaps of docs/contract.md."""

import json
from datetime import timedelta
from typing import Any

import pytest

from gatekey.operator import contract
from gatekey.operator.signing_keys import SigningKey
from tests.unit.helpers import (
    ALGORITHMS,
    NOW,
    FakeEntropy,
    credential_doc,
    do_render,
    policy_doc,
    role_doc,
)

PROXY_KEY = "apiproxy-orders-proxy-key"


def data(obj: dict[str, Any]) -> dict[str, str]:
    """Decoded values of a rendered Secret, or the data of a ConfigMap."""
    return contract.secret_values(obj) if obj["kind"] == "Secret" else obj["data"]


def owners(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    refs = obj["metadata"].get("ownerReferences", [])
    return [(r["kind"], r["name"], r["uid"]) for r in refs]


def names(rendered) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}


def full_render():
    return do_render(
        policy_doc("orders-jwt", grantTypes=["password"], userPool={"secretName": "users"}),
        policy_doc("orders-token", "OAuth2"),
        policy_doc("acl-jwt", target="ProxyGroup/shop", management="ACL"),
        credential_doc(
            "svc",
            "ProxyGroup/shop",
            claims=[
                {"key": "tier", "value": "gold"},
                {"key": "pin", "value": "1234", "secret": True},
                {"key": "api", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "k"}}},
            ],
        ),
        role_doc("orders.read", {"kind": "Credential", "name": "svc"}),
        secrets={"users": {"htpasswd": "alice:$2b$x\n"}, "vault": {"k": "from-vault"}},
    )


# Labels, annotations, owners -------------------------------------------------------


def test_every_object_is_labelled():
    rendered = full_render()
    assert len(rendered.objects) >= 10
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels[contract.COMPONENT_LABEL] == "issuer-config"
        assert labels[contract.FORMAT_LABEL] == "1"
        assert obj["metadata"]["namespace"] == "default"
        assert contract.config_kind(obj) is not None
        assert obj["apiVersion"] == "v1"


def test_generated_objects_carry_provenance_and_owner():
    rendered = full_render()
    expected = {
        ("ConfigMap", "gatekey-authpolicy-orders-jwt"): ("AuthPolicy", "orders-jwt"),
        ("ConfigMap", "gatekey-credential-svc"): ("Credential", "svc"),
        ("ConfigMap", "gatekey-role-orders.read"): ("Role", "orders.read"),
        ("Secret", "svc-credentials"): ("Credential", "svc"),
        ("Secret", "gatekey-credential-svc-metadata"): ("Credential", "svc"),
        ("Secret", "gatekey-userpool-users"): ("AuthPolicy", "orders-jwt"),
    }
    for (kind, name), (source_kind, source_name) in expected.items():
        obj = rendered.by_name(kind, name)
        assert obj is not None, name
        notes = obj["metadata"]["annotations"]
        assert notes[contract.SOURCE_KIND_ANNOTATION] == source_kind
        assert notes[contract.SOURCE_NAME_ANNOTATION] == source_name
        assert owners(obj) == [(source_kind, source_name, f"uid-{source_name}")]
        assert obj["metadata"]["ownerReferences"][0]["apiVersion"] == "gatekey.io/v1alpha1"


def test_config_kind_labels():
    rendered = full_render()
    kinds = {o["metadata"]["name"]: contract.config_kind(o) for o in rendered.objects}
    assert kinds[PROXY_KEY] == "proxy-key"
    assert kinds["svc-credentials"] == "credential-secret"
    assert kinds["gatekey-credential-svc-metadata"] == "credential-metadata"
    assert kinds["gatekey-userpool-users"] == "user-pool"
    assert kinds["gatekey-signing-keys"] == "signing-keys"
    assert kinds["gatekey-jwks"] == "jwks"


def test_statuses():
    statuses = full_render().statuses
    jwt = statuses[("AuthPolicy", "orders-jwt")]
    assert jwt.ready
    assert jwt.reason == "Ready"
    assert jwt.fields["endpoints"] == ["/auth/jwt"]
    assert jwt.fields["proxyKeySecretName"] == PROXY_KEY
    acl = statuses[("AuthPolicy", "acl-jwt")]
    assert acl.fields["endpoints"] == ["/credential/jwt"]
    assert "clientId" not in acl.fields
    cred = statuses[("Credential", "svc")]
    assert cred.ready
    assert cred.fields["secretName"] == "svc-credentials"
    assert cred.fields["roles"] == ["orders.read"]
    assert cred.fields["acl"] == ["ProxyGroup/shop"]
    assert statuses[("Role", "orders.read")].fields["scope"] == "orders.read"


def test_acl_mode_policy_has_no_proxy_key():
    rendered = do_render(policy_doc("p", management="ACL"))
    assert rendered.by_name("Secret", PROXY_KEY) is None
    payload = contract.payload(
        rendered.by_name("ConfigMap", "gatekey-authpolicy-p"), "authpolicy.json"
    )
    assert payload["clientId"] is None


# Proxy keys --------------------------------------------------------------------------


def test_proxy_key_generated():
    rendered = do_render(policy_doc("p"))
    key = data(rendered.by_name("Secret", PROXY_KEY))
    assert key[contract.CLIENT_ID_KEY] == "tok0001x12"
    assert key[contract.CLIENT_SECRET_KEY] == "tok0002x32"
    assert rendered.statuses[("AuthPolicy", "p")].fields["clientId"] == "tok0001x12"


def test_existing_proxy_key_adopted():
    existing = {"client_id": "mine", "client_secret": "s3cret", "note": "kept"}
    rendered = do_render(policy_doc("p"), secrets={PROXY_KEY: existing})
    obj = rendered.by_name("Secret", PROXY_KEY)
    assert data(obj) == existing
    assert obj["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] == "true"
    assert obj["metadata"]["annotations"][contract.SOURCE_NAME_ANNOTATION] == "p"
    assert "ownerReferences" not in obj["metadata"]
    assert rendered.statuses[("AuthPolicy", "p")].fields["clientId"] == "mine"


def test_explicit_proxy_key_secret_adopted():
    secrets = {"named": {"client_id": "id1", "client_secret": "pw"}}
    rendered = do_render(policy_doc("p", proxyKeySecretName="named"), secrets=secrets)
    assert rendered.by_name("Secret", PROXY_KEY) is None
    assert data(rendered.by_name("Secret", "named"))["client_id"] == "id1"


def test_adopted_proxy_key_without_secret_is_invalid():
    rendered = do_render(policy_doc("p"), secrets={PROXY_KEY: {"client_id": "x"}})
    status = rendered.statuses[("AuthPolicy", "p")]
    assert (status.ready, status.reason) == (False, "SecretInvalid")
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-p") is None


def test_generated_secret_is_owned_not_adopted():
    existing = {"client_id": "gen-id", "client_secret": "gen-secret"}
    rendered = do_render(
        policy_doc("p"), secrets={PROXY_KEY: existing}, generated=frozenset({PROXY_KEY})
    )
    obj = rendered.by_name("Secret", PROXY_KEY)
    assert data(obj) == existing
    assert contract.ADOPTED_ANNOTATION not in obj["metadata"]["annotations"]
    assert owners(obj) == [("AuthPolicy", "p", "uid-p")]


def test_jwt_and_oauth2_share_one_proxy_key():
    rendered = do_render(policy_doc("a-jwt"), policy_doc("b-token", "OAuth2"))
    keys = [o for o in rendered.objects if contract.config_kind(o) == "proxy-key"]
    assert len(keys) == 1
    assert owners(keys[0]) == [
        ("AuthPolicy", "a-jwt", "uid-a-jwt"),
        ("AuthPolicy", "b-token", "uid-b-token"),
    ]
    assert keys[0]["metadata"]["annotations"][contract.SOURCE_NAME_ANNOTATION] == "a-jwt,b-token"
    ids = {rendered.statuses[("AuthPolicy", n)].fields["clientId"] for n in ("a-jwt", "b-token")}
    assert ids == {data(keys[0])["client_id"]}


def test_two_targets_cannot_share_a_proxy_key_secret():
    rendered = do_render(
        policy_doc("a", target="ApiProxy/one", proxyKeySecretName="shared"),
        policy_doc("b", target="ApiProxy/two", proxyKeySecretName="shared"),
    )
    assert rendered.statuses[("AuthPolicy", "a")].ready
    loser = rendered.statuses[("AuthPolicy", "b")]
    assert (loser.ready, loser.reason) == (False, "Conflict")
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-b") is None


# Conflicts ---------------------------------------------------------------------------


def test_conflict_older_wins():
    rendered = do_render(
        policy_doc("aaa", created="2030-01-01T00:00:10Z"),
        policy_doc("zzz", created="2030-01-01T00:00:00Z"),
    )
    assert rendered.statuses[("AuthPolicy", "zzz")].ready
    loser = rendered.statuses[("AuthPolicy", "aaa")]
    assert (loser.ready, loser.reason) == (False, "Conflict")
    assert "zzz" in loser.message
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-aaa") is None
    assert owners(rendered.by_name("Secret", PROXY_KEY)) == [("AuthPolicy", "zzz", "uid-zzz")]


def test_conflict_by_name_without_timestamps():
    rendered = do_render(policy_doc("beta"), policy_doc("alpha"))
    assert rendered.statuses[("AuthPolicy", "alpha")].ready
    assert rendered.statuses[("AuthPolicy", "beta")].reason == "Conflict"


def test_conflict_needs_same_type_management_and_target():
    rendered = do_render(
        policy_doc("a"),
        policy_doc("b", "OAuth2"),
        policy_doc("c", management="ACL"),
        policy_doc("d", target="ApiProxy/other"),
        policy_doc("e", target="ProxyGroup/orders"),
    )
    assert all(s.ready for s in rendered.statuses.values())


def test_conflict_order_does_not_depend_on_input_order():
    one = do_render(policy_doc("b"), policy_doc("a"))
    two = do_render(policy_doc("a"), policy_doc("b"))
    assert one.objects == two.objects
    assert one.statuses == two.statuses


# Credentials -----------------------------------------------------------------------------


def test_credential_secret_generated_under_default_name():
    rendered = do_render(credential_doc("svc"))
    values = data(rendered.by_name("Secret", "svc-credentials"))
    assert set(values) == {"client_id", "client_secret", "client_secret_created_at"}
    status = rendered.statuses[("Credential", "svc")]
    assert status.ready
    assert status.fields["clientId"] == values["client_id"]


def test_credential_fixed_client_id_used_when_generating():
    rendered = do_render(credential_doc("svc", clientId="svc-client"))
    assert data(rendered.by_name("Secret", "svc-credentials"))["client_id"] == "svc-client"


def test_credential_explicit_missing_secret_not_generated():
    rendered = do_render(credential_doc("svc", secretName="provided"))
    status = rendered.statuses[("Credential", "svc")]
    assert (status.ready, status.reason) == (False, "SecretMissing")
    assert "provided" in status.message
    assert rendered.objects == ()


def test_credential_explicit_secret_adopted():
    secrets = {"provided": {"client_id": "cid", "client_secret": "cs"}}
    rendered = do_render(credential_doc("svc", secretName="provided"), secrets=secrets)
    obj = rendered.by_name("Secret", "provided")
    assert data(obj) == secrets["provided"]
    assert obj["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] == "true"
    assert "ownerReferences" not in obj["metadata"]
    assert rendered.statuses[("Credential", "svc")].fields["clientId"] == "cid"


def test_adopted_secret_without_client_id_takes_spec_client_id():
    secrets = {"provided": {"client_secret": "cs"}}
    rendered = do_render(
        credential_doc("svc", secretName="provided", clientId="from-spec"), secrets=secrets
    )
    assert data(rendered.by_name("Secret", "provided")) == {
        "client_id": "from-spec",
        "client_secret": "cs",
    }


def test_credential_metadata_secret_values_stay_out_of_configmap():
    rendered = full_render()
    hidden = data(rendered.by_name("Secret", "gatekey-credential-svc-metadata"))
    assert hidden == {"pin": "1234", "api": "from-vault"}
    text = rendered.by_name("ConfigMap", "gatekey-credential-svc")["data"]["credential.json"]
    assert "1234" not in text
    assert "from-vault" not in text
    claims = {c["key"]: c for c in json.loads(text)["spec"]["claims"]}
    assert claims["tier"]["value"] == "gold"
    for key in ("pin", "api"):
        assert claims[key]["value"] is None
        assert claims[key]["valueFrom"]["secretKeyRef"] == {
            "name": "gatekey-credential-svc-metadata",
            "key": key,
        }


def test_no_metadata_secret_without_hidden_claims():
    rendered = do_render(credential_doc("svc", claims=[{"key": "tier", "value": "gold"}]))
    assert rendered.by_name("Secret", "gatekey-credential-svc-metadata") is None


def test_credential_metadata_source_missing():
    claims = [{"key": "api", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "k"}}}]
    rendered = do_render(credential_doc("svc", claims=claims))
    status = rendered.statuses[("Credential", "svc")]
    assert (status.ready, status.reason) == (False, "MetadataSecretMissing")
    assert rendered.by_name("ConfigMap", "gatekey-credential-svc") is None


def test_credential_acl_status_skips_expired_and_unserved():
    doc = credential_doc("svc", "ApiProxy/orders", "ApiProxy/nobody")
    doc["spec"]["acl"].append(
        {"kind": "ProxyGroup", "name": "g", "expiresAt": (NOW - timedelta(seconds=1)).isoformat()}
    )
    rendered = do_render(
        doc,
        policy_doc("p", management="ACL"),
        policy_doc("q", target="ProxyGroup/g", management="ACL"),
    )
    assert rendered.statuses[("Credential", "svc")].fields["acl"] == ["ApiProxy/orders"]


# User pools --------------------------------------------------------------------------------


def test_user_pool_copied():
    rendered = full_render()
    pool = rendered.by_name("Secret", "gatekey-userpool-users")
    assert data(pool) == {"htpasswd": "alice:$2b$x\n"}
    payload = contract.payload(
        rendered.by_name("ConfigMap", "gatekey-authpolicy-orders-jwt"), "authpolicy.json"
    )
    assert payload["userPoolSecretName"] == "gatekey-userpool-users"


def test_user_pool_missing():
    doc = policy_doc("p", grantTypes=["password"], userPool={"secretName": "users"})
    for secrets in ({}, {"users": {"other": "x"}}):
        rendered = do_render(doc, secrets=secrets)
        status = rendered.statuses[("AuthPolicy", "p")]
        assert (status.ready, status.reason) == (False, "UserPoolMissing")
        assert rendered.by_name("Secret", "gatekey-userpool-users") is None


def test_user_pool_copy_only_holds_htpasswd():
    secrets = {"users": {"htpasswd": "a:b", "admin-note": "do not copy"}}
    doc = policy_doc("p", grantTypes=["password"], userPool={"secretName": "users"})
    assert data(do_render(doc, secrets=secrets).by_name("Secret", "gatekey-userpool-users")) == {
        "htpasswd": "a:b"
    }


# Audience and payloads ----------------------------------------------------------------------


def test_audience_target_members_and_extras():
    rendered = do_render(
        policy_doc(
            "p",
            targetRef={"kind": "ProxyGroup", "name": "shop", "proxies": ["cart", "pay"]},
            token={"audience": ["https://api.example", "ApiProxy/cart"]},
        )
    )
    payload = contract.payload(
        rendered.by_name("ConfigMap", "gatekey-authpolicy-p"), "authpolicy.json"
    )
    assert payload["audience"] == [
        "ProxyGroup/shop",
        "ApiProxy/cart",
        "ApiProxy/pay",
        "https://api.example",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        "ApiProxy/orders",  # its own target
        "ApiProxy/cart",  # a member proxy of another policy of the namespace
        "ProxyGroup/shop",  # another policy's target in the namespace
        "default/ApiProxy/orders",  # qualified with its own namespace
        "ApiProxy/default/cart",
        "https://api.example.com",  # not a Gatekey target
        "urn:example:billing",
    ],
)
def test_audience_may_name_what_the_namespace_owns(extra):
    rendered = do_render(
        policy_doc("p", token={"audience": [extra]}),
        policy_doc(
            "shop",
            management="ACL",
            targetRef={"kind": "ProxyGroup", "name": "shop", "proxies": ["cart"]},
        ),
    )
    assert rendered.statuses[("AuthPolicy", "p")].ready
    payload = contract.payload(
        rendered.by_name("ConfigMap", "gatekey-authpolicy-p"), "authpolicy.json"
    )
    assert payload["audience"][-1] == extra


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("ApiProxy/payments", "is not a target of namespace default"),
        ("PolicyGroup/billing", "is not a target of namespace default"),
        ("evil/ApiProxy/orders", "names namespace evil"),
        ("ApiProxy/other/orders", "names namespace other"),
    ],
)
def test_audience_naming_a_target_the_namespace_does_not_own_is_refused(extra, why):
    rendered = do_render(
        policy_doc("p", "OAuth2", token={"audience": ["https://api.example", extra]}),
        policy_doc("fine", target="ApiProxy/cart"),
    )
    status = rendered.statuses[("AuthPolicy", "p")]
    assert (status.ready, status.reason, status.path) == (
        False,
        "AudienceNotOwned",
        "spec.token.audience",
    )
    assert repr(extra) in status.message
    assert why in status.message
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-p") is None
    assert rendered.by_name("Secret", PROXY_KEY) is None  # nothing of it is rendered
    assert rendered.statuses[("AuthPolicy", "fine")].ready  # the others are untouched


def test_a_refused_policy_keeps_its_proxy_key():
    key = {"client_id": "kept", "client_secret": "s"}
    rendered = do_render(
        policy_doc("p", token={"audience": ["ApiProxy/elsewhere"]}),
        secrets={PROXY_KEY: key},
        generated=frozenset({PROXY_KEY}),
    )
    assert rendered.statuses[("AuthPolicy", "p")].reason == "AudienceNotOwned"
    assert data(rendered.by_name("Secret", PROXY_KEY)) == key  # fixing it changes no key
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-p") is None  # not served


def test_a_refused_policy_does_not_take_the_slot_of_a_newer_one():
    rendered = do_render(
        policy_doc("old", created="2030-01-01T00:00:00Z", token={"audience": ["ApiProxy/x"]}),
        policy_doc("new", created="2030-01-02T00:00:00Z"),
    )
    assert rendered.statuses[("AuthPolicy", "old")].reason == "AudienceNotOwned"
    assert rendered.statuses[("AuthPolicy", "new")].ready


def test_role_payload():
    rendered = do_render(role_doc("r", {"kind": "User", "name": "alice"}, scope="orders:read"))
    payload = contract.payload(rendered.by_name("ConfigMap", "gatekey-role-r"), "role.json")
    assert payload["scope"] == "orders:read"
    assert payload["spec"]["subjects"] == [{"kind": "User", "name": "alice", "pool": None}]


def test_payloads_are_canonical_json():
    for obj in full_render().objects:
        if obj["kind"] == "ConfigMap":
            for text in obj["data"].values():
                assert text == contract.dump_json(json.loads(text))


# Idempotence -------------------------------------------------------------------------------


def test_same_inputs_render_identical_bytes():
    first = json.dumps(list(full_render().objects), sort_keys=True)
    second = json.dumps(list(full_render().objects), sort_keys=True)
    assert first == second


def test_rerender_from_own_output_is_a_fixed_point():
    docs = (
        policy_doc("p"),
        policy_doc("q", "OAuth2"),
        credential_doc("svc", claims=[{"key": "pin", "value": "1", "secret": True}]),
    )
    first = do_render(*docs)
    secrets = {
        o["metadata"]["name"]: contract.secret_values(o)
        for o in first.objects
        if o["kind"] == "Secret"
    }
    entropy = FakeEntropy()
    second = do_render(*docs, secrets=secrets, generated=frozenset(secrets), entropy=entropy)
    assert second.objects == first.objects
    assert entropy.tokens == 0
    assert entropy.keys == 0


# Signing keys ------------------------------------------------------------------------------


def signing_keys(rendered) -> list[SigningKey]:
    raw = contract.payload(rendered.by_name("Secret", "gatekey-signing-keys"), "keys.json")
    return [SigningKey.model_validate(k) for k in raw]


def jwks(rendered) -> list[dict[str, Any]]:
    return contract.payload(rendered.by_name("ConfigMap", "gatekey-jwks"), "jwks.json")["keys"]


def test_no_signing_keys_without_jwt_policy():
    rendered = do_render(policy_doc("p", "OAuth2"), credential_doc("c"), role_doc("r"))
    assert ("Secret", "gatekey-signing-keys") not in names(rendered)
    assert ("ConfigMap", "gatekey-jwks") not in names(rendered)


@pytest.mark.parametrize("management", ["Policy", "ACL"])
def test_signing_keys_with_jwt_policy(management):
    rendered = do_render(policy_doc("p", management=management))
    keys = signing_keys(rendered)
    assert [k.alg for k in keys] == ["ES256"]
    assert keys[0].not_before == NOW
    assert [k["kid"] for k in jwks(rendered)] == [keys[0].kid]


def test_conflicting_policy_algorithm_gets_no_key():
    rendered = do_render(policy_doc("a"), policy_doc("b", token={"algorithm": "EdDSA"}))
    assert [k.alg for k in signing_keys(rendered)] == ["ES256"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_renders_a_key(alg):
    rendered = do_render(policy_doc("p", token={"algorithm": alg}))
    (key,) = signing_keys(rendered)
    assert key.alg == alg
    assert key.kid
    assert key.jwk["kid"] == key.kid
    published = jwks(rendered)
    if alg.startswith("HS"):
        assert key.jwk["kty"] == "oct"
        assert published == []
    else:
        assert [k["alg"] for k in published] == [alg]
        assert "d" not in published[0]


def test_jwks_never_holds_symmetric_keys():
    rendered = do_render(
        policy_doc("a", token={"algorithm": "HS256"}),
        policy_doc("b", target="ApiProxy/two", token={"algorithm": "ES256"}),
    )
    assert sorted(k.alg for k in signing_keys(rendered)) == ["ES256", "HS256"]
    published = jwks(rendered)
    assert [k["alg"] for k in published] == ["ES256"]
    assert all(k["kty"] != "oct" for k in published)
    assert all("k" not in k for k in published)


def test_existing_signing_keys_kept():
    first = do_render(policy_doc("p"))
    secrets = {
        "gatekey-signing-keys": contract.secret_values(
            first.by_name("Secret", "gatekey-signing-keys")
        )
    }
    later = do_render(policy_doc("p"), secrets=secrets, now=NOW + timedelta(days=30))
    assert signing_keys(later) == signing_keys(first)


def test_rotation_through_render():
    first = do_render(policy_doc("p"))
    secrets = {
        "gatekey-signing-keys": contract.secret_values(
            first.by_name("Secret", "gatekey-signing-keys")
        )
    }
    entropy = FakeEntropy()
    entropy.keys = 100
    later = do_render(
        policy_doc("p"), secrets=secrets, now=NOW + timedelta(days=90), entropy=entropy
    )
    old, new = signing_keys(later)
    assert old == signing_keys(first)[0]
    assert new.kid == "es256-101"
    assert new.not_before > NOW + timedelta(days=90)
    assert {k["kid"] for k in jwks(later)} == {old.kid, new.kid}


def test_a_metadata_key_equal_to_a_renamed_response_field_is_refused():
    renamed = {"response": {"fieldNames": {"refresh_token": "renew"}}}
    claims = [{"key": "tier", "value": "gold"}, {"key": "renew", "value": "x"}]
    out = do_render(
        policy_doc(
            "shop", "OAuth2", target="ProxyGroup/shop", management="ACL", tokenManagement=renamed
        ),
        policy_doc("other", "JWT", target="ApiProxy/other", management="ACL"),
        credential_doc("svc", "ProxyGroup/shop", claims=claims),
        credential_doc("elsewhere", "ApiProxy/other", claims=claims),
    )
    status = out.statuses[("Credential", "svc")]
    assert (status.ready, status.reason, status.path) == (
        False,
        "ResponseFieldClash",
        "spec.claims.1.key",
    )
    assert out.by_name("ConfigMap", "gatekey-credential-svc") is None
    assert out.by_name("Secret", "svc-credentials") is not None  # kept for the fix
    # A Credential whose ACL reaches no renaming policy is not concerned.
    assert out.statuses[("Credential", "elsewhere")].ready
