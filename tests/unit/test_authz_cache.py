"""The table of remembered ``/authz`` passes: per snapshot, bounded."""

from multidict import CIMultiDict

from gatekey.issuer.http.authz_cache import Pass, PassCache
from gatekey.issuer.snapshot import Snapshot


def _pass(jti: str) -> Pass:
    return Pass(CIMultiDict(), 1e12, jti, (), None, dict)


def test_a_new_snapshot_forgets_every_pass():
    cache, first = PassCache(), Snapshot()
    cache.follow(first)
    cache.put(("Bearer a", None), _pass("a"), first)
    cache.follow(first)
    assert ("Bearer a", None) in cache.table
    cache.follow(Snapshot())
    assert cache.table == {}


def test_a_pass_decided_under_an_older_snapshot_is_not_kept():
    cache, old, new = PassCache(), Snapshot(), Snapshot()
    cache.follow(new)
    cache.put(("Bearer a", None), _pass("a"), old)
    assert cache.table == {}


def test_the_table_is_bounded_the_oldest_going_first():
    cache, snapshot = PassCache(size=2), Snapshot()
    cache.follow(snapshot)
    for name in "abc":
        cache.put((f"Bearer {name}", "orders"), _pass(name), snapshot)
    assert list(cache.table) == [("Bearer b", "orders"), ("Bearer c", "orders")]
    cache.put(("Bearer c", "orders"), _pass("c2"), snapshot)  # a refresh evicts nothing
    assert len(cache.table) == 2
    cache.drop(("Bearer b", "orders"))
    assert list(cache.table) == [("Bearer c", "orders")]
