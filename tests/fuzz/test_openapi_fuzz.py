"""Schemathesis fuzzes every documented operation: bad input never crashes the issuer
(no 5xx), and every answer has the documented shape (docs/contract.md)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gatekey.issuer.http.openapi import openapi_document
from tests.support.manifests import credential, policy, role, user_pool

schema = schemathesis.openapi.from_dict(openapi_document("http://127.0.0.1"))


@pytest.fixture(scope="module")
def issuer_url(tmp_path_factory):
    from gatekey.issuer.throttle import ThrottleSettings
    from tests.support.issuer import running_issuer, write_manifests

    folder = tmp_path_factory.mktemp("fuzz")
    write_manifests(
        folder / "m",
        policy(
            "jwt",
            "JWT",
            grantTypes=["client_credentials", "password"],
            userPool={"secretName": "users"},
            allowUrlParameters=True,
            token={"refresh": {"enabled": True}},
        ),
        policy("op", "OAuth2", token={"refresh": {"enabled": True}}),
        policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
        credential("svc", ["ProxyGroup/shop"]),
        user_pool("users", {"alice": "wonderland"}),
        role("r", "User/alice", scope="read"),
    )
    # Fuzzing fails authentication all the time: no slowing down, no blocking.
    lenient = ThrottleSettings(slow_after=10**9, block_after=10**9)
    with running_issuer(folder / "m", folder / "state", throttle=lenient) as issuer:
        yield issuer.url


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_crash_and_documented_answers(case, issuer_url):
    case.call_and_validate(
        base_url=issuer_url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=10,
    )
