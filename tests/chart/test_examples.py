"""examples/: every manifest valid for the API server and the CRDs, every seed scenario
served, and the flows its README shows answering as it says."""

import base64
import json
import re
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.settings import IssuerSettings
from tests.chart.schemas import describe, problems
from tests.support.issuer import RunningIssuer, running_issuer
from tests.support.process import gatekey, serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEED = EXAMPLES / "seed"
SCENARIOS = sorted(p.name for p in SEED.iterdir() if p.is_dir())
MANIFESTS = sorted(p for p in EXAMPLES.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_there_is_a_scenario_per_seed_section() -> None:
    assert SCENARIOS == [
        "01-policy-jwt",
        "02-policy-oauth2",
        "03-scopes",
        "04-acl-credentials",
        "05-proxy-group",
    ]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_manifest_is_valid(path: Path) -> None:
    """Gatekey's kinds against the CRDs (OpenAPI and CEL), the rest against Kubernetes."""
    found = {describe(doc): problems(doc) for doc in documents(path)}
    assert found, f"{path} holds no manifest"
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gatekey_render_accepts_the_scenario(scenario: str, tmp_path: Path) -> None:
    done = gatekey("render", str(SEED / scenario), "--state-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc}
    assert kinds == {"Secret", "ConfigMap"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_custom_resource_of_the_scenario_is_ready(scenario: str, tmp_path: Path) -> None:
    source = EmbeddedSource(SEED / scenario, StateDir(tmp_path), IssuerSettings(), persist=False)
    build = source.build()
    assert build.errors == ()
    statuses = build.rendered["default"].statuses
    names = {
        (doc["kind"], doc["metadata"]["name"])
        for path in (SEED / scenario).glob("*.yaml")
        for doc in documents(path)
        if doc["apiVersion"].startswith("gatekey.io/")
    }
    assert set(statuses) == names
    assert {key: s.reason for key, s in statuses.items() if not s.ready} == {}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_readme_applies_the_folder(scenario: str) -> None:
    readme = (SEED / scenario / "README.md").read_text()
    assert f"kubectl apply -n $NS -f examples/seed/{scenario}/" in readme
    assert "curl -s $GK/" in readme
    # Every Secret the README reads exists in the scenario's rendering (or is in it).
    for secret in re.findall(r"get secret -n \$NS (\S+)", readme):
        assert secret.endswith(("-proxy-key", "-credentials")), secret


# -- the READMEs' flows, against the embedded issuer serving the same folder ---------------


@pytest.fixture
def issuer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningIssuer]:
    with running_issuer(SEED / request.param, tmp_path) as running:
        yield running


def token(answer: requests.Response, field: str = "access_token") -> str:
    assert answer.status_code == 200, answer.text
    return str(answer.json()[field])


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize("issuer", ["01-policy-jwt"], indirect=True)
def test_policy_jwt_flow(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    cc = issuer.post(
        "/auth/jwt",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert claims(token(cc))["aud"] == ["ApiProxy/orders"]
    password = issuer.post(
        "/auth/jwt",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "alice",
            "password": "wonderland",
        },
    )
    assert password.json()["expires_in"] == 900
    assert claims(token(password))["sub"] == "alice"
    refreshed = issuer.post(
        "/auth/jwt",
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": "-",
            "refresh_token": token(password, "refresh_token"),
        },
    )
    assert claims(token(refreshed))["sub"] == "alice"
    assert issuer.get("/auth/.well-known/jwks.json").json()["keys"]


@pytest.mark.parametrize("issuer", ["02-policy-oauth2"], indirect=True)
def test_policy_oauth2_flow(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.proxy_key("ApiProxy", "payments")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = issuer.post("/auth/token", form)
    assert token(answer).startswith("gkat_")
    assert token(issuer.get("/auth/token", params=form)).startswith("gkat_")  # URL parameters
    bob = issuer.post(
        "/auth/token",
        {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": "-",
            "username": "bob",
            "password": "builder",
        },
    )
    assert token(bob).startswith("gkat_")
    refresh = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": token(answer, "refresh_token"),
    }
    assert issuer.post("/auth/token", refresh | {"client_secret": "-"}).status_code == 401
    assert token(issuer.post("/auth/token", refresh | {"client_secret": secret}))
    auth = (client_id, secret)
    access = token(answer)
    assert issuer.post("/auth/introspect", {"token": access}, auth=auth).json()["active"] is True
    assert issuer.post("/auth/revoke", {"token": access}, auth=auth).status_code == 200
    assert issuer.post("/auth/introspect", {"token": access}, auth=auth).json()["active"] is False


@pytest.mark.parametrize("issuer", ["03-scopes"], indirect=True)
def test_scopes_flow(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.proxy_key("ApiProxy", "inventory")
    cc = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    read = issuer.post("/auth/jwt", cc | {"scope": "inventory.read"})
    assert read.json()["scope"] == "inventory.read"
    assert claims(token(read))["scope"] == "inventory.read"
    both = "inventory.read inventory.write"
    strict = issuer.post("/auth/jwt", cc | {"scope": both})
    assert (strict.status_code, strict.json()["error"]) == (400, "invalid_scope")
    lenient = issuer.post("/auth/token", cc | {"scope": both})
    assert lenient.json()["scope"] == "inventory.read"
    assert token(lenient, "token").startswith("gkat_")  # the renamed field
    user = {"grant_type": "password", "client_id": client_id, "client_secret": "-"}
    alice = issuer.post(
        "/auth/jwt", user | {"username": "alice", "password": "wonderland"} | {"scope": both}
    )
    assert set(alice.json()["scope"].split()) == {"inventory.read", "inventory.write"}
    bob = issuer.post("/auth/token", user | {"username": "bob", "password": "builder"})
    assert bob.json()["scope"] == "inventory.read"  # none requested: All


@pytest.mark.parametrize("issuer", ["04-acl-credentials"], indirect=True)
def test_acl_credentials_flow(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.credential("analytics")
    assert client_id == "analytics"
    cc = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = issuer.post("/credential/jwt", cc | {"scope": "reports.read"})
    assert answer.json()["tier"] == "gold"
    jwt = claims(token(answer))
    assert jwt["aud"] == ["ApiProxy/reports"]
    assert jwt["scope"] == "reports.read"
    assert (jwt["team"], jwt["plan"], jwt["contract"]) == ("analytics", "gold", "C-2041")
    assert "pin" not in jwt
    alice = issuer.post(
        "/credential/jwt",
        cc | {"grant_type": "password", "username": "alice", "password": "wonderland"},
    )
    assert claims(token(alice))["sub"] == "alice"
    refreshed = issuer.post(
        "/credential/jwt",
        cc | {"grant_type": "refresh_token", "refresh_token": token(answer, "refresh_token")},
    )
    assert token(refreshed)
    assert token(issuer.post("/credential/token", cc)).startswith("gkat_")
    billing = issuer.post(
        "/credential/token",
        {
            "grant_type": "client_credentials",
            "client_id": "billing",
            "client_secret": "change-me-to-a-long-random-value-0123456789abcdef",
        },
    )
    assert token(billing).startswith("gkat_")


@pytest.mark.parametrize("issuer", ["05-proxy-group"], indirect=True)
def test_proxy_group_flow(issuer: RunningIssuer) -> None:
    client_id, secret = issuer.proxy_key("ProxyGroup", "shop")
    jwt = token(
        issuer.post(
            "/auth/jwt",
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
    )
    assert set(claims(jwt)["aud"]) == {"ProxyGroup/shop", "ApiProxy/cart", "ApiProxy/checkout"}

    def authz(bearer: str, proxy: str) -> int:
        headers = {"Authorization": f"Bearer {bearer}", "X-Gatekey-Proxy": proxy}
        return issuer.get("/authz", headers=headers).status_code

    assert [authz(jwt, p) for p in ("cart", "checkout", "orders")] == [200, 200, 403]
    sf_id, sf_secret = issuer.credential("storefront")
    opaque = token(
        issuer.post(
            "/credential/token",
            {"grant_type": "client_credentials", "client_id": sf_id, "client_secret": sf_secret},
        )
    )
    assert authz(opaque, "checkout") == 200
    partner_id, partner_secret = issuer.proxy_key("PolicyGroup", "partner-apis")
    partner = token(
        issuer.post(
            "/auth/jwt",
            {
                "grant_type": "client_credentials",
                "client_id": partner_id,
                "client_secret": partner_secret,
            },
        )
    )
    assert [authz(partner, p) for p in ("cart", "checkout")] == [200, 403]


# -- docs/helm.md ----------------------------------------------------------------------------


def test_the_python_client_of_docs_helm_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python block of docs/helm.md, run as written against `gatekey serve` (whose issuer
    URL is its own address, as the chart's default is its Service's)."""
    text = (ROOT / "docs" / "helm.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    script = tmp_path / "client.py"
    script.write_text(block)
    folder, state = SEED / "01-policy-jwt", tmp_path / "state"
    with serving(folder, state) as (url, _process):
        shown = gatekey(
            "show-key", "--manifests", str(folder), "--state-dir", str(state), "ApiProxy/orders"
        )
        key = json.loads(shown.stdout)
        monkeypatch.setenv("GK", url)
        monkeypatch.setenv("CLIENT_ID", key["client_id"])
        monkeypatch.setenv("CLIENT_SECRET", key["client_secret"])
        runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.split()[:2] == [key["client_id"], "['ApiProxy/orders']"]
