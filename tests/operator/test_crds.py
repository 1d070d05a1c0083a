"""The CRDs: generated from the model, structural, valid, and as strict as the model.

No API server runs here, so the CRDs are checked three ways: as documents
(``kubernetes-validate`` against the apiextensions.k8s.io/v1 schema), as
structural schemas (the rules the API server enforces on them), and by applying
them to manifests (OpenAPI validation with ``jsonschema``, CEL rules with
``cel-python``) next to the pydantic model that parses the same manifests.
"""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gatekey.operator import crdgen
from gatekey.operator.model import ManifestError, parse_document
from tests.support.kube_harness import CRDS, ROOT
from tests.support.kube_semantics import CustomSchema, cel_rule_holds
from tests.support.manifests import credential, policy, role

K8S_VERSION = kubernetes_validate.latest_version()
BY_KIND = {kind.kind: kind for kind in crdgen.KINDS}


def load(kind: str) -> dict[str, Any]:
    return yaml.safe_load((CRDS / BY_KIND[kind].file_name).read_text())


def schema_of(kind: str) -> dict[str, Any]:
    return load(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_the_files_are_what_the_model_generates() -> None:
    """Fails when the model changed and `make crds` was not run (or a CRD was hand-edited)."""
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(k.file_name for k in crdgen.KINDS)
    for kind in crdgen.KINDS:
        assert (CRDS / kind.file_name).read_text() == crdgen.render_file(kind), kind.kind


def test_generation_writes_the_same_files(tmp_path: Path) -> None:
    assert crdgen.main([str(tmp_path)]) == 0
    for kind in crdgen.KINDS:
        assert (tmp_path / kind.file_name).read_text() == (CRDS / kind.file_name).read_text()


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_each_crd_is_a_valid_customresourcedefinition(kind: str) -> None:
    kubernetes_validate.validate(load(kind), K8S_VERSION, strict=True)


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_names_status_and_columns(kind: str) -> None:
    spec = load(kind)["spec"]
    assert spec["group"] == "gatekey.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["gatekey"]  # kubectl get gatekey
    assert all(n.startswith("gk") for n in spec["names"]["shortNames"])
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["storage"]
    assert version["served"]
    assert version["subresources"] == {"status": {}}
    columns = version["additionalPrinterColumns"]
    assert columns[0]["name"] == "Ready"
    assert columns[0]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    wide = {c["name"] for c in columns if c.get("priority") == 1}
    assert {"Reason", "Message"} <= wide
    assert len([c for c in columns if not c.get("priority")]) >= 3  # Ready, a main field, Age


def test_role_has_the_short_name_gkrole() -> None:
    # RBAC's Role shadows it in kubectl: `kubectl get gkrole` or `kubectl get roles.gatekey.io`.
    assert load("Role")["spec"]["names"]["shortNames"] == ["gkrole"]


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for key, sub in (node.get("properties") or {}).items():
        found += _walk(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_schemas_are_structural(kind: str) -> None:
    """The API server's rules for structural schemas, and no escape hatch on spec."""
    for path, node in _walk(schema_of(kind)):
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert not {"$ref", "allOf", "oneOf"} & set(node), path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert node.get("type") in ("object", "array", "string", "integer", "boolean"), path
            assert "anyOf" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert "items" in node, path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path
        for rule in node.get("x-kubernetes-validations", ()):
            assert rule["rule"], path
            assert rule["message"], path
    root = schema_of(kind)
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert root["properties"]["metadata"] == {"type": "object"}


def test_rules_that_iterate_lists_are_bounded() -> None:
    """The API server estimates a CEL rule's cost from maxItems/maxLength: without them a
    rule over a list is rejected when the CRD is created."""
    claims = schema_of("Credential")["properties"]["spec"]["properties"]["claims"]
    assert claims["maxItems"] <= 64
    for name in ("key", "claimName"):
        assert claims["items"]["properties"][name]["maxLength"] <= 253
    grants = schema_of("AuthPolicy")["properties"]["spec"]["properties"]["grantTypes"]
    assert grants["maxItems"] <= 8
    token = schema_of("AuthPolicy")["properties"]["spec"]["properties"]["token"]
    audience = token["properties"]["audience"]
    assert audience["maxItems"] <= 32
    assert audience["items"]["maxLength"] <= 512
    assert audience["items"]["x-kubernetes-validations"]


# The CRD schema (OpenAPI + CEL) and the model accept and reject the same manifests. -----

JWKS = {
    "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]
}

CASES = [
    (
        "password grant with a user pool",
        policy("p", grantTypes=["password"], userPool={"secretName": "u"}),
        True,
    ),
    ("password grant without a user pool", policy("p", grantTypes=["password"]), False),
    ("group with member proxies", policy("p", target="ProxyGroup/g", proxies=["a", "b"]), True),
    ("proxy with member proxies", policy("p", proxies=["a"]), False),
    ("unknown grant", policy("p", grantTypes=["implicit"]), False),
    (
        "routes with every path form",
        policy(
            "p",
            routes={
                "default": "Deny",
                "rules": [
                    {"path": {"prefix": "/a"}, "methods": ["GET"]},
                    {"path": {"exact": "/b"}, "require": {"allOf": ["s"], "claims": {"k": "v"}}},
                    {"path": {"glob": "/c/**/d/*"}, "action": "Deny"},
                ],
            },
        ),
        True,
    ),
    (
        "a route with two path forms",
        policy("p", routes={"rules": [{"path": {"prefix": "/a", "exact": "/a"}}]}),
        False,
    ),
    (
        "a route glob with ** inside a segment",
        policy("p", routes={"rules": [{"path": {"glob": "/a**"}}]}),
        False,
    ),
    ("a route method in lower case", policy("p", routes={"rules": [{"methods": ["get"]}]}), False),
    ("bad duration", policy("p", token={"ttl": "1 hour"}), False),
    ("unknown algorithm", policy("p", token={"algorithm": "none"}), False),
    ("bad target kind", policy("p", target="Service/x"), False),
    ("audience: a URL", policy("p", token={"audience": ["https://api.example.com"]}), True),
    ("audience: a target", policy("p", token={"audience": ["ApiProxy/cart"]}), True),
    ("audience: qualified", policy("p", token={"audience": ["ns/ProxyGroup/shop"]}), True),
    ("audience: kind without name", policy("p", token={"audience": ["ApiProxy/"]}), False),
    ("audience: bad name", policy("p", token={"audience": ["ns/ApiProxy/Cart"]}), False),
    ("audience: empty value", policy("p", token={"audience": [""]}), False),
    ("credential defaults", credential("c"), True),
    ("claim with a number", credential("c", claims=[{"key": "n", "value": 3}]), True),
    (
        "claim with value and valueFrom",
        credential(
            "c",
            claims=[
                {"key": "k", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
            ],
        ),
        False,
    ),
    ("claim without a value", credential("c", claims=[{"key": "k"}]), False),
    ("reserved claim key", credential("c", claims=[{"key": "aud", "value": "x"}]), False),
    (
        "reserved claim name",
        credential("c", claims=[{"key": "k", "value": "x", "claimName": "exp"}]),
        False,
    ),
    ("authorization claim key", credential("c", claims=[{"key": "roles", "value": "x"}]), False),
    ("reserved key in capitals", credential("c", claims=[{"key": "Groups", "value": "x"}]), False),
    (
        "reserved claim name in capitals",
        credential("c", claims=[{"key": "k", "value": "x", "claimName": "CNF"}]),
        False,
    ),
    (
        "a name that contains a reserved one",
        credential("c", claims=[{"key": "roles_note", "value": "x"}]),
        True,
    ),
    (
        "two claims under one JWT name",
        credential(
            "c", claims=[{"key": "a", "value": "1"}, {"key": "b", "value": "2", "claimName": "a"}]
        ),
        False,
    ),
    (
        "a secret claim may share a name",
        credential(
            "c",
            claims=[
                {"key": "a", "value": "1"},
                {"key": "b", "value": "2", "claimName": "a", "secret": True},
            ],
        ),
        True,
    ),
    (
        "duplicate claim keys",
        credential(
            "c",
            claims=[{"key": "a", "value": "1"}, {"key": "a", "value": "2", "includeInJwt": False}],
        ),
        False,
    ),
    ("bad secret name", credential("c", secretName="Not_A_Name"), False),
    (
        "bad ACL expiry",
        credential("c", acl=["ApiProxy/x"])
        | {"spec": {"acl": [{"kind": "ApiProxy", "name": "x", "expiresAt": "soon"}]}},
        False,
    ),
    ("role with users and pools", role("r", "User/alice", "Credential/c", pool="users"), True),
    (
        "pool on a credential subject",
        role("r") | {"spec": {"subjects": [{"kind": "Credential", "name": "c", "pool": "p"}]}},
        False,
    ),
    ("bad scope", role("r", scope="has space"), False),
    ("jwks from a Secret", credential("c", jwksSecretRef={"name": "k", "key": "a.json"}), True),
    (
        "jwks inline and from a Secret",
        credential("c", jwks=JWKS, jwksSecretRef={"name": "k"}),
        False,
    ),
    ("a bad jwks key name", credential("c", jwksSecretRef={"name": "k", "key": "a/b"}), False),
    ("proxy key jwks from a Secret", policy("p", proxyKeyJwksSecretRef={"name": "k"}), True),
    (
        "proxy key jwks inline and from a Secret",
        policy("p", proxyKeyJwks=JWKS, proxyKeyJwksSecretRef={"name": "k"}),
        False,
    ),
]


def schema_accepts(doc: dict[str, Any]) -> tuple[bool, str]:
    _, errors = CustomSchema(schema_of(doc["kind"])).admit(doc, strict=True)
    return not errors, "; ".join(map(str, errors))


def model_accepts(doc: dict[str, Any]) -> tuple[bool, str]:
    try:
        parse_document(doc, "test", "0")
    except ManifestError as exc:
        return False, str(exc)
    return True, ""


@pytest.mark.parametrize(("case", "doc", "valid"), CASES, ids=[c[0] for c in CASES])
def test_crd_and_model_agree(case: str, doc: dict[str, Any], valid: bool) -> None:
    by_schema, why_schema = schema_accepts(doc)
    by_model, why_model = model_accepts(doc)
    assert by_schema == valid, why_schema
    assert by_model == valid, why_model


def test_each_cel_rule_has_a_case_that_breaks_it() -> None:
    """Every rule in the CRDs was shown false on some manifest above (none is dead)."""
    broken: set[str] = set()
    for _, doc, valid in CASES:
        if valid:
            continue
        _, errors = CustomSchema(schema_of(doc["kind"])).admit(doc, strict=True)
        broken |= {e.message for e in errors}
    for kind in BY_KIND:
        for _, node in _walk(schema_of(kind)):
            for rule in node.get("x-kubernetes-validations", ()):
                assert rule["message"] in broken, rule["rule"]


def test_cel_rules_compile_and_evaluate() -> None:
    rule = schema_of("AuthPolicy")["properties"]["spec"]["x-kubernetes-validations"][0]["rule"]
    assert cel_rule_holds(rule, {"grantTypes": ["client_credentials"]})
    assert not cel_rule_holds(rule, {"grantTypes": ["password"]})


# Examples --------------------------------------------------------------------------------

EXAMPLE_FILES = sorted((ROOT / "examples").glob("*/*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_are_valid(path: Path) -> None:
    """Gatekey kinds against the CRD schemas (strict, as kubectl's default field validation),
    built-in kinds against the Kubernetes schemas, and every manifest against the model."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        if doc["kind"] in BY_KIND and doc["apiVersion"].startswith("gatekey.io/"):
            ok, why = schema_accepts(doc)
            assert ok, f"{doc['kind']}/{doc['metadata']['name']}: {why}"
            assert model_accepts(doc)[0]
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
