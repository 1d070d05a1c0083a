"""A password longer than bcrypt reads (72 bytes), and the cost of an unknown user.

It used to be a 500 for an unknown user (bcrypt refused the decoy check) and a 400 for a
known one: the status told which user names exist, and 500s were never counted. Now
every case is 400 ``invalid_grant``, counted as a failure, and costs one check of the
same hash function at the same cost. Timing is checked structurally (which function,
which cost), never with a clock.
"""

from ipaddress import ip_network

import bcrypt
import pytest
from argon2 import PasswordHasher, extract_parameters

from gatekey.issuer import passwords
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from tests.support.issuer import running_issuer, write_manifests
from tests.support.manifests import bcrypt_hash, policy, user_pool

LONG = "p" * 100
EXACT = "e" * 72


@pytest.fixture
def issuer(tmp_path):
    write_manifests(
        tmp_path / "m",
        policy("p", "JWT", grantTypes=["password"], userPool={"secretName": "users"}),
        user_pool("users", {"alice": "wonderland", "max": EXACT}),
    )
    settings = IssuerSettings(trusted_proxies=(ip_network("127.0.0.0/8"),))
    limits = ThrottleSettings(slow_after=100, block_after=3)
    with running_issuer(tmp_path / "m", tmp_path / "s", settings, limits) as running:
        yield running


def login(issuer, username, password, via="192.0.2.1"):
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    form = {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": "-",
        "username": username,
        "password": password,
    }
    return issuer.post("/auth/jwt", form, headers={"X-Forwarded-For": f"{via}, 127.0.0.1"})


@pytest.fixture
def checks(monkeypatch):
    """Every bcrypt check made, as (bytes of password given, hash prefix with the cost)."""
    seen: list[tuple[int, str]] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        seen.append((len(password), hashed.decode()[:7]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return seen


@pytest.mark.parametrize("username", ["alice", "mallory"])
def test_a_long_password_is_invalid_grant_for_known_and_unknown_users(issuer, username):
    response = login(issuer, username, LONG)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def test_long_passwords_are_counted_as_failures(issuer):
    for _ in range(3):
        assert login(issuer, "mallory", LONG).status_code == 400
    assert login(issuer, "mallory", LONG).status_code == 429
    assert login(issuer, "mallory", LONG, via="192.0.2.2").status_code == 400


def test_bcrypt_reads_72_bytes_and_a_longer_password_is_not_truncated(issuer):
    assert login(issuer, "max", EXACT).status_code == 200
    assert login(issuer, "max", EXACT + "anything").status_code == 400


def test_every_failure_costs_one_check_at_the_pool_cost(issuer, checks):
    for username in ("alice", "mallory"):
        for password in ("short-and-wrong", LONG):
            assert login(issuer, username, password).status_code == 400
    cost = bcrypt_hash("wonderland")[:7]  # the pool's hashes: $2b$04$
    assert checks == [(15, cost), (72, cost), (15, cost), (72, cost)]


def test_an_unknown_user_is_checked_against_a_decoy_like_the_pool_argon2(monkeypatch):
    made = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x")
    seen = []
    real = PasswordHasher.verify

    def spy(self, hashed, password):
        seen.append(extract_parameters(hashed))
        return real(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    assert passwords.verify_hash(made, LONG) is False
    assert passwords.verify_hash(None, LONG, like=made) is False
    assert seen == [extract_parameters(made)] * 2


def test_an_unknown_hash_format_or_no_pool_still_costs_a_default_check(checks):
    assert passwords.verify_hash(None, LONG) is False
    assert passwords.verify_hash(None, "x", like="{SHA}unknown") is False
    assert checks == [(72, "$2b$10$"), (1, "$2b$10$")]
