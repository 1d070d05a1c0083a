"""Flags reach the running issuer (a process, as a user starts it)."""

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import serving


def test_trusted_proxies_and_issuer_url_flags(tmp_path):
    write_manifests(tmp_path / "m", policy("p", "JWT"))
    with serving(
        tmp_path / "m",
        tmp_path / "s",
        "--trusted-proxies",
        "127.0.0.0/8",
        "--issuer-url",
        "https://issuer.example",
    ) as (url, _):
        body = requests.get(
            url + "/auth/.well-known/oauth-authorization-server",
            timeout=5,
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "edge.example"},
        ).json()
    assert body["issuer"] == "https://issuer.example/auth"
    assert body["token_endpoint"] == "https://edge.example/auth/jwt"


def test_proxy_flag_is_the_sidecar_default(tmp_path):
    write_manifests(tmp_path / "m", policy("p", "JWT"))
    with serving(tmp_path / "m", tmp_path / "s", "--proxy", "ApiProxy/orders") as (url, _):
        response = requests.get(url + "/authz", timeout=5, headers={"Authorization": "Bearer x"})
    assert response.status_code == 401  # the proxy is known: the token is what fails
