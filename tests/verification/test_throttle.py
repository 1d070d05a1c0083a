"""Repeated failed authentications slow, then refuse with 429, keyed so that no one can
lock an owner out: per (client id, address) and (user, address), per address only for
unknown client ids; failures of one client id from many addresses only slow. One process
on SQLite; addresses come from ``X-Forwarded-For`` through a trusted loopback proxy."""

import asyncio
from ipaddress import ip_network

import pytest

from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.sqlite import SQLiteStore
from gatekey.issuer.throttle import Attempt, Throttle, ThrottleSettings
from tests.support.issuer import running_issuer, write_manifests
from tests.support.manifests import policy, user_pool

ATTACKER, VICTIM = "192.0.2.66", "198.51.100.7"


@pytest.fixture
def issuer(tmp_path):
    write_manifests(
        tmp_path / "m",
        policy(
            "p",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
        ),
        user_pool("users", {"alice": "wonderland"}),
    )
    settings = IssuerSettings(trusted_proxies=(ip_network("127.0.0.0/8"),))
    limits = ThrottleSettings(slow_after=2, delay_seconds=0.01, block_after=3)
    with running_issuer(tmp_path / "m", tmp_path / "s", settings, limits) as running:
        yield running


def post(issuer, via, **form):
    return issuer.post("/auth/jwt", form, headers={"X-Forwarded-For": f"{via}, 127.0.0.1"})


def client_form(issuer, secret=None):
    client_id, real = issuer.proxy_key("ApiProxy", "orders")
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": real if secret is None else secret,
    }


def password_form(issuer, password):
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    return {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": "-",
        "username": "alice",
        "password": password,
    }


def test_a_client_is_blocked_from_the_failing_address_only(issuer):
    for _ in range(3):
        assert post(issuer, ATTACKER, **client_form(issuer, "wrong")).status_code == 401
    refused = post(issuer, ATTACKER, **client_form(issuer))
    assert refused.status_code == 429
    assert refused.json()["error"] == "temporarily_unavailable"
    assert 0 < int(refused.headers["Retry-After"]) <= 900
    # The owner, elsewhere, with the right secret: never refused for the attacker's failures.
    assert post(issuer, VICTIM, **client_form(issuer)).status_code == 200


def test_failures_for_a_client_from_many_addresses_slow_but_never_block(issuer):
    for n in range(8):
        wrong = post(issuer, f"10.9.0.{n}", **client_form(issuer, "wrong"))
        assert wrong.status_code == 401, (n, wrong.text)
    assert post(issuer, VICTIM, **client_form(issuer)).status_code == 200


def test_guessed_client_ids_block_the_address_for_unknown_ids_only(issuer):
    for n in range(3):
        post(issuer, ATTACKER, grant_type="client_credentials", client_id=f"guess{n}")
    guess = post(issuer, ATTACKER, grant_type="client_credentials", client_id="guess9")
    assert guess.status_code == 429
    # Elsewhere the guesses go on being answered 401; behind the same address (a shared
    # NAT), a known client with its right secret is not refused.
    other = post(issuer, VICTIM, grant_type="client_credentials", client_id="guess9")
    assert other.status_code == 401
    assert post(issuer, ATTACKER, **client_form(issuer)).status_code == 200


def test_a_user_is_blocked_from_the_failing_address_only(issuer):
    for _ in range(3):
        wrong = post(issuer, ATTACKER, **password_form(issuer, "nope"))
        assert wrong.json()["error"] == "invalid_grant"
    assert post(issuer, ATTACKER, **password_form(issuer, "wonderland")).status_code == 429
    assert post(issuer, VICTIM, **password_form(issuer, "wonderland")).status_code == 200


def test_wrong_passwords_from_many_addresses_never_block_the_user(issuer):
    for n in range(8):
        assert post(issuer, f"10.8.0.{n}", **password_form(issuer, "nope")).status_code == 400
    assert post(issuer, VICTIM, **password_form(issuer, "wonderland")).status_code == 200


def test_a_success_clears_the_counter_of_its_own_address(issuer):
    for _ in range(2):
        post(issuer, ATTACKER, **client_form(issuer, "wrong"))
    assert post(issuer, ATTACKER, **client_form(issuer)).status_code == 200
    for _ in range(2):
        post(issuer, ATTACKER, **client_form(issuer, "wrong"))
    assert post(issuer, ATTACKER, **client_form(issuer)).status_code == 200


def test_the_shared_client_count_slows_failed_answers(tmp_path):
    """Failures of one client id from many addresses raise the delay, never block."""

    async def run() -> list[float]:
        store = SQLiteStore(tmp_path / "t.db")
        limits = ThrottleSettings(slow_after=2, delay_seconds=0.5, block_after=3)
        throttle = Throttle(store, limits)
        delays = []
        for n in range(6):
            attempt = Attempt("svc", True, None, f"10.0.0.{n}")
            delays.append(await throttle.failed(attempt, True, 0.0))
            throttle.check(attempt, 1.0)  # never blocked: each address failed once
        await store.close()
        return delays

    assert asyncio.run(run()) == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    settings = IssuerSettings(trusted_proxies=(ip_network("10.0.0.0/8"),))
    assert settings.client_address("127.0.0.1", "1.2.3.4") == "127.0.0.1"
    assert settings.client_address("10.1.1.1", "1.2.3.4, 10.2.2.2") == "1.2.3.4"
