"""The resource model: the defaults and rules of docs/contract.md, and where a bad
manifest is reported."""

import base64
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekey.operator.model import (
    AuthPolicy,
    Credential,
    ManifestError,
    Role,
    Secret,
    TokenManagement,
    TokenManagementOverride,
    duration_seconds,
    parse_document,
    resource_key,
)
from gatekey.operator.model.credential import RESERVED_CLAIM_NAMES, Claim
from tests.unit.helpers import ALGORITHMS, credential_doc, parse, policy_doc, role_doc


def error_of(doc: Any, source: str = "dir/file.yaml", index: str = "3") -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_document(doc, source, index)
    return caught.value


def with_spec(doc: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {**doc, "spec": {**doc["spec"], **spec}}


# AuthPolicy ------------------------------------------------------------------


def test_authpolicy_defaults():
    policy: AuthPolicy = parse(policy_doc("p"))
    spec = policy.spec
    assert spec.type == "JWT"
    assert spec.management == "Policy"
    assert spec.target_ref.kind == "ApiProxy"
    assert spec.target_ref.name == "orders"
    assert spec.target_ref.proxies == ()
    assert spec.proxy_key_secret_name is None
    assert policy.proxy_key_secret_name == "apiproxy-orders-proxy-key"
    assert spec.grant_types == ("client_credentials",)
    assert spec.user_pool is None
    assert spec.allow_url_parameters is False
    assert spec.token.ttl == "1h"
    assert spec.token.ttl_seconds == 3600
    assert spec.token.immortal is False
    assert spec.token.refresh.enabled is False
    assert spec.token.refresh.ttl == "24h"
    assert spec.token.refresh.max_count == 0
    assert spec.token.revoke_previous is False
    assert spec.token.algorithm == "ES256"
    assert spec.token.audience == ()
    assert spec.token_management is None
    assert policy.metadata.namespace == "default"


def test_authpolicy_endpoints_by_type_and_management():
    assert parse(policy_doc("a", "JWT")).endpoints == ("/auth/jwt",)
    assert parse(policy_doc("b", "OAuth2")).endpoints == ("/auth/token",)
    acl = parse(policy_doc("c", "JWT", management="ACL"))
    assert acl.endpoints == ("/credential/jwt",)
    assert parse(policy_doc("d", "OAuth2", management="ACL")).endpoints == ("/credential/token",)


def test_proxy_key_secret_name_default_is_lower_case():
    policy = parse(policy_doc("p", target="ProxyGroup/billing"))
    assert policy.proxy_key_secret_name == "proxygroup-billing-proxy-key"
    policy = parse(policy_doc("p", target="PolicyGroup/all.apis"))
    assert policy.proxy_key_secret_name == "policygroup-all.apis-proxy-key"


def test_proxy_key_secret_name_explicit():
    policy = parse(policy_doc("p", proxyKeySecretName="my-key"))
    assert policy.proxy_key_secret_name == "my-key"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_accepted(alg):
    assert parse(policy_doc("p", token={"algorithm": alg})).spec.token.algorithm == alg


def test_unknown_algorithm_rejected():
    error = error_of(policy_doc("p", token={"algorithm": "none"}))
    assert error.path == "spec.token.algorithm"


def test_password_grant_requires_user_pool():
    error = error_of(policy_doc("p", grantTypes=["password"]))
    assert error.path == "spec"
    assert "userPool" in error.message
    ok = parse(policy_doc("p", grantTypes=["password"], userPool={"secretName": "users"}))
    assert ok.spec.user_pool.secret_name == "users"


def test_grant_types_deduplicated_and_not_empty():
    policy = parse(policy_doc("p", grantTypes=["client_credentials", "client_credentials"]))
    assert policy.spec.grant_types == ("client_credentials",)
    assert error_of(policy_doc("p", grantTypes=[])).path == "spec.grantTypes"
    assert error_of(policy_doc("p", grantTypes=["implicit"])).path.startswith("spec.grantTypes")


def test_proxies_only_for_groups():
    doc = policy_doc("p", targetRef={"kind": "ApiProxy", "name": "a", "proxies": ["b"]})
    assert "proxies" in error_of(doc).message
    for kind in ("ProxyGroup", "PolicyGroup"):
        ref = {"kind": kind, "name": "g", "proxies": ["a", "b"]}
        assert parse(policy_doc("p", targetRef=ref)).spec.target_ref.proxies == ("a", "b")


def test_target_kind_and_type_validated():
    doc = policy_doc("p", targetRef={"kind": "Service", "name": "a"})
    assert error_of(doc).path == "spec.targetRef.kind"
    assert error_of(policy_doc("p", "SAML")).path == "spec.type"
    assert error_of(policy_doc("p", management="Both")).path == "spec.management"


def test_required_fields():
    doc = policy_doc("p")
    del doc["spec"]["type"]
    assert error_of(doc).path == "spec.type"
    assert error_of(policy_doc("p", targetRef={"kind": "ApiProxy"})).path == "spec.targetRef.name"
    no_name = {**policy_doc("p"), "metadata": {}}
    assert error_of(no_name).path == "metadata.name"


def test_target_and_audience():
    policy = parse(policy_doc("p", target="ProxyGroup/g"))
    assert policy.target.audience == "ProxyGroup/g"
    assert policy.target.namespace == "default"


# Durations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("1h30m", 5400), ("0s", 0)],
)
def test_duration_accepted(value, seconds):
    assert parse(policy_doc("p", token={"ttl": value})).spec.token.ttl_seconds == seconds
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["1", "h", "1w", "-1h", "1.5h", "", " 1h", "1H", "1h ", "1h\n"])
def test_duration_rejected(value):
    assert error_of(policy_doc("p", token={"ttl": value})).path == "spec.token.ttl"


def test_refresh_duration_and_count_validated():
    bad_ttl = policy_doc("p", token={"refresh": {"ttl": "soon"}})
    assert error_of(bad_ttl).path == "spec.token.refresh.ttl"
    bad_count = policy_doc("p", token={"refresh": {"maxCount": -1}})
    assert error_of(bad_count).path == "spec.token.refresh.maxCount"


def test_refresh_grace_period_is_short():
    assert parse(policy_doc("p")).spec.token.refresh.reuse_grace_period == "0s"
    fine = policy_doc("p", token={"refresh": {"reuseGracePeriod": "5m"}})
    assert parse(fine).spec.token.refresh.reuse_grace_period == "5m"
    for doc in (policy_doc, credential_doc):
        error = error_of(doc("p", token={"refresh": {"reuseGracePeriod": "5m1s"}}))
        assert error.path == "spec.token.refresh.reuseGracePeriod"
        assert "at most 5m" in error.message


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from("smhd")), min_size=1))
def test_duration_seconds_matches_reference(parts):
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert duration_seconds(text) == sum(n * _UNITS[unit] for n, unit in parts)
    assert re.fullmatch(r"([0-9]+[smhd])+", text)


# ManifestError ----------------------------------------------------------------


def test_error_names_file_index_and_path():
    error = error_of(policy_doc("p", token={"ttl": "forever"}), "team/a.yaml", "2")
    text = str(error)
    assert "team/a.yaml" in text
    assert "[2]" in text
    assert "spec.token.ttl" in text
    assert (error.source, error.index, error.path) == ("team/a.yaml", "2", "spec.token.ttl")


def test_error_path_includes_list_index():
    doc = credential_doc("c", claims=[{"key": "ok", "value": "1"}, {"key": "sub", "value": "x"}])
    error = error_of(doc)
    assert error.path == "spec.claims.1"
    assert "reserved" in error.message


def test_not_a_mapping_is_an_error():
    error = error_of(["a", "list"], "x.yaml", "0")
    assert error.source == "x.yaml"
    assert "mapping" in str(error)


@pytest.mark.parametrize(
    "where",
    [
        ("spec",),
        ("spec", "token"),
        ("spec", "token", "refresh"),
        ("spec", "targetRef"),
    ],
)
def test_unknown_field_rejected(where):
    doc = policy_doc("p", token={"refresh": {}})
    node = doc
    for part in where:
        node = node[part]
    node["surprise"] = 1
    assert error_of(doc).path == ".".join([*where, "surprise"])


def test_unknown_top_level_field_rejected():
    assert error_of({**role_doc("r"), "extra": {}}).path == "extra"


def test_unknown_metadata_fields_ignored():
    doc = policy_doc("p")
    doc["metadata"] |= {"resourceVersion": "7", "managedFields": [], "namespace": "team"}
    assert parse(doc).metadata.namespace == "team"


def test_snake_case_spelling_rejected():
    assert error_of(policy_doc("p", allow_url_parameters=True)).path == "spec.allow_url_parameters"


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}},
        {"apiVersion": "gatekey.io/v2", "kind": "AuthPolicy", "metadata": {"name": "p"}},
        {"kind": "Credential"},
        {},
        None,
    ],
)
def test_other_kinds_ignored(doc):
    assert parse_document(doc, "f.yaml", "0") is None
    assert resource_key(doc) is None


def test_resource_key():
    doc = policy_doc("p")
    assert resource_key(doc) == ("AuthPolicy", "default", "p")
    doc["metadata"]["namespace"] = "team"
    assert resource_key(doc) == ("AuthPolicy", "team", "p")


def test_unhashable_api_version_is_not_a_crash():
    doc = {"apiVersion": ["gatekey.io/v1alpha1"], "kind": "AuthPolicy", "metadata": {"name": "a"}}
    assert parse_document(doc, "f.yaml", "0") is None
    assert resource_key(doc) is None
    assert resource_key({"apiVersion": "v1", "kind": {"a": 1}}) is None


# Credential ------------------------------------------------------------------


def test_credential_defaults():
    cred: Credential = parse(
        {"apiVersion": "gatekey.io/v1alpha1", "kind": "Credential", "metadata": {"name": "c"}}
    )
    spec = cred.spec
    assert cred.secret_name == "c-credentials"
    assert cred.secret_named_explicitly is False
    assert spec.client_id is None
    assert spec.acl == ()
    assert spec.token.grant_types == ("client_credentials",)
    assert spec.token.ttl == "1h"
    assert spec.token.immortal is False
    assert spec.token.refresh.enabled is False
    assert spec.token.refresh.ttl == "24h"
    assert spec.token.refresh.max_count == 0
    assert spec.token.revoke_previous is False
    assert spec.claims == ()
    assert spec.disabled is False
    assert spec.expires_at is None


def test_credential_explicit_secret_name():
    cred = parse(credential_doc("c", secretName="mine"))
    assert cred.secret_name == "mine"
    assert cred.secret_named_explicitly is True


def test_credential_acl_and_expiry():
    doc = credential_doc("c", "ApiProxy/orders", expiresAt="2031-01-01T00:00:00Z")
    doc["spec"]["acl"].append({"kind": "ProxyGroup", "name": "g", "expiresAt": "2030-06-01"})
    cred = parse(doc)
    assert [(e.kind, e.name) for e in cred.spec.acl] == [
        ("ApiProxy", "orders"),
        ("ProxyGroup", "g"),
    ]
    assert cred.spec.acl[0].expires_at is None
    assert cred.spec.acl[1].expires_at.year == 2030
    assert cred.spec.expires_at == datetime(2031, 1, 1, tzinfo=UTC)


def test_credential_accepts_yaml_timestamp():
    stamp = datetime(2031, 1, 1, tzinfo=UTC)
    assert parse(credential_doc("c", expiresAt=stamp)).spec.expires_at == stamp


def test_credential_acl_kind_validated():
    doc = credential_doc("c")
    doc["spec"]["acl"] = [{"kind": "Service", "name": "a"}]
    assert error_of(doc).path == "spec.acl.0.kind"


def test_claim_defaults():
    cred = parse(credential_doc("c", claims=[{"key": "tier", "value": "gold"}]))
    (claim,) = cred.spec.claims
    assert claim.secret is False
    assert claim.include_in_jwt is True
    assert claim.include_in_token_response is False
    assert claim.claim_name is None
    assert claim.jwt_name == "tier"
    assert claim.in_jwt is True


def test_claim_number_value_becomes_text():
    cred = parse(credential_doc("c", claims=[{"key": "level", "value": 3}]))
    assert cred.spec.claims[0].value == "3"


@pytest.mark.parametrize(
    "name",
    sorted(RESERVED_CLAIM_NAMES | {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope"}),
)
def test_reserved_claim_names_rejected(name):
    as_key = credential_doc("c", claims=[{"key": name, "value": "x"}])
    assert "reserved" in error_of(as_key).message
    as_claim_name = credential_doc("c", claims=[{"key": "k", "value": "x", "claimName": name}])
    assert "reserved" in error_of(as_claim_name).message


def test_reserved_names_cover_the_rfcs():
    rfc7519 = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
    rfc6749 = {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    rfc9068 = {"auth_time", "acr", "amr", "roles", "groups", "entitlements", "client_id"}
    rfc8693 = {"act", "may_act"}
    pop = {"cnf"}  # RFC 7800, RFC 9449
    oidc = {"azp", "nonce", "at_hash", "c_hash", "sid"}
    rfc7662 = {"active", "token_type", "username"}
    header = {"typ", "kid", "alg"}
    assert rfc7519 | rfc6749 | rfc9068 | rfc8693 | pop | oidc | rfc7662 | header <= (
        RESERVED_CLAIM_NAMES
    )


@pytest.mark.parametrize("name", ["Roles", "GROUPS", "Scope", "Client_Id", "CNF", "Act"])
def test_reserved_names_are_compared_without_case(name):
    """A consumer that maps claims case-insensitively must not read metadata as ``roles``."""
    error = error_of(credential_doc("c", claims=[{"key": name, "value": "admin"}]))
    assert error.source == "dir/file.yaml"
    assert error.path == "spec.claims.0"
    assert f"{name!r} is a reserved claim" in error.message
    renamed = credential_doc("c", claims=[{"key": "team", "value": "x", "claimName": name}])
    assert f"{name!r} is a reserved claim" in error_of(renamed).message


@pytest.mark.parametrize("name", ["role", "group_name", "tier", "actor", "scopes_note", "email"])
def test_names_near_reserved_ones_stay_allowed(name):
    cred = parse(credential_doc("c", claims=[{"key": name, "value": "x"}]))
    assert cred.spec.claims[0].jwt_name == name


@pytest.mark.parametrize(
    "value",
    [
        "ApiProxy/orders",
        "ProxyGroup/a.b",
        "ns/PolicyGroup/g",
        "ApiProxy/ns/orders",
        "https://api.example.com/ApiProxy/x",
        "orders",
        "urn:x:ApiProxy",
        "a/b/ApiProxy/c",
    ],
)
def test_audience_values_in_a_valid_form(value):
    policy = parse(policy_doc("p", token={"audience": [value]}))
    assert policy.spec.token.audience == (value,)


@pytest.mark.parametrize(
    "value",
    [
        "ApiProxy",
        "ApiProxy/",
        "ApiProxy/Orders",
        "ProxyGroup/a_b",
        "ns/ApiProxy/",
        "NS/ApiProxy/x",
        "ApiProxy/a/b/c",
        "PolicyGroup/ns/",
    ],
)
def test_audience_value_naming_a_target_kind_needs_a_valid_name(value):
    error = error_of(policy_doc("p", token={"audience": ["https://ok.example", value]}))
    assert error.path == "spec.token.audience.1"
    assert f"audience value {value!r} names a target kind" in error.message


def test_claim_needs_exactly_one_of_value_and_value_from():
    ref = {"secretKeyRef": {"name": "s", "key": "k"}}
    neither = credential_doc("c", claims=[{"key": "k"}])
    both = credential_doc("c", claims=[{"key": "k", "value": "v", "valueFrom": ref}])
    for doc in (neither, both):
        assert "exactly one" in error_of(doc).message
    only_ref = parse(credential_doc("c", claims=[{"key": "k", "valueFrom": ref}]))
    assert only_ref.spec.claims[0].value_from.secret_key_ref.key == "k"


def test_secret_claim_never_in_jwt():
    plain = Claim(key="k", value="v")
    secret = Claim(key="k", value="v", secret=True)
    secret_forced = Claim(key="k", value="v", secret=True, include_in_jwt=True)
    opted_out = Claim(key="k", value="v", include_in_jwt=False)
    assert plain.in_jwt is True
    assert secret.in_jwt is False
    assert secret_forced.in_jwt is False
    assert opted_out.in_jwt is False


def test_claim_keys_unique():
    doc = credential_doc("c", claims=[{"key": "a", "value": "1"}, {"key": "a", "value": "2"}])
    assert "unique" in error_of(doc).message


def test_two_claims_under_one_jwt_name_rejected():
    claims = [{"key": "a", "value": "1"}, {"key": "b", "value": "2", "claimName": "a"}]
    assert "JWT claim name" in error_of(credential_doc("c", claims=claims)).message
    claims[1]["secret"] = True
    assert len(parse(credential_doc("c", claims=claims)).spec.claims) == 2


def test_claim_key_characters():
    doc = credential_doc("c", claims=[{"key": "has space", "value": "1"}])
    assert error_of(doc).path == "spec.claims.0.key"


def test_credential_grant_types():
    cred = parse(credential_doc("c", token={"grantTypes": ["password", "client_credentials"]}))
    assert cred.spec.token.grant_types == ("password", "client_credentials")
    assert error_of(credential_doc("c", token={"grantTypes": []})).path == "spec.token.grantTypes"


def test_credential_client_id_printable():
    assert parse(credential_doc("c", clientId="svc-client")).spec.client_id == "svc-client"
    assert error_of(credential_doc("c", clientId="has space")).path == "spec.clientId"


# Role ----------------------------------------------------------------------


def test_role_defaults():
    role: Role = parse(role_doc("orders.read"))
    assert role.scope == "orders.read"
    assert role.spec.scope is None
    assert role.spec.description == ""
    assert role.spec.subjects == ()
    bare = parse({"apiVersion": "gatekey.io/v1alpha1", "kind": "Role", "metadata": {"name": "r"}})
    assert bare.scope == "r"
    assert bare.spec.subjects == ()


def test_role_explicit_scope():
    assert parse(role_doc("r", scope="orders:read")).scope == "orders:read"


@pytest.mark.parametrize("scope", ["two words", 'quote"', "back\\slash", ""])
def test_role_scope_characters(scope):
    assert error_of(role_doc("r", scope=scope)).path == "spec.scope"


def test_role_subjects():
    role = parse(
        role_doc(
            "r",
            {"kind": "User", "name": "alice", "pool": "users"},
            {"kind": "Credential", "name": "svc"},
            {"kind": "ProxyGroup", "name": "g"},
        )
    )
    assert [(s.kind, s.name, s.pool) for s in role.spec.subjects] == [
        ("User", "alice", "users"),
        ("Credential", "svc", None),
        ("ProxyGroup", "g", None),
    ]


def test_role_pool_only_for_users():
    doc = role_doc("r", {"kind": "Credential", "name": "svc", "pool": "users"})
    assert "pool" in error_of(doc).message
    assert error_of(role_doc("r", {"kind": "Group", "name": "x"})).path == "spec.subjects.0.kind"


# Secret ----------------------------------------------------------------------


def secret(**fields: Any) -> Secret:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}
    return parse(doc)


def test_secret_data_decoded():
    encoded = base64.b64encode(b"alice:$2b$hash").decode()
    assert secret(data={"htpasswd": encoded}).values() == {"htpasswd": "alice:$2b$hash"}


def test_secret_string_data_over_data():
    values = secret(
        data={"a": base64.b64encode(b"old").decode(), "b": base64.b64encode(b"kept").decode()},
        stringData={"a": "new"},
    ).values()
    assert values == {"a": "new", "b": "kept"}


def test_secret_bad_base64_rejected():
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "!!"}}
    assert "base64" in error_of(doc).message


def test_secret_non_utf8_rejected():
    raw = base64.b64encode(b"\xff\xfe").decode()
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": raw}}
    assert "data.k" in error_of(doc).message


def test_secret_ignores_unknown_fields():
    assert secret(immutable=True, stringData={"a": "b"}).values() == {"a": "b"}


# Token Management Settings ---------------------------------------------------------


def test_token_management_defaults():
    settings = TokenManagement()
    assert settings.scope.on_mismatch == "Strict"
    assert settings.scope.when_not_requested == "None"
    assert settings.scope.reject_when_no_roles is False
    assert settings.response.expires_in_unit == "seconds"
    for field in ("access_token", "token_type", "expires_in", "refresh_token", "scope"):
        assert settings.response.name(field) == field
    for field in ("token_type", "expires_in", "refresh_token", "scope"):
        assert settings.response.includes(field) is True


def test_partial_override_keeps_other_defaults():
    override = TokenManagementOverride.model_validate(
        {
            "scope": {"whenNotRequested": "All"},
            "response": {"fieldNames": {"access_token": "token"}, "include": {"scope": False}},
        }
    )
    settings = TokenManagement().overridden(override)
    assert settings.scope.when_not_requested == "All"
    assert settings.scope.on_mismatch == "Strict"
    assert settings.scope.reject_when_no_roles is False
    assert settings.response.name("access_token") == "token"
    assert settings.response.name("token_type") == "token_type"
    assert settings.response.includes("scope") is False
    assert settings.response.includes("expires_in") is True
    assert settings.response.expires_in_unit == "seconds"


def test_override_layers_over_non_default_base():
    base = TokenManagement().overridden(
        TokenManagementOverride.model_validate(
            {
                "scope": {"onMismatch": "Lenient"},
                "response": {"expiresInUnit": "milliseconds", "fieldNames": {"scope": "roles"}},
            }
        )
    )
    layered = base.overridden(
        TokenManagementOverride.model_validate({"response": {"fieldNames": {"expires_in": "ttl"}}})
    )
    assert layered.scope.on_mismatch == "Lenient"
    assert layered.response.expires_in_unit == "milliseconds"
    assert layered.response.name("scope") == "roles"
    assert layered.response.name("expires_in") == "ttl"
    assert base.overridden(None) is base


def test_policy_token_management_override_parsed():
    policy = parse(
        policy_doc(
            "p",
            tokenManagement={"scope": {"rejectWhenNoRoles": True}, "response": {}},
        )
    )
    settings = TokenManagement().overridden(policy.spec.token_management)
    assert settings.scope.reject_when_no_roles is True
    assert settings.scope.on_mismatch == "Strict"


def test_token_management_unknown_names_rejected():
    doc = policy_doc("p", tokenManagement={"response": {"fieldNames": {"id_token": "x"}}})
    assert error_of(doc).path.startswith("spec.tokenManagement.response.fieldNames")
    doc = policy_doc("p", tokenManagement={"response": {"include": {"access_token": False}}})
    assert error_of(doc).path.startswith("spec.tokenManagement.response.include")
    doc = policy_doc("p", tokenManagement={"scope": {"onMismatch": "Loose"}})
    assert error_of(doc).path == "spec.tokenManagement.scope.onMismatch"


# Properties --------------------------------------------------------------------

_FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "type",
    "management",
    "targetRef",
    "proxies",
    "grantTypes",
    "userPool",
    "secretName",
    "token",
    "ttl",
    "refresh",
    "enabled",
    "maxCount",
    "algorithm",
    "audience",
    "tokenManagement",
    "scope",
    "response",
    "claims",
    "key",
    "value",
    "valueFrom",
    "secretKeyRef",
    "acl",
    "subjects",
    "pool",
    "data",
    "stringData",
    "expiresAt",
    "creationTimestamp",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "gatekey.io/v1alpha1",
            "v1",
            "AuthPolicy",
            "Credential",
            "Role",
            "Secret",
            "JWT",
            "OAuth2",
            "ApiProxy",
            "1h",
            "password",
            "a",
        ]
    ),
    st.datetimes(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(_FIELD_NAMES), st.text(max_size=5)), inner, max_size=5
        ),
    ),
    max_leaves=25,
)
_KINDS = st.sampled_from(
    [("gatekey.io/v1alpha1", k) for k in ("AuthPolicy", "Credential", "Role")] + [("v1", "Secret")]
)


@st.composite
def documents(draw: st.DrawFn) -> dict[Any, Any]:
    doc = draw(st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES, max_size=6))
    if draw(st.booleans()):
        api_version, kind = draw(_KINDS)
        doc |= {"apiVersion": api_version, "kind": kind}
        if draw(st.booleans()):
            doc["metadata"] = {"name": draw(st.sampled_from(["a", "b.c", "Bad", ""]))}
    return doc


@settings(max_examples=300, deadline=None)
@given(documents())
def test_parse_never_raises_anything_else(doc):
    try:
        parsed = parse_document(doc, "fuzz.yaml", "0")
    except ManifestError as error:
        parsed, problem = None, str(error)
    else:
        problem = None
    if problem is not None:
        assert problem.startswith("fuzz.yaml[0]")
        return
    assert parsed is None or isinstance(parsed, AuthPolicy | Credential | Role | Secret)
    if isinstance(parsed, Secret):
        assert isinstance(parsed.values(), dict)
    if parsed is not None:
        meta = parsed.metadata
        assert resource_key(doc) == (parsed.kind, meta.namespace, meta.name)


def test_unquoted_yaml_timestamp_without_zone_is_utc():
    import yaml

    doc = yaml.safe_load(
        "apiVersion: gatekey.io/v1alpha1\nkind: Credential\nmetadata: {name: c}\n"
        "spec: {expiresAt: 2030-01-02 03:04:05}\n"
    )
    cred = parse_document(doc, "c.yaml", "0")
    assert cred.spec.expires_at.tzinfo is not None
    assert cred.spec.expires_at.isoformat() == "2030-01-02T03:04:05+00:00"


def test_status_from_kubectl_output_is_ignored():
    doc = {
        "apiVersion": "gatekey.io/v1alpha1",
        "kind": "Role",
        "metadata": {"name": "r"},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    role = parse_document(doc, "r.yaml", "0")
    assert "status" not in role.model_dump(by_alias=True)


def test_the_reference_lists_every_reserved_name():
    text = (Path(__file__).parents[2] / "docs" / "reference.md").read_text()
    start = text.index("- Credential Metadata may not use")
    bullet = text[start : text.index("\n- ", start + 1)]
    listed = {w for quoted in re.findall(r"`([^`]+)`", bullet) for w in quoted.split()}
    assert listed >= RESERVED_CLAIM_NAMES
    assert listed - RESERVED_CLAIM_NAMES <= {"key", "claimName", "Roles", "Invalid"}


_EC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}


def test_client_jwks_accepted_on_credential_and_proxy_key():
    cred = parse(credential_doc("c", jwks={"keys": [_EC_JWK | {"kid": "a", "use": "sig"}]}))
    assert cred.spec.jwks.keys[0].kid == "a"
    pol = parse(policy_doc("p", proxyKeyJwks={"keys": [_EC_JWK | {"key_ops": ["verify"]}]}))
    assert pol.spec.proxy_key_jwks.keys[0].crv == "P-256"


@pytest.mark.parametrize(
    ("jwks", "path", "message"),
    [
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "spec.jwks.keys.0.kty", "RSA"),
        ({"keys": [_EC_JWK | {"d": "private"}]}, "spec.jwks.keys.0.d", "Extra inputs"),
        ({"keys": [{"kty": "RSA", "n": "AQAB", "e": "!"}]}, "spec.jwks.keys.0.e", "pattern"),
        ({"keys": [_EC_JWK | {"x": "AAAA"}]}, "spec.jwks.keys.0", "not a usable EC"),
        ({"keys": [_EC_JWK | {"kid": "a"}, _EC_JWK | {"kid": "a"}]}, "spec.jwks", "kid"),
        ({"keys": []}, "spec.jwks.keys", "at least 1"),
        ({"keys": [_EC_JWK] * 11}, "spec.jwks.keys", "at most 10"),
    ],
)
def test_bad_client_jwks_is_a_manifest_error_with_its_field(jwks, path, message):
    error = error_of(credential_doc("c", jwks=jwks), "team/c.yaml")
    assert error.path == path
    assert message in error.message
    assert "team/c.yaml" in str(error)
