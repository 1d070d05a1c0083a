"""The issuer-wide Token Management Settings from flags and ``GATEKEY_*`` variables, seen in
token responses over HTTP; an AuthPolicy's ``tokenManagement`` still overrides them; a bad
value is one line naming the flag."""

import json
from pathlib import Path

import pytest
import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy, role
from tests.support.process import gatekey, serving

FLAGS = (
    "--response-field-name",
    "access_token=token",
    "--response-omit",
    "token_type",
    "--expires-in-unit",
    "milliseconds",
    "--scope-when-not-requested",
    "All",
)
ENV = {
    "GATEKEY_RESPONSE_FIELD_NAME": "access_token=token",
    "GATEKEY_RESPONSE_OMIT": "token_type",
    "GATEKEY_EXPIRES_IN_UNIT": "milliseconds",
    "GATEKEY_SCOPE_WHEN_NOT_REQUESTED": "All",
}


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    write_manifests(
        folder,
        policy("orders", "JWT", "ApiProxy/orders"),
        policy(
            "billing",
            "JWT",
            "ApiProxy/billing",
            tokenManagement={"response": {"expiresInUnit": "seconds"}},
        ),
        role("read", "ApiProxy/orders", "ApiProxy/billing", scope="read"),
    )
    return folder


def issue(url: str, manifests: Path, state: Path, proxy: str) -> dict[str, object]:
    shown = gatekey(
        "show-key", "--manifests", str(manifests), "--state-dir", str(state), f"ApiProxy/{proxy}"
    )
    key = json.loads(shown.stdout)
    response = requests.post(
        url + "/auth/jwt",
        data={"grant_type": "client_credentials", **key},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_defaults_without_flags(tmp_path: Path, manifests: Path) -> None:
    with serving(manifests, tmp_path / "s") as (url, _):
        body = issue(url, manifests, tmp_path / "s", "orders")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "access_token" in body
    assert body.get("scope", "") == ""


@pytest.mark.parametrize("how", ["flags", "environment"])
def test_issuer_wide_settings_shape_the_response(tmp_path: Path, manifests: Path, how: str) -> None:
    extra, env = (FLAGS, None) if how == "flags" else ((), ENV)
    with serving(manifests, tmp_path / "s", *extra, env=env) as (url, _):
        orders = issue(url, manifests, tmp_path / "s", "orders")
        billing = issue(url, manifests, tmp_path / "s", "billing")
    assert "access_token" not in orders
    assert str(orders["token"]).count(".") == 2  # the JWT, under its new name
    assert "token_type" not in orders
    assert orders["expires_in"] == 3600 * 1000
    assert orders["scope"] == "read"
    # The policy's own tokenManagement wins field by field; the rest comes from the flags.
    assert billing["expires_in"] == 3600
    assert "token" in billing
    assert "token_type" not in billing


@pytest.mark.parametrize(
    ("args", "env", "flag"),
    [
        (["--scope-on-mismatch", "Sloppy"], {}, "--scope-on-mismatch 'Sloppy'"),
        ([], {"GATEKEY_EXPIRES_IN_UNIT": "hours"}, "--expires-in-unit 'hours'"),
        (["--response-omit", "access_token"], {}, "--response-omit"),
        (["--response-field-name", "scope"], {}, "--response-field-name 'scope'"),
        (
            ["--response-field-name", "expires_in=access_token"],
            {},
            "two token response fields would be named 'access_token'",
        ),
    ],
)
def test_a_bad_value_is_one_line(
    tmp_path: Path, manifests: Path, args: list[str], env: dict[str, str], flag: str
) -> None:
    done = gatekey(
        "serve", "--manifests", str(manifests), "--state-dir", str(tmp_path / "s"), *args, env=env
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gatekey serve: ")
    assert flag in lines[0]
