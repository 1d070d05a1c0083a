"""One contract, two stores: SQLite (embedded default) and Redis (replicas) behave alike."""

import asyncio
import time

import pytest

from gatekey.issuer.store.base import ChainJwt, StoreUnavailable, TokenRecord
from gatekey.issuer.store.events import JtiDenied, KeyBlocked
from gatekey.issuer.store.redis import RedisStore
from gatekey.issuer.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        opened = SQLiteStore(tmp_path / "t.db")
    else:
        opened = RedisStore(request.getfixturevalue("redis_url"))
    yield opened
    await opened.close()


def record(digest, kind="refresh", chain="c1", grant="g1", expires_in=600.0, **more):
    now = time.time()
    fields = {
        "digest": digest,
        "kind": kind,
        "chain_id": chain,
        "grant_key": grant,
        "client_id": "cl",
        "subject": "alice",
        "username": "alice",
        "scope": ("a", "b"),
        "audience": ("ApiProxy/orders",),
        "token_type": "OAuth2",
        "management": "Policy",
        "issued_at": now,
        "expires_at": None if expires_in is None else now + expires_in,
        "chain_started_at": now,
    }
    return TokenRecord(**(fields | more))


async def test_round_trip(store):
    original = record("d1", username=None, expires_in=None)
    await store.add(original)
    assert await store.get("d1") == original
    assert await store.get("absent") is None


async def test_namespace_and_binding_round_trip(store):
    bound = record("d2", kind="access", namespace="shop", jkt="thumb")
    await store.add(bound)
    assert await store.get("d2") == bound
    rotated = record("d3", namespace="shop", jkt="thumb")
    await store.add(record("d1"))
    assert await store.rotate("d1", rotated)
    assert await store.get("d3") == rotated


async def test_remember_once_refuses_a_second_time_even_racing(store):
    until = time.time() + 60
    results = await asyncio.gather(*(store.remember_once("proof-1", until) for _ in range(10)))
    assert results.count(True) == 1
    assert await store.remember_once("proof-2", until)
    assert not await store.remember_once("proof-1", until)


async def test_refresh_is_rotated_once_even_when_racing(store):
    await store.add(record("d1"))
    results = await asyncio.gather(
        *(
            store.rotate("d1", record(f"next{n}"), record(f"at{n}", kind="access"))
            for n in range(10)
        )
    )
    assert results.count(True) == 1
    assert (await store.get("d1")).used
    won = results.index(True)
    for n in range(10):  # only the winner's successors were written
        assert (await store.get(f"next{n}") is not None) is (n == won)
        assert (await store.get(f"at{n}") is not None) is (n == won)


async def test_rotation_and_chain_revocation_never_interleave(store):
    """Whatever the order, once the chain is revoked no token of it is alive."""
    now = time.time()
    for n in range(20):
        chain = f"race{n}"
        await store.add(record(f"r{n}", chain=chain), jwts=[ChainJwt(f"j{n}", chain, now + 60)])
        successors = (record(f"r{n}b", chain=chain), record(f"a{n}b", kind="access", chain=chain))
        rotated, denied = await asyncio.gather(
            store.rotate(f"r{n}", *successors, jwts=[ChainJwt(f"j{n}b", chain, now + 60)]),
            store.revoke_chain(chain),
        )
        denied |= await store.revoke_chain(chain)  # as the loser of a race does
        for digest in (f"r{n}", f"r{n}b", f"a{n}b"):
            stored = await store.get(digest)
            assert stored is None or stored.revoked
        assert set(denied) == ({f"j{n}", f"j{n}b"} if rotated else {f"j{n}"})
        assert await store.rotate(f"r{n}b", record(f"r{n}c", chain=chain)) is False


async def test_revoking_a_chain_denies_its_jwts_durably(store):
    now = time.time()
    await store.add(
        record("r", chain="c1"),
        jwts=[ChainJwt("j1", "c1", now + 60), ChainJwt("j2", "c1", None)],
    )
    await store.add(record("s", chain="c2"), jwts=[ChainJwt("other", "c2", now + 60)])
    assert await store.rotate("r", record("r2", chain="c1"), jwts=[ChainJwt("j3", "c1", now + 9)])
    assert await store.revoke_chain("c1") == {
        "j1": pytest.approx(now + 60),
        "j2": None,
        "j3": pytest.approx(now + 9),
    }
    assert set(await store.denied_jtis(now)) == {"j1", "j2", "j3"}
    # A tombstone: no later rotation in the chain, even of a token added afterwards.
    await store.add(record("late", chain="c1"))
    assert await store.rotate("late", record("late2", chain="c1")) is False
    assert not (await store.get("s")).revoked


async def test_blocks_are_kept(store):
    now = time.time()
    await store.block("client:x@192.0.2.1", now + 60)
    await store.block("addr:192.0.2.2", now - 1)
    assert await store.blocks(now) == {"client:x@192.0.2.1": pytest.approx(now + 60)}


async def test_revoke_chain_and_grant(store):
    await store.add(
        record("a", chain="c1", grant="g1"),
        record("b", kind="access", chain="c1"),
        record("c", chain="c2", grant="g1"),
        record("d", chain="c3", grant="g2"),
    )
    await store.revoke_chain("c1")
    assert [(await store.get(d)).revoked for d in "abcd"] == [True, True, False, False]
    await store.revoke_grant("g1")
    assert [(await store.get(d)).revoked for d in "abcd"] == [True, True, True, False]
    await store.revoke("d")
    assert (await store.get("d")).revoked
    await store.revoke("never-stored")
    assert await store.get("never-stored") is None


async def test_deny_list(store):
    now = time.time()
    await store.deny_jti("j1", now + 60)
    await store.deny_jti("j2", None)
    assert await store.denied_jtis(now) == {"j1": pytest.approx(now + 60), "j2": None}


async def test_failure_counters(store):
    assert [await store.count_failure("client:x", 60) for _ in range(3)] == [1, 2, 3]
    await store.clear_failures("client:x")
    assert await store.count_failure("client:x", 60) == 1


async def test_events_reach_subscribers(store):
    heard = []
    store.subscribe(heard.append)
    listener = asyncio.create_task(store.run())
    await asyncio.sleep(0.2)  # the Redis listener subscribes first
    await store.publish(JtiDenied("j", None))
    for _ in range(50):
        if heard:
            break
        await asyncio.sleep(0.02)
    listener.cancel()
    assert heard == [JtiDenied("j", None)]


@pytest.fixture(params=["sqlite", "redis"])
async def two_processes(request, tmp_path):
    """Two stores on one backing, as two issuer processes open it: one SQLite file (two
    connections) or one Redis."""
    if request.param == "sqlite":
        pair = SQLiteStore(tmp_path / "t.db"), SQLiteStore(tmp_path / "t.db")
    else:
        url = request.getfixturevalue("redis_url")
        pair = RedisStore(url), RedisStore(url)
    yield pair
    for opened in pair:
        await opened.close()


async def test_events_reach_the_other_process_once_each(two_processes):
    a, b = two_processes
    heard_a, heard_b = [], []
    a.subscribe(heard_a.append)
    b.subscribe(heard_b.append)
    listeners = [asyncio.create_task(s.run()) for s in (a, b)]
    await asyncio.sleep(0.2)  # the Redis listeners subscribe first
    sent = [JtiDenied("j1", 123.5), KeyBlocked("client:c@192.0.2.1", 456.0), JtiDenied("j2", None)]
    for event in sent:
        await a.publish(event)
    for _ in range(100):
        if len(heard_b) >= len(sent):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # room for a duplicate to show up
    for listener in listeners:
        listener.cancel()
    assert heard_b == sent
    assert heard_a == sent  # the publisher hears its own events once


async def test_redis_expires_tokens_with_their_life(redis_url):
    store = RedisStore(redis_url)
    await store.add(record("short", expires_in=1.0))
    assert await store.get("short") is not None
    await asyncio.sleep(2.5)
    assert await store.get("short") is None
    await store.close()


async def test_redis_chain_sets_expire_with_their_last_token(redis_url):
    store = RedisStore(redis_url)
    await store.add(record("a", chain="c", expires_in=100.0))
    await store.add(record("b", chain="c", expires_in=50.0))
    chain_ttl = await store._redis.ttl("gk:chain:c")
    assert 90 <= chain_ttl <= 101
    await store.add(record("forever", chain="c", expires_in=None))
    assert await store._redis.ttl("gk:chain:c") == -1
    await store.close()


async def test_redis_down_is_store_unavailable(tmp_path):
    from tests.support.process import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable):
        await store.get("x")
    await store.close()


async def _rotate_or_replace(store, digest, n, now, grace=60.0):
    """What the refresh grant does with the store: rotate, else replace within the grace."""
    successors = (record(f"s{n}"), record(f"a{n}", kind="access"))
    jwts = [ChainJwt(f"j{n}", "c1", now + 60)]
    if await store.rotate(digest, *successors, jwts=jwts, now=now):
        return "rotated"
    denied = await store.replace_rotation(digest, *successors, jwts=jwts, now=now, grace=grace)
    return "refused" if denied is None else denied


async def test_a_retry_within_the_grace_period_replaces_the_answer(store):
    now = time.time()
    await store.add(record("r"))
    assert await _rotate_or_replace(store, "r", 1, now) == "rotated"
    assert (await store.get("r")).used_at == pytest.approx(now)
    assert await _rotate_or_replace(store, "r", 2, now + 5) == {"j1": pytest.approx(now + 60)}
    first_refresh, first_access = await store.get("s1"), await store.get("a1")
    # The replaced refresh token is used, without a grace period of its own: a reuse.
    assert first_refresh.used
    assert first_refresh.used_at is None
    assert not first_refresh.revoked
    assert first_access.revoked
    assert "j1" in await store.denied_jtis(now)
    assert not (await store.get("s2")).used
    assert not (await store.get("a2")).revoked
    assert await store.replace_rotation("s1", record("x"), jwts=[], now=now, grace=60) is None
    assert await store.get("x") is None
    # The chain goes on from the retry's answer.
    assert await store.rotate("s2", record("s3"), now=now + 6)


async def test_no_replacement_outside_the_grace_period_or_once_the_answer_was_used(store):
    now = time.time()
    await store.add(record("r"), record("unrotated", chain="c2"))
    assert await _rotate_or_replace(store, "r", 1, now) == "rotated"
    for late, grace in ((now + 60, 60.0), (now + 1, 0.0)):
        assert await _rotate_or_replace(store, "r", 9, late, grace) == "refused"
        assert await store.get("s9") is None
        assert await store.get("a9") is None
    assert await _rotate_or_replace(store, "unrotated", 8, now) == "rotated"
    assert await store.rotate("s1", record("s1b"), now=now + 1)  # the answer was used
    assert await _rotate_or_replace(store, "r", 7, now + 2) == "refused"
    assert not (await store.get("a1")).revoked
    await store.revoke_chain("c1")
    await store.add(record("t", chain="c3"))
    assert await _rotate_or_replace(store, "t", 6, now) == "rotated"
    await store.revoke_chain("c3")
    assert await _rotate_or_replace(store, "t", 5, now + 1) == "refused"


async def test_racing_retries_leave_exactly_one_live_branch(store):
    """Every retry inside the window is answered; only the last answer stays alive."""
    now = time.time()
    await store.add(record("r"))
    outcomes = await asyncio.gather(*(_rotate_or_replace(store, "r", n, now) for n in range(20)))
    assert outcomes.count("rotated") == 1
    assert "refused" not in outcomes
    live = [n for n in range(20) if not (await store.get(f"s{n}")).used]
    assert len(live) == 1
    access = [n for n in range(20) if not (await store.get(f"a{n}")).revoked]
    assert access == live
    denied = await store.denied_jtis(now)
    assert {f"j{n}" for n in range(20)} - set(denied) == {f"j{live[0]}"}


async def test_remember_once_is_atomic_and_shared(store):
    now = time.time()
    results = await asyncio.gather(*(store.remember_once("a:x", now + 60) for _ in range(10)))
    assert results.count(True) == 1
    assert await store.remember_once("a:y", now + 60) is True
    assert await store.remember_once("a:x", now + 60) is False


async def test_redis_remembers_across_replicas_until_the_time(redis_url):
    first, second = RedisStore(redis_url), RedisStore(redis_url)
    try:
        assert await first.remember_once("a:z", time.time() + 1) is True
        assert await second.remember_once("a:z", time.time() + 1) is False
        await asyncio.sleep(2.5)
        assert await second.remember_once("a:z", time.time() + 60) is True
    finally:
        await first.close()
        await second.close()
