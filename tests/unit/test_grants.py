"""The client rules and the grants as functions (RFC 6749 §2.3, §4.3, §4.4, §6): a
Snapshot from render, an in-memory store, a recording password check; no HTTP. A rule
change shows its effect here in milliseconds."""

import time
from dataclasses import dataclass, field, replace

import pytest

from gatekey.issuer.clients import Presented, authenticate
from gatekey.issuer.domain import Chain, GrantContext
from gatekey.issuer.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from gatekey.issuer.grants import client_credentials, password, refresh_token, regenerate
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import TokenRecord, token_digest
from gatekey.issuer.store.sqlite import SQLiteStore
from gatekey.issuer.verification import Verified
from gatekey.operator.model.vocabulary import Endpoint
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
    await store.add(replace(stored_refresh(client), namespace="evil"))
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
