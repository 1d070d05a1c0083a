"""Signing-key life: first key, pre-published successor, switch-over and retirement
(docs/contract.md)."""

from datetime import timedelta
from typing import Any

from gatekey.operator.signing_keys import SigningKey, active_key, plan_keys, public_jwks
from tests.unit.helpers import NOW, FakeEntropy

ROTATION = timedelta(days=90)
PREPUBLISH = timedelta(hours=1)
RETENTION = timedelta(hours=2)


class KeyFactory:
    """Numbered fake EC keys: the plan only needs a kid and the public fields."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, alg: str) -> dict[str, Any]:
        kid = f"{alg}-{len(self.made) + 1}"
        self.made.append(kid)
        return {"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d", "kid": kid}


def plan(
    existing: list[SigningKey],
    at,
    factory: KeyFactory,
    algorithms=("ES256",),
    retention: timedelta | None = RETENTION,
) -> list[SigningKey]:
    return plan_keys(
        existing,
        algorithms,
        at,
        rotation=ROTATION,
        prepublish=PREPUBLISH,
        retention=retention,
        new_key=factory,
    )


def test_first_key_signs_at_once():
    factory = KeyFactory()
    keys = plan([], NOW, factory)
    assert [k.kid for k in keys] == ["ES256-1"]
    assert keys[0].not_before == NOW
    assert keys[0].created_at == NOW
    assert active_key(keys, "ES256", NOW) == keys[0]


def test_one_first_key_per_algorithm():
    keys = plan([], NOW, KeyFactory(), algorithms=("ES256", "EdDSA", "ES256"))
    assert sorted(k.alg for k in keys) == ["ES256", "EdDSA"]
    assert active_key(keys, "EdDSA", NOW).alg == "EdDSA"
    assert active_key(keys, "RS256", NOW) is None


def test_nothing_new_before_prepublish_window():
    factory = KeyFactory()
    first = plan([], NOW, factory)
    later = NOW + ROTATION - PREPUBLISH - timedelta(seconds=1)
    assert plan(first, later, factory) == first
    assert factory.made == ["ES256-1"]


def test_successor_published_before_it_signs():
    factory = KeyFactory()
    first = plan([], NOW, factory)
    due = NOW + ROTATION
    keys = plan(first, due - PREPUBLISH, factory)
    assert [k.kid for k in keys] == ["ES256-1", "ES256-2"]
    successor = keys[1]
    assert successor.not_before == due
    assert successor.created_at == due - PREPUBLISH
    assert active_key(keys, "ES256", due - timedelta(seconds=1)).kid == "ES256-1"
    assert {k["kid"] for k in public_jwks(keys)["keys"]} == {"ES256-1", "ES256-2"}


def test_only_one_successor_waits():
    factory = KeyFactory()
    keys = plan(plan([], NOW, factory), NOW + ROTATION - PREPUBLISH, factory)
    again = plan(keys, NOW + ROTATION - timedelta(minutes=1), factory)
    assert again == keys
    assert len(factory.made) == 2


def test_active_key_switches_at_not_before():
    factory = KeyFactory()
    due = NOW + ROTATION
    keys = plan(plan([], NOW, factory), due - PREPUBLISH, factory)
    assert active_key(keys, "ES256", due - timedelta(microseconds=1)).kid == "ES256-1"
    assert active_key(keys, "ES256", due).kid == "ES256-2"
    assert active_key(keys, "ES256", due + timedelta(days=1)).kid == "ES256-2"


def test_late_render_still_prepublishes():
    """A render long after the due time must not let the new key sign before it is published."""
    factory = KeyFactory()
    late = NOW + ROTATION + timedelta(days=3)
    keys = plan(plan([], NOW, factory), late, factory)
    successor = next(k for k in keys if k.kid == "ES256-2")
    assert successor.not_before >= late + PREPUBLISH
    assert active_key(keys, "ES256", late).kid == "ES256-1"


def test_retired_key_kept_until_retention_passed():
    factory = KeyFactory()
    due = NOW + ROTATION
    keys = plan(plan([], NOW, factory), due - PREPUBLISH, factory)
    kept = plan(keys, due + RETENTION, factory)
    assert [k.kid for k in kept] == ["ES256-1", "ES256-2"]
    gone = plan(kept, due + RETENTION + timedelta(seconds=1), factory)
    assert [k.kid for k in gone] == ["ES256-2"]


def test_retired_keys_kept_forever_without_retention():
    factory = KeyFactory()
    due = NOW + ROTATION
    keys = plan(plan([], NOW, factory), due - PREPUBLISH, factory, retention=None)
    much_later = plan(keys, due + timedelta(days=80), factory, retention=None)
    assert [k.kid for k in much_later] == ["ES256-1", "ES256-2"]


def test_waiting_key_is_not_retired_early():
    factory = KeyFactory()
    due = NOW + ROTATION
    keys = plan(plan([], NOW, factory), due - PREPUBLISH, factory, retention=timedelta(0))
    assert [k.kid for k in keys] == ["ES256-1", "ES256-2"]


def test_keys_of_dropped_algorithm_kept_until_replaced():
    factory = KeyFactory()
    keys = plan([], NOW, factory, algorithms=("ES256", "EdDSA"))
    assert {k.alg for k in plan(keys, NOW + timedelta(days=1), factory)} == {"ES256", "EdDSA"}


def test_three_generations_retire_in_order():
    factory = KeyFactory()
    keys = plan([], NOW, factory)
    for generation in (1, 2):
        due = NOW + generation * ROTATION
        keys = plan(keys, due - PREPUBLISH, factory)
        keys = plan(keys, due + RETENTION + timedelta(seconds=1), factory)
    assert [k.kid for k in keys] == ["ES256-3"]


def test_jwks_holds_public_halves_only():
    entropy = FakeEntropy()
    keys = plan_keys(
        [],
        ["ES256", "HS256", "EdDSA"],
        NOW,
        rotation=ROTATION,
        prepublish=PREPUBLISH,
        retention=RETENTION,
        new_key=entropy.signing_key,
    )
    published = public_jwks(keys)["keys"]
    assert sorted(k["alg"] for k in published) == ["ES256", "EdDSA"]
    for key in published:
        assert "d" not in key
        assert key["use"] == "sig"
        assert key["kid"]


def test_signing_key_round_trips_by_alias():
    keys = plan([], NOW, KeyFactory())
    dumped = keys[0].model_dump(by_alias=True, mode="json")
    assert {"createdAt", "notBefore", "kid", "alg", "jwk"} <= set(dumped)
    assert SigningKey.model_validate(dumped) == keys[0]


def test_render_inside_window_still_prepublishes_fully():
    factory = KeyFactory()
    at = NOW + ROTATION - timedelta(minutes=10)
    keys = plan(plan([], NOW, factory), at, factory)
    assert keys[1].not_before == at + PREPUBLISH
