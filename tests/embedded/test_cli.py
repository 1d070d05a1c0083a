"""``gatekey render`` and ``gatekey show-key`` (docs/operations.md)."""

import json

import yaml

from gatekey.operator import contract
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role, secret
from tests.support.process import gatekey


def test_render_prints_the_labelled_objects(tmp_path):
    write_manifests(
        tmp_path / "m",
        policy("p", "JWT"),
        credential("c", ["ApiProxy/orders"]),
        role("r", "Credential/c"),
    )
    result = gatekey("render", str(tmp_path / "m"), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert names == {
        ("ConfigMap", "gatekey-authpolicy-p"),
        ("ConfigMap", "gatekey-credential-c"),
        ("ConfigMap", "gatekey-role-r"),
        ("ConfigMap", "gatekey-jwks"),
        ("Secret", "apiproxy-orders-proxy-key"),
        ("Secret", "c-credentials"),
        ("Secret", "gatekey-signing-keys"),
    }
    for obj in objects:
        assert obj["metadata"]["labels"][contract.COMPONENT_LABEL] == "issuer-config"
        assert obj["metadata"]["labels"][contract.FORMAT_LABEL] == "1"
    assert not (tmp_path / "s").exists(), "render must not write the state dir"


def test_render_reports_a_bad_manifest_with_file_and_field(tmp_path):
    bad = policy("p", "JWT", token={"ttl": "soon"})
    write_manifests(tmp_path / "m", bad, name="policies.yaml")
    result = gatekey("render", str(tmp_path / "m"), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "policies.yaml[0] spec.token.ttl" in result.stderr


def test_show_key_adopts_a_preset_secret(tmp_path):
    write_manifests(
        tmp_path / "m",
        policy("p", "JWT", "ProxyGroup/shop"),
        secret("proxygroup-shop-proxy-key", client_id="shop", client_secret="preset"),
    )
    result = gatekey(
        "show-key",
        "--manifests",
        str(tmp_path / "m"),
        "--state-dir",
        str(tmp_path / "s"),
        "ProxyGroup/shop",
    )
    assert json.loads(result.stdout) == {"client_id": "shop", "client_secret": "preset"}


def test_show_key_for_an_unknown_target_fails(tmp_path):
    write_manifests(tmp_path / "m", policy("p", "JWT"))
    result = gatekey(
        "show-key",
        "--manifests",
        str(tmp_path / "m"),
        "--state-dir",
        str(tmp_path / "s"),
        "ApiProxy/absent",
    )
    assert result.returncode == 1
    assert "no key for ApiProxy/absent" in result.stderr
