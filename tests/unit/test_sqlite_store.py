"""The SQLite token store: round trips, single-use refresh, revocation, purge, persistence."""

import sqlite3

import pytest

from gatekey.issuer.store.base import StoreUnavailable, TokenRecord, token_digest
from gatekey.issuer.store.events import JtiDenied, KeyBlocked
from gatekey.issuer.store.sqlite import EVENT_SECONDS, SQLiteStore

T0 = 1_900_000_000.0


def record(token: str, **kw) -> TokenRecord:
    fields = {
        "digest": token_digest(token),
        "kind": "access",
        "chain_id": "chain-1",
        "grant_key": "grant-1",
        "client_id": "client",
        "subject": "alice",
        "username": "alice",
        "scope": ("orders.read", "orders.write"),
        "audience": ("ApiProxy/orders", "ApiProxy/cart"),
        "token_type": "OAuth2",
        "management": "Policy",
        "issued_at": T0,
        "expires_at": T0 + 3600,
        "chain_started_at": T0,
    } | kw
    return TokenRecord(**fields)


@pytest.fixture
async def store(tmp_path):
    opened = SQLiteStore(tmp_path / "state" / "t.db")
    yield opened
    await opened.close()


async def test_add_get_round_trip(store):
    access = record("gkat_a")
    refresh = record(
        "gkrt_a",
        kind="refresh",
        username=None,
        scope=(),
        audience=(),
        expires_at=None,
        refresh_count=3,
    )
    await store.add(access, refresh)
    assert await store.get(access.digest) == access
    assert await store.get(refresh.digest) == refresh
    assert await store.get(token_digest("unknown")) is None


async def test_digest_is_not_the_token(store):
    await store.add(record("gkat_secret"))
    assert await store.get("gkat_secret") is None
    assert len(token_digest("gkat_secret")) == 64


async def test_rotate_is_single_use(store):
    refresh = record("gkrt_a", kind="refresh")
    await store.add(refresh)
    assert await store.rotate(refresh.digest, record("gkrt_b", kind="refresh")) is True
    assert await store.rotate(refresh.digest, record("gkrt_c", kind="refresh")) is False
    assert (await store.get(refresh.digest)).used is True
    assert await store.get(token_digest("gkrt_b")) is not None
    assert await store.get(token_digest("gkrt_c")) is None  # a refused rotation writes nothing


async def test_rotate_refuses_access_unknown_and_revoked(store):
    access = record("gkat_a")
    revoked = record("gkrt_r", kind="refresh", chain_id="chain-2")
    await store.add(access, revoked)
    await store.revoke_chain("chain-2")
    assert await store.rotate(access.digest) is False
    assert await store.rotate(token_digest("nope")) is False
    assert await store.rotate(revoked.digest) is False


async def test_revoke_chain_only_that_chain(store):
    a1 = record("a1", chain_id="c1")
    r1 = record("r1", chain_id="c1", kind="refresh")
    a2 = record("a2", chain_id="c2")
    await store.add(a1, r1, a2)
    await store.revoke_chain("c1")
    assert (await store.get(a1.digest)).revoked
    assert (await store.get(r1.digest)).revoked
    assert not (await store.get(a2.digest)).revoked
    assert not (await store.get(a1.digest)).live(T0)
    assert (await store.get(a2.digest)).live(T0)


async def test_revoke_grant_only_that_grant(store):
    mine = [record(f"m{i}", grant_key="g1", chain_id=f"c{i}") for i in range(3)]
    other = record("o", grant_key="g2", chain_id="c9")
    await store.add(*mine, other)
    await store.revoke_grant("g1")
    for rec in mine:
        assert (await store.get(rec.digest)).revoked
    assert not (await store.get(other.digest)).revoked


async def test_purge_removes_only_expired(store):
    expired = record("old", expires_at=T0 - 1)
    live = record("new", expires_at=T0 + 1)
    immortal = record("forever", expires_at=None)
    await store.add(expired, live, immortal)
    assert await store.purge(T0) == 1
    assert await store.get(expired.digest) is None
    assert await store.get(live.digest) == live
    assert await store.get(immortal.digest) == immortal
    assert await store.purge(T0) == 0


async def test_persists_across_reopen(tmp_path):
    path = tmp_path / "t.db"
    first = SQLiteStore(path)
    refresh = record("gkrt_a", kind="refresh")
    await first.add(refresh, record("gkat_a"))
    assert await first.rotate(refresh.digest, now=T0 + 5)
    await first.close()

    second = SQLiteStore(path)
    try:
        assert await second.get(refresh.digest) == refresh._replace(used=True, used_at=T0 + 5)
        assert await second.get(token_digest("gkat_a")) == record("gkat_a")
        assert await second.rotate(refresh.digest) is False
    finally:
        await second.close()


async def test_failed_add_raises_store_unavailable(store):
    await store.add(record("a"))
    with pytest.raises(StoreUnavailable):
        await store.add(record("a"))


async def test_failed_add_leaves_store_usable(store, tmp_path):
    await store.add(record("a"))
    with pytest.raises(StoreUnavailable):
        await store.add(record("b"), record("a"))
    assert await store.get(token_digest("b")) is None
    await store.add(record("c"))
    await store.revoke_grant("grant-1")
    other = SQLiteStore(tmp_path / "state" / "t.db")
    try:
        assert (await other.get(token_digest("a"))).revoked
    finally:
        await other.close()


def test_live():
    rec = record("a", expires_at=T0 + 10)
    assert rec.live(T0)
    assert not rec.live(T0 + 10)
    assert record("a", expires_at=None).live(T0 + 10**9)
    assert not rec._replace(revoked=True).live(T0)


async def test_opens_a_state_dir_from_before_the_grace_period(tmp_path):
    """An older tokens table gains the new columns; its rotated tokens get no grace."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE tokens (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, chain_id TEXT NOT"
        " NULL, grant_key TEXT NOT NULL, client_id TEXT NOT NULL, subject TEXT NOT NULL,"
        " username TEXT, scope TEXT NOT NULL, audience TEXT NOT NULL, token_type TEXT NOT"
        " NULL, management TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL,"
        " chain_started_at REAL NOT NULL, refresh_count INTEGER NOT NULL, used INTEGER NOT"
        " NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0)"
    )
    old.execute(
        "INSERT INTO tokens VALUES ('d', 'refresh', 'c', 'g', 'cl', 's', NULL, '', '',"
        " 'OAuth2', 'Policy', 1, NULL, 1, 0, 1, 0)"
    )
    old.commit()
    old.close()
    store = SQLiteStore(path)
    try:
        stored = await store.get("d")
        assert stored is not None
        assert stored.used
        assert stored.used_at is None
        assert stored.namespace == ""
        replaced = await store.replace_rotation(
            "d", record("gkrt_x", kind="refresh"), jwts=[], now=2, grace=60
        )
        assert replaced is None
        await store.add(record("gkrt_n", kind="refresh"))
        assert await store.rotate(token_digest("gkrt_n"), now=T0)
    finally:
        await store.close()


async def test_remember_once_forgets_after_its_time(tmp_path):
    now = [T0]
    store = SQLiteStore(tmp_path / "t.db", clock=lambda: now[0])
    try:
        assert await store.remember_once("k", T0 + 10) is True
        assert await store.remember_once("k", T0 + 20) is False
        now[0] = T0 + 10
        assert await store.remember_once("k", T0 + 20) is True
        assert await store.remember_once("k", T0 + 30) is False
        assert await store.purge(T0 + 21) == 0  # purge counts tokens; the row is gone
        now[0] = T0 + 15
        assert await store.remember_once("k", T0 + 30) is True
    finally:
        await store.close()


async def test_a_process_that_fell_behind_the_purge_replays_the_tables(tmp_path):
    """Event rows are kept a minute; one that missed purged rows hears every deny and
    block in force again instead of nothing."""
    path = tmp_path / "shared.db"
    clock = [T0]
    a, b = SQLiteStore(path, clock=lambda: clock[0]), SQLiteStore(path, clock=lambda: clock[0])
    heard: list[object] = []
    b.subscribe(heard.append)
    await a.deny_jti("j-old", T0 + 3600)
    await a.publish(JtiDenied("j-old", T0 + 3600))
    await a.block("addr:192.0.2.1", T0 + 900)
    await a.publish(KeyBlocked("addr:192.0.2.1", T0 + 900))
    clock[0] = T0 + EVENT_SECONDS + 1
    await a.purge(clock[0])  # b never read those two rows
    await a.publish(JtiDenied("j-new", None))
    assert b.poll() == 1
    assert heard == [
        JtiDenied("j-old", T0 + 3600),
        KeyBlocked("addr:192.0.2.1", T0 + 900),
        JtiDenied("j-new", None),
    ]
    heard.clear()
    await a.publish(JtiDenied("j-next", None))
    assert b.poll() == 1
    assert heard == [JtiDenied("j-next", None)]  # back in step: no replay
    # A process opened after the purge starts in step too.
    c = SQLiteStore(path, clock=lambda: clock[0])
    late: list[object] = []
    c.subscribe(late.append)
    await a.publish(JtiDenied("j-last", None))
    assert c.poll() == 1
    assert late == [JtiDenied("j-last", None)]
    for opened in (a, b, c):
        await opened.close()


async def test_a_process_does_not_hear_its_own_events_twice(store):
    heard: list[object] = []
    store.subscribe(heard.append)
    await store.publish(KeyBlocked("k", T0))
    assert heard == [KeyBlocked("k", T0)]
    assert store.poll() == 0
    assert heard == [KeyBlocked("k", T0)]
