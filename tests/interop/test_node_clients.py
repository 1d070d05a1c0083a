"""Real Node clients nobody here wrote: openid-client 6 and jose 6, as node processes
against a served issuer (the quickstart manifests, ``gatekey serve`` on loopback).

``make tools`` installs them (``scripts/install-node-clients.sh``: pinned versions in
``tests/interop/node/package-lock.json``, into the ignored ``node_modules``).
"""

import json
import shutil
import subprocess
from pathlib import Path

import jwt as pyjwt
import pytest

from tests.support.process import gatekey, serving

NODE_DIR = Path(__file__).parent / "node"
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "openid-client").is_dir(),
    reason="node or the npm clients are missing: run make tools",
)


def run_node(flow: str, **data) -> dict:
    done = subprocess.run(
        [NODE, str(NODE_DIR / "clients.mjs"), flow, json.dumps(data)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "crashed" not in out, out["crashed"]
    return out


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quickstart served as ``make run`` serves it, with a low lockout threshold."""
    root = tmp_path_factory.mktemp("quickstart")
    manifests, state = root / "manifests", root / "state"
    shutil.copytree(QUICKSTART, manifests, ignore=shutil.ignore_patterns("*.py"))

    def key(target):
        shown = gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), target
        )
        return json.loads(shown.stdout)

    keys = {"proxy": key("ApiProxy/orders"), "credential": key("Credential/billing-service")}
    with serving(manifests, state, "--block-after", "3", "--slow-after", "100") as (url, _):
        yield url, keys


@pytest.mark.parametrize("method", ["basic", "post"])
def test_openid_client_policy_mode(quickstart, method):
    url, keys = quickstart
    proxy = keys["proxy"]
    out = run_node("client", issuer=url + "/auth", method=method, scope="orders.read", **proxy)
    assert out["metadata"] == {"issuer": url + "/auth", "token_endpoint": url + "/auth/jwt"}
    issued = out["client_credentials"]
    assert issued["token_type"].lower() == "bearer"
    assert issued["scope"] == "orders.read"
    assert out["refresh"]["access_token"] != issued["access_token"]
    assert out["introspection"]["active"] is True
    assert out["introspection"]["client_id"] == proxy["client_id"]
    assert out["after_revocation"] == {"active": False}


@pytest.mark.parametrize("method", ["basic", "post"])
def test_openid_client_acl_mode(quickstart, method):
    url, keys = quickstart
    cred = keys["credential"]
    out = run_node("client", issuer=url + "/credential", method=method, scope="orders.read", **cred)
    assert out["metadata"]["issuer"] == url + "/credential"
    assert out["client_credentials"]["scope"] == "orders.read"
    assert out["introspection"]["active"] is True
    assert out["after_revocation"] == {"active": False}


def test_openid_client_password_grant_with_the_seeds_dash(quickstart):
    url, keys = quickstart
    out = run_node(
        "password",
        issuer=url + "/auth",
        client_id=keys["proxy"]["client_id"],
        client_secret="-",
        username="alice",
        password="wonderland",
        scope="orders.read",
    )
    assert "ok" in out["password"], out["password"]
    claims = pyjwt.decode(
        out["password"]["ok"]["access_token"], options={"verify_signature": False}
    )
    assert claims["sub"] == "alice"
    assert out["password"]["ok"]["scope"] == "orders.read"
    assert "ok" in out["refresh"], out["refresh"]


def test_jose_verifies_the_access_token_from_the_metadata_jwks(quickstart):
    url, keys = quickstart
    proxy = keys["proxy"]
    # The audience expected is the one the token names for ApiProxy/orders.
    probe = run_node("client", issuer=url + "/auth", method="basic", scope="orders.read", **proxy)
    aud = pyjwt.decode(
        probe["client_credentials"]["access_token"], options={"verify_signature": False}
    )["aud"]
    audience = next(a for a in aud if a.endswith("ApiProxy/orders"))
    out = run_node("jose", issuer=url + "/auth", audience=audience, **proxy)
    assert out["header"]["typ"] == "at+jwt"
    assert out["header"]["kid"]
    assert out["payload"]["iss"] == url + "/auth"
    assert out["payload"]["client_id"] == proxy["client_id"]
    assert out["wrong_audience"]["failed"]["code"] == "ERR_JWT_CLAIM_VALIDATION_FAILED"


def test_openid_client_surfaces_the_lockout(quickstart):
    """Wrong secrets: invalid_client (401) until the block, then 429 temporarily_unavailable."""
    url, keys = quickstart
    cred = keys["credential"]
    out = run_node(
        "lockout",
        issuer=url + "/credential",
        client_id=cred["client_id"],
        wrong_secret="not-" + cred["client_secret"],
        attempts=4,
    )
    failures = [attempt["failed"] for attempt in out["attempts"]]
    for refused in failures[:3]:
        # A 401 with WWW-Authenticate (RFC 9110 §15.5.2) is surfaced as the challenge;
        # the RFC 6749 body stays readable on the error's response.
        assert refused["status"] == 401
        assert refused["code"] == "OAUTH_WWW_AUTHENTICATE_CHALLENGE"
        assert refused["challenges"][0]["scheme"] == "basic"
        assert refused["body"]["error"] == "invalid_client"
    assert failures[3]["error"] == "temporarily_unavailable"
    assert failures[3]["status"] == 429
    assert failures[3]["code"] == "OAUTH_RESPONSE_BODY_ERROR"
