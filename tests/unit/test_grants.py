"""The client rules and the grants as functions (RFC 6749 §2.3, §4.3, §4.4, §6): a
Snapshot from render, an in-memory store, a recording password check; no HTTP. A rule
change shows its effect here in milliseconds."""

import time
from dataclasses import dataclass, field, replace

import pytest

from gatekey.issuer.audit import AuditEntry
from gatekey.issuer.clients import (
    Presented,
    assertion_audiences,
    authenticate,
    authenticated_caller,
    client_jwks,
)
from gatekey.issuer.domain import Chain, GrantContext
from gatekey.issuer.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from gatekey.issuer.grants import (
    ALL_GRANTS,
    GRANT_TYPES_SUPPORTED,
    GRANTS,
    METRIC_LABELS,
    client_credentials,
    password,
    refresh_token,
    regenerate,
    rules_of,
)
from gatekey.issuer.http.audited import counts_as_failure
from gatekey.issuer.http.openapi import openapi_document
from gatekey.issuer.metrics import Metrics
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import TokenRecord, token_digest
from gatekey.issuer.store.sqlite import SQLiteStore
from gatekey.issuer.verification import Verified
from gatekey.operator.model.vocabulary import BASES, ENDPOINTS, MANAGEMENT_OF_BASE, Endpoint
from tests.unit.helpers import NOW
from tests.unit.test_snapshot import rendered_objects, snapshot_of

POLICY_JWT = Endpoint("Policy", "JWT")
POLICY_OPAQUE = Endpoint("Policy", "OAuth2")
ACL_JWT = Endpoint("ACL", "JWT")


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return snapshot_of(rendered_objects())


def proxy_key(snapshot: Snapshot) -> tuple[str, str]:
    """The orders proxy key, whose secret the FakeEntropy of the helpers made."""
    (client_id,) = [c for c, k in snapshot.proxy_keys.items() if k.target.name == "orders"]
    return client_id, next(
        s for s in _candidate_secrets() if snapshot.proxy_keys[client_id].secret.matches(s)
    )


def _candidate_secrets() -> list[str]:
    return [f"tok{n:04d}x32" for n in range(1, 50)]


def secret_of(snapshot: Snapshot, client_id: str) -> str:
    view = snapshot.credentials[client_id]
    return next(s for s in _candidate_secrets() if view.secret.matches(s))


@dataclass
class Passwords:
    """A password check that records its calls: ``good`` is the only right password."""

    good: str = "wonderland"
    calls: list[tuple[str | None, str, str | None]] = field(default_factory=list)

    async def __call__(self, hashed: str | None, given: str, like: str | None = None) -> bool:
        self.calls.append((hashed, given, like))
        return hashed is not None and given == self.good


def context(snapshot, params, store=None, passwords=None, now=None):
    return GrantContext(
        snapshot,
        store or SQLiteStore(":memory:"),
        params,
        now or NOW.timestamp(),
        passwords or Passwords(),
    )


# --- client authentication --------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "grant_type", "dash_ok"),
    [
        (POLICY_JWT, "password", True),
        (POLICY_JWT, "client_credentials", False),
        (POLICY_OPAQUE, "client_credentials", False),
    ],
)
def test_the_seeds_dash_secret(snapshot, endpoint, grant_type, dash_ok):
    client_id, _ = proxy_key(snapshot)
    presented = Presented(client_id, "-", basic=False)
    if dash_ok:
        assert authenticate(snapshot, endpoint, presented, grant_type, NOW).client_id == client_id
    else:
        with pytest.raises((InvalidClient, UnauthorizedClient)):
            authenticate(snapshot, endpoint, presented, grant_type, NOW)


def test_a_wrong_secret_is_invalid_client_with_the_basic_flag(snapshot):
    client_id, _ = proxy_key(snapshot)
    with pytest.raises(InvalidClient) as refused:
        authenticate(
            snapshot,
            POLICY_JWT,
            Presented(client_id, "nope", basic=True),
            "client_credentials",
            NOW,
        )
    assert refused.value.basic


def test_a_credential_reaches_its_acl_targets_and_may_narrow(snapshot):
    presented = Presented("svc-client", secret_of(snapshot, "svc-client"), basic=False)
    client = authenticate(snapshot, ACL_JWT, presented, "client_credentials", NOW)
    assert client.audience[0] == "ProxyGroup/shop"
    narrowed = authenticate(
        snapshot, ACL_JWT, presented, "client_credentials", NOW, resource="ProxyGroup/shop"
    )
    assert narrowed.targets == client.targets
    with pytest.raises(InvalidTarget):
        authenticate(snapshot, ACL_JWT, presented, "client_credentials", NOW, resource="ApiProxy/x")


def test_a_credential_without_an_acl_mode_target_is_unauthorized(snapshot):
    presented = Presented("other-client", secret_of(snapshot, "other-client"), basic=False)
    with pytest.raises(UnauthorizedClient):
        authenticate(snapshot, ACL_JWT, presented, "client_credentials", NOW)


# --- client_credentials -------------------------------------------------------------------


async def test_client_credentials_grants_held_scopes_only(snapshot):
    client_id, secret = proxy_key(snapshot)
    client = authenticate(
        snapshot, POLICY_JWT, Presented(client_id, secret, False), "client_credentials", NOW
    )
    grant = await client_credentials.decide(client, context(snapshot, {"scope": "orders.read"}))
    assert (grant.subject, grant.scope) == (client_id, ("orders.read",))
    # The orders policy is Lenient: an unheld scope is dropped, not refused.
    lenient = await client_credentials.decide(client, context(snapshot, {"scope": "orders.read x"}))
    assert lenient.scope == ("orders.read",)


async def test_client_credentials_strict_refuses_an_unheld_scope(snapshot):
    presented = Presented("svc-client", secret_of(snapshot, "svc-client"), basic=False)
    client = authenticate(snapshot, ACL_JWT, presented, "client_credentials", NOW)
    with pytest.raises(InvalidScope):
        await client_credentials.decide(client, context(snapshot, {"scope": "admin:all"}))


# --- password ---------------------------------------------------------------------------


async def test_password_the_user_is_the_principal(snapshot):
    client_id, _ = proxy_key(snapshot)
    client = authenticate(snapshot, POLICY_JWT, Presented(client_id, "-", False), "password", NOW)
    params = {"username": "alice", "password": "wonderland", "scope": "orders.read"}
    grant = await password.decide(client, context(snapshot, params))
    assert (grant.subject, grant.username, grant.scope) == ("alice", "alice", ("orders.read",))


async def test_password_unknown_user_costs_a_decoy_check(snapshot):
    client_id, _ = proxy_key(snapshot)
    client = authenticate(snapshot, POLICY_JWT, Presented(client_id, "-", False), "password", NOW)
    checks = Passwords()
    with pytest.raises(InvalidGrant):
        await password.decide(
            client, context(snapshot, {"username": "mallory", "password": "x"}, passwords=checks)
        )
    ((hashed, given, like),) = checks.calls
    assert (hashed, given) == (None, "x")
    assert like is not None
    assert like.startswith("$2b$")  # made like the pool's first hash: same algorithm and cost


async def test_password_wrong_password_and_missing_fields(snapshot):
    client_id, _ = proxy_key(snapshot)
    client = authenticate(snapshot, POLICY_JWT, Presented(client_id, "-", False), "password", NOW)
    with pytest.raises(InvalidGrant):
        await password.decide(client, context(snapshot, {"username": "alice", "password": "no"}))
    with pytest.raises(InvalidRequest):
        await password.decide(client, context(snapshot, {"username": "alice"}))


# --- refresh and regeneration -----------------------------------------------------------


def stored_refresh(client, *, username=None, scope=("orders.read",), used=False) -> TokenRecord:
    now = NOW.timestamp()
    return TokenRecord(
        digest=token_digest("gkrt_test"),
        kind="refresh",
        chain_id="chain-1",
        grant_key="g",
        client_id=client.client_id,
        subject=username or client.client_id,
        username=username,
        scope=scope,
        audience=client.audience,
        token_type=client.endpoint.type,
        management=client.endpoint.management,
        issued_at=now,
        expires_at=now + 3600,
        chain_started_at=now,
        used=used,
        namespace=client.policy.namespace,
    )


async def refreshable(snapshot, endpoint=POLICY_JWT):
    client_id, _ = proxy_key(snapshot)
    return authenticate(snapshot, endpoint, Presented(client_id, "-", False), "password", NOW)


async def test_refresh_continues_the_chain_and_may_narrow(snapshot):
    client = await refreshable(snapshot)
    store = SQLiteStore(":memory:")
    await store.add(stored_refresh(client))
    grant = await refresh_token.decide(
        client, context(snapshot, {"refresh_token": "gkrt_test"}, store)
    )
    assert grant.chain == Chain("chain-1", NOW.timestamp(), 1, rotates=token_digest("gkrt_test"))
    assert grant.scope == ("orders.read",)
    with pytest.raises(InvalidScope):  # never wider than the original grant
        await refresh_token.decide(
            client, context(snapshot, {"refresh_token": "gkrt_test", "scope": "admin:all"}, store)
        )


async def test_refresh_of_a_used_token_revokes_the_chain(snapshot):
    client = await refreshable(snapshot)
    store = SQLiteStore(":memory:")
    await store.add(stored_refresh(client, used=True))
    with pytest.raises(InvalidGrant, match="already used"):
        await refresh_token.decide(client, context(snapshot, {"refresh_token": "gkrt_test"}, store))
    assert (await store.get(token_digest("gkrt_test"))).revoked


async def test_refresh_of_another_namespaces_token_is_unknown(snapshot):
    client = await refreshable(snapshot)
    store = SQLiteStore(":memory:")
    await store.add(stored_refresh(client)._replace(namespace="evil"))
    with pytest.raises(InvalidGrant, match="unknown"):
        await refresh_token.decide(client, context(snapshot, {"refresh_token": "gkrt_test"}, store))


def verified_token(client, *, username=None, scope=("orders.read",)) -> Verified:
    return Verified(
        token_type="JWT",
        management=client.endpoint.management,
        client_id=client.client_id,
        subject=username or client.client_id,
        username=username,
        scope=scope,
        audience=client.audience,
        issued_at=int(time.time()),
        expires_at=None,
        issuer="http://issuer/auth",
        namespace=client.policy.namespace,
    )


async def test_regenerate_keeps_only_what_is_held_now(snapshot):
    client = await refreshable(snapshot)
    old = verified_token(client, scope=("orders.read", "removed.scope"))
    grant = regenerate.decide(client, context(snapshot, {}), old)
    assert grant.scope == ("orders.read",)
    assert grant.grant_type == "regenerate"


async def test_regenerate_refuses_a_user_gone_from_the_pool(snapshot):
    client = await refreshable(snapshot)
    with pytest.raises(InvalidGrant):
        regenerate.decide(client, context(snapshot, {}), verified_token(client, username="gone"))


async def test_regenerate_refuses_another_clients_or_namespaces_token(snapshot):
    client = await refreshable(snapshot)
    other = verified_token(client)
    for change in ({"client_id": "someone"}, {"namespace": "evil"}, {"token_type": "OAuth2"}):
        forged = replace(other, **change)
        with pytest.raises(InvalidGrant):
            regenerate.decide(client, context(snapshot, {}), forged)


# --- the registry: each grant's rules as data ---------------------------------------------


def test_the_registry_names_each_grant_once_and_derives_what_is_advertised():
    assert set(ALL_GRANTS) == {"client_credentials", "password", "refresh_token", "regenerate"}
    assert all(name == rules.name for name, rules in ALL_GRANTS.items())
    assert GRANT_TYPES_SUPPORTED == ("client_credentials", "password", "refresh_token")
    assert "regenerate" not in GRANTS  # served by its own endpoint, never a grant_type
    assert frozenset(ALL_GRANTS) == METRIC_LABELS
    assert GRANTS["password"].decide is password.decide
    assert GRANTS["client_credentials"].decide is client_credentials.decide
    assert GRANTS["refresh_token"].decide is refresh_token.decide
    assert ALL_GRANTS["regenerate"] is regenerate.RULES
    assert regenerate.RULES.decide is None
    assert rules_of(None) is None
    assert rules_of("implicit") is None


# The seed's table: where ``client_secret=-`` stands in for a proxy key's secret.
DASH_TABLE = {
    ("client_credentials", "JWT"): False,
    ("client_credentials", "OAuth2"): False,
    ("password", "JWT"): True,
    ("password", "OAuth2"): True,
    ("refresh_token", "JWT"): True,
    ("refresh_token", "OAuth2"): False,
    ("regenerate", "JWT"): False,
    ("regenerate", "OAuth2"): False,
}


@pytest.mark.parametrize(("name", "token_type"), list(DASH_TABLE))
def test_each_grant_says_where_the_dash_secret_is_accepted(name, token_type):
    assert ALL_GRANTS[name].dash_allowed(token_type) is DASH_TABLE[(name, token_type)]


def _outcome(snapshot, endpoint, presented, name):
    try:
        authenticate(snapshot, endpoint, presented, name, NOW)
    except InvalidClient:
        return "invalid_client"
    except UnauthorizedClient:
        return "unauthorized_client"  # authenticated, but the grant is not allowed to it
    return "ok"


@pytest.mark.parametrize(("name", "token_type"), list(DASH_TABLE))
def test_the_dash_rule_is_what_authentication_applies(snapshot, name, token_type):
    client_id, secret = proxy_key(snapshot)
    endpoint = Endpoint("Policy", token_type)
    dash = _outcome(snapshot, endpoint, Presented(client_id, "-", False), name)
    real = _outcome(snapshot, endpoint, Presented(client_id, secret, False), name)
    assert (dash != "invalid_client") is DASH_TABLE[(name, token_type)]
    assert real != "invalid_client"
    assert dash in (real, "invalid_client")


def test_the_dash_never_authenticates_a_credential(snapshot):
    for name in ALL_GRANTS:
        with pytest.raises(InvalidClient):
            authenticate(snapshot, ACL_JWT, Presented("svc-client", "-", False), name, NOW)


def test_only_password_audits_a_user_and_counts_a_wrong_password():
    assert {n for n, r in ALL_GRANTS.items() if r.user_param} == {"password"}
    assert ALL_GRANTS["password"].user_param == "username"
    assert {n for n, r in ALL_GRANTS.items() if r.wrong_password_counts} == {"password"}


def test_only_regeneration_comes_without_a_refresh_token():
    assert {n for n, r in ALL_GRANTS.items() if not r.issues_refresh} == {"regenerate"}


def _client(snapshot, *, grant_types, refreshable):
    client_id, secret = proxy_key(snapshot)
    presented = Presented(client_id, secret, False)
    client = authenticate(snapshot, POLICY_JWT, presented, "client_credentials", NOW)
    refresh = client.token.refresh.model_copy(update={"enabled": refreshable})
    token = client.token.model_copy(update={"refresh": refresh, "immortal": False})
    return replace(client, grant_types=frozenset(grant_types), token=token)


def test_the_grant_list_gates_the_listed_grants_only(snapshot):
    client = _client(snapshot, grant_types=(), refreshable=True)
    for name in ("client_credentials", "password"):
        with pytest.raises(UnauthorizedClient, match=f"grant type {name} is not allowed"):
            ALL_GRANTS[name].authorize(client)
    ALL_GRANTS["regenerate"].authorize(client)  # any client of the JWT endpoint
    ALL_GRANTS["refresh_token"].authorize(client)  # the refresh switch, not the list
    allowed = replace(client, grant_types=frozenset({"client_credentials", "password"}))
    ALL_GRANTS["client_credentials"].authorize(allowed)
    ALL_GRANTS["password"].authorize(allowed)


def test_refresh_is_gated_by_the_refresh_switch_not_the_grant_list(snapshot):
    every = frozenset(ALL_GRANTS)
    off = _client(snapshot, grant_types=every, refreshable=False)
    with pytest.raises(UnauthorizedClient, match="token refresh is not enabled"):
        ALL_GRANTS["refresh_token"].authorize(off)
    ALL_GRANTS["refresh_token"].authorize(_client(snapshot, grant_types=(), refreshable=True))


def test_a_wrong_password_counts_toward_the_throttle_only_for_a_named_user():
    def entry(grant, username=None):
        return AuditEntry(endpoint="/auth/jwt", source="10.0.0.1", grant=grant, username=username)

    wrong = InvalidGrant("invalid username or password")
    assert counts_as_failure(wrong, entry("password", "alice"))
    assert not counts_as_failure(wrong, entry("password"))
    assert not counts_as_failure(wrong, entry("refresh_token", "alice"))
    assert not counts_as_failure(wrong, entry("bogus", "alice"))
    for grant in (*ALL_GRANTS, None, "bogus"):
        assert counts_as_failure(InvalidClient("nope"), entry(grant))


def test_the_metric_label_of_a_grant_is_its_name_and_anything_else_is_other():
    metrics = Metrics()
    for grant in ("regenerate", "password", "implicit", None):
        metrics.observe(AuditEntry(endpoint="/auth/jwt", source=None, grant=grant))
    text = metrics.exposition().decode()
    for label in ("regenerate", "password", "other", ""):
        assert f'grant="{label}",outcome="ok"' in text


def test_the_documents_advertise_the_registry():
    document = openapi_document("http://gatekey.test")
    schema = document["components"]["schemas"]["TokenRequest"]["properties"]["grant_type"]
    assert schema["enum"] == list(GRANT_TYPES_SUPPORTED)


async def test_regeneration_authenticates_with_the_real_secret_only(snapshot):
    client_id, secret = proxy_key(snapshot)
    client = authenticate(
        snapshot, POLICY_JWT, Presented(client_id, secret, False), "regenerate", NOW
    )
    assert client.secret == "current"
    with pytest.raises(InvalidClient):
        authenticate(snapshot, POLICY_JWT, Presented(client_id, "-", False), "regenerate", NOW)
    proven = Presented(client_id, None, False, key_proven=True)
    assert authenticate(snapshot, POLICY_JWT, proven, "regenerate", NOW).secret is None


# --- the vocabulary -------------------------------------------------------------------


def test_the_vocabulary_maps_modes_and_paths_both_ways():
    assert BASES == {"Policy": "/auth", "ACL": "/credential"}
    assert {MANAGEMENT_OF_BASE[b]: b for b in MANAGEMENT_OF_BASE} == BASES
    assert [e.path for e in ENDPOINTS] == [
        "/auth/jwt",
        "/auth/token",
        "/credential/jwt",
        "/credential/token",
    ]
    assert Endpoint("ACL", "OAuth2").base == "/credential"


# --- private_key_jwt: whose keys, which audiences -----------------------------------------


def test_assertion_audiences_are_the_issuer_the_endpoint_and_the_token_endpoints():
    at_token = assertion_audiences("http://i/", "ACL", "/credential/jwt")
    assert at_token == ("http://i/credential", "http://i/credential/jwt")
    at_introspect = assertion_audiences("http://i", "Policy", "/auth/introspect")
    assert at_introspect == (
        "http://i/auth",
        "http://i/auth/introspect",
        "http://i/auth/jwt",
        "http://i/auth/token",
    )


def test_client_jwks_are_the_keys_of_the_mode(snapshot):
    client_id, _ = proxy_key(snapshot)
    # No policy of the fixture has proxyKeyJwks nor a Credential jwks: none to check with.
    assert client_jwks(snapshot, "Policy", client_id, "JWT") == ()
    assert client_jwks(snapshot, "Policy", client_id, None) == ()
    assert client_jwks(snapshot, "ACL", "svc-client", None) == ()
    assert client_jwks(snapshot, "ACL", "nobody", None) == ()
    assert client_jwks(snapshot, "Policy", "svc-client", None) == ()


def test_a_proven_key_authenticates_a_caller_but_never_a_disabled_or_unknown_one(snapshot):
    proven = Presented("svc-client", None, False, key_proven=True)
    assert authenticated_caller(snapshot, "ACL", proven, NOW) == ("svc-client", None)
    with pytest.raises(InvalidClient):
        authenticated_caller(snapshot, "Policy", proven, NOW)  # not a proxy key
    with pytest.raises(InvalidClient):
        authenticated_caller(snapshot, "ACL", Presented("svc-client", None, False), NOW)
    secret = secret_of(snapshot, "svc-client")
    by_secret = Presented("svc-client", secret, False)
    assert authenticated_caller(snapshot, "ACL", by_secret, NOW) == ("svc-client", "current")
