"""Repeated failed authentications slow, then refuse with 429 (docs/contract.md), per client id,
user name and source address; one process on SQLite."""

from ipaddress import ip_network

import pytest

from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from tests.support.issuer import running_issuer, write_manifests
from tests.support.manifests import policy, user_pool


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


def post(issuer, via="10.0.0.1", **form):
    return issuer.post("/auth/jwt", form, headers={"X-Forwarded-For": f"{via}, 127.0.0.1"})


def test_a_client_id_is_blocked_after_failures_even_with_the_right_secret(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    for n in range(3):
        bad = post(
            issuer,
            via=f"10.0.0.{n}",
            grant_type="client_credentials",
            client_id=client_id,
            client_secret="wrong",
        )
        assert bad.status_code == 401
    refused = post(
        issuer,
        via="10.0.0.9",
        grant_type="client_credentials",
        client_id=client_id,
        client_secret=secret,
    )
    assert refused.status_code == 429
    assert refused.json()["error"] == "temporarily_unavailable"
    assert 0 < int(refused.headers["Retry-After"]) <= 900


def test_a_source_address_is_blocked_by_the_forwarded_for_hop(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    for n in range(3):
        post(
            issuer,
            via="192.0.2.7",
            grant_type="client_credentials",
            client_id=f"guess{n}",
            client_secret="x",
        )
    ok = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert post(issuer, via="192.0.2.8", **ok).status_code == 200
    assert post(issuer, via="192.0.2.7", **ok).status_code == 429


def test_a_user_name_is_blocked_across_addresses(issuer):
    client_id, _ = issuer.proxy_key("ApiProxy", "orders")
    form = {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": "-",
        "username": "alice",
    }
    for n in range(3):
        wrong = post(issuer, via=f"198.51.100.{n}", password="nope", **form)
        assert wrong.json()["error"] == "invalid_grant"
    right = post(issuer, via="198.51.100.50", password="wonderland", **form)
    assert right.status_code == 429


def test_a_success_clears_the_client_counter(issuer):
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    bad = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
    good = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    for n in range(2):
        post(issuer, via=f"203.0.113.{n}", **bad)
    assert post(issuer, via="203.0.113.10", **good).status_code == 200
    for n in range(2):
        post(issuer, via=f"203.0.113.{20 + n}", **bad)
    assert post(issuer, via="203.0.113.30", **good).status_code == 200


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    settings = IssuerSettings(trusted_proxies=(ip_network("10.0.0.0/8"),))
    assert settings.client_address("127.0.0.1", "1.2.3.4") == "127.0.0.1"
    assert settings.client_address("10.1.1.1", "1.2.3.4, 10.2.2.2") == "1.2.3.4"
