"""Operator restarts and signing-key rotation: each test runs operators of its own."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from gatekey.operator import contract
from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.render import RenderSettings
from gatekey.operator.signing_keys import SigningKey, active_key
from tests.operator.helpers import labelled, payload, values, wait_condition
from tests.support.kube_harness import EmulatorThread, KubeClient, OperatorThread, wait_for
from tests.support.manifests import credential, policy, role, secret, user_pool


@pytest.fixture
def own_emulator() -> Iterator[EmulatorThread]:
    thread = EmulatorThread(garbage_collection=False).start()
    yield thread
    thread.stop()


def test_a_restarted_operator_changes_nothing(own_emulator: EmulatorThread) -> None:
    kube, ns = KubeClient(own_emulator.url), "restart"
    first = OperatorThread(own_emulator.url, namespaces=[ns]).start()
    kube.create(user_pool("users", {"alice": "a"}), ns)
    kube.create(secret("mine", client_id="x", client_secret="y"), ns)
    kube.create(policy("orders", grantTypes=["password"], userPool={"secretName": "users"}), ns)
    kube.create(policy("shop", management="ACL", target="ProxyGroup/shop"), ns)
    kube.create(credential("svc", acl=["ProxyGroup/shop"]), ns)
    kube.create(credential("adopting", secretName="mine"), ns)
    kube.create(credential("waiting", secretName="not-yet"), ns)
    kube.create(role("read", "Credential/svc", "ApiProxy/orders"), ns)
    for kind, name in [
        ("AuthPolicy", "orders"),
        ("AuthPolicy", "shop"),
        ("Credential", "svc"),
        ("Credential", "adopting"),
        ("Role", "read"),
    ]:
        wait_condition(kube, kind, ns, name)
    wait_condition(kube, "Credential", ns, "waiting", "False", "SecretMissing")
    time.sleep(0.5)  # let the last watch events settle
    first.stop()
    before = labelled(kube, ns)
    writes_before = own_emulator.call(lambda emu: len(emu.writes))

    second = OperatorThread(own_emulator.url, namespaces=[ns]).start()
    try:
        time.sleep(2.0)  # resume handlers ran a pass over the namespace
        assert own_emulator.call(lambda emu: emu.writes[writes_before:]) == []
        assert labelled(kube, ns) == before  # no regenerated secret or key

        # ...and the new operator is live: a new Credential is reconciled.
        kube.create(credential("late"), ns)
        wait_condition(kube, "Credential", ns, "late")
    finally:
        second.stop()


class Clock:
    """A clock the test moves; the operator reads it from its own thread."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_signing_keys_rotate_with_overlap(own_emulator: EmulatorThread) -> None:
    kube, ns = KubeClient(own_emulator.url), "rotation"
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    rotation, prepublish = timedelta(days=90), timedelta(hours=1)
    options = OperatorOptions(
        render=RenderSettings(key_rotation=rotation, key_prepublish=prepublish),
        resync_period=0.1,
    )
    operator = OperatorThread(own_emulator.url, namespaces=[ns], options=options, clock=clock)
    operator.start()
    try:
        kube.create(policy("orders", token={"ttl": "1h"}), ns)
        wait_condition(kube, "AuthPolicy", ns, "orders")

        def kids() -> list[str]:
            jwks = kube.get("ConfigMap", ns, contract.JWKS_CONFIGMAP)
            return [k["kid"] for k in payload(jwks, contract.JWKS_KEY)["keys"]] if jwks else []

        def keys() -> list[SigningKey]:
            found = values(kube.get("Secret", ns, contract.SIGNING_KEYS_SECRET))
            return [SigningKey.model_validate(k) for k in json.loads(found["keys.json"])]

        (old,) = wait_for(kids)
        start = clock.now

        # Shortly before the rotation is due, the successor is published, not yet signing.
        clock.now = start + rotation - prepublish + timedelta(minutes=1)
        # A pass writes the keys' Secret and the JWKS ConfigMap concurrently: wait for both.
        both = wait_for(lambda: len(kids()) == 2 and len(keys()) == 2 and kids())
        new = next(k for k in both if k != old)
        assert active_key(keys(), "ES256", clock.now).kid == old

        # Once due, the successor signs; the old key stays published for its tokens.
        clock.now = start + rotation + timedelta(minutes=1)
        assert active_key(keys(), "ES256", clock.now).kid == new
        time.sleep(0.3)
        assert sorted(kids()) == sorted([old, new])

        # When every token the old key signed has expired (ttl 1h), it is retired.
        clock.now = start + rotation + timedelta(hours=1, minutes=2)
        wait_for(lambda: kids() == [new] and [k.kid for k in keys()] == [new])
    finally:
        operator.stop()
