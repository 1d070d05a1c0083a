"""crds/ and examples/ on a real kube-apiserver: accepted, printed, validated as users see it.

The offline checks in tests/operator/test_crds.py emulate the API server's rules (structural
schemas, OpenAPI, CEL with cel-python); here the real server says yes or no, with the
messages a user of ``kubectl apply`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.test_crds import CASES
from tests.realkube.conftest import Kubectl
from tests.realkube.controlplane import ApiError, ControlPlane
from tests.support.manifests import credential, policy, role

ROOT = Path(__file__).resolve().parents[2]
PLURAL = {"AuthPolicy": "authpolicies", "Credential": "credentials", "Role": "roles"}


def create(
    plane: ControlPlane, doc: dict[str, Any], namespace: str, *, dry_run: bool = False
) -> dict[str, Any]:
    """POST as ``kubectl create`` does, with strict field validation (kubectl's default)."""
    path = f"/apis/gatekey.io/v1alpha1/namespaces/{namespace}/{PLURAL[doc['kind']]}"
    params = {"fieldValidation": "Strict"} | ({"dryRun": "All"} if dry_run else {})
    return dict(plane.request("POST", path, doc, params=params))


def test_the_crds_are_established_with_their_columns(kubectl: Kubectl, crds: list[str]) -> None:
    for name in crds:
        crd = yaml.safe_load(kubectl.run("get", "crd", name, "-o", "yaml").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        # No warnings such as "NonStructuralSchema" or a CEL cost error.
        assert "NonStructuralSchema" not in conditions


def test_server_side_apply_of_the_crds_is_idempotent(kubectl: Kubectl, crds: list[str]) -> None:
    again = kubectl.run(
        "apply", "--server-side", "--field-manager=gatekey-tests", "-f", ROOT / "crds"
    ).stdout
    assert again.count("serverside-applied") == len(crds)


def test_printer_columns_and_the_status_subresource(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    create(controlplane, credential("billing", acl=["ApiProxy/orders"]), namespace)
    base = f"/apis/gatekey.io/v1alpha1/namespaces/{namespace}/credentials/billing"
    # A write to the main resource ignores status; /status changes it (and only it).
    controlplane.request(
        "PATCH",
        base,
        {"status": {"clientId": "ignored"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert "clientId" not in (controlplane.get(base).get("status") or {})
    status = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Reconciled",
                "message": "all good",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "clientId": "gk_123",
    }
    controlplane.request(
        "PATCH",
        base + "/status",
        {"status": status, "spec": {"disabled": True}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    stored = controlplane.get(base)
    assert stored["status"]["clientId"] == "gk_123"
    assert not stored["spec"].get("disabled")  # /status ignores spec
    table = kubectl.run("get", "credentials", "-n", namespace, "-o", "wide").stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    assert header[:2] == ["NAME", "READY"]
    assert {"REASON", "MESSAGE", "AGE"} <= set(header)
    assert row[:2] == ["billing", "True"]
    assert "Reconciled" in row
    # The category: `kubectl get gatekey` lists the three kinds.
    listed = kubectl.run("get", "gatekey", "-n", namespace, "-o", "name").stdout
    assert "credential.gatekey.io/billing" in listed
    assert kubectl.run("get", "gkrole", "-n", namespace).returncode == 0


EXAMPLES = sorted(
    p for p in (ROOT / "examples").rglob("*.yaml") if "seed" not in p.relative_to(ROOT).parts
) + sorted((ROOT / "examples" / "seed").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_is_accepted(kubectl: Kubectl, namespace: str, path: Path) -> None:
    """``kubectl apply --dry-run=server``: schema, CEL, strict fields and admission, every
    kind (RBAC objects included); nothing is stored."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    # A manifest that names its namespace (the RBAC example) goes there, as for a user.
    named = {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}
    for other in named:
        kubectl.run("create", "namespace", other, check=False)
    where = [] if named else ["-n", namespace]
    out = kubectl.run("apply", *where, "--dry-run=server", "--validate=strict", "-f", path).stdout
    assert out.count("(server dry run)") == len(docs), out


# The messages users read when the real server refuses a manifest: (case, document, HTTP
# status, the message after `<Kind>.gatekey.io "<name>" is invalid: `). CEL rules answer
# with the CRD's message; OpenAPI with the field's path and the rule. When an OpenAPI rule
# fails, the server skips the CEL rules and says so.
SKIPPED_CEL = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object "
    "was invalid; correct the existing errors to complete validation"
)
REJECTED = [
    (
        "password grant without a user pool",
        policy("p", grantTypes=["password"]),
        422,
        "spec: Invalid value: userPool.secretName is required when grantTypes allows password",
    ),
    (
        "unknown grant",
        policy("p", grantTypes=["implicit"]),
        422,
        '[spec.grantTypes[0]: Unsupported value: "implicit": supported values: '
        f'"client_credentials", "password", {SKIPPED_CEL}]',
    ),
    (
        "bad duration",
        policy("p", token={"ttl": "1 hour"}),
        422,
        'spec.token.ttl: Invalid value: "1 hour": spec.token.ttl in body should match '
        "'^([0-9]+[smhd])+$'",
    ),
    (
        "bad target kind",
        policy("p", target="Service/x"),
        422,
        '[spec.targetRef.kind: Unsupported value: "Service": supported values: "ApiProxy", '
        f'"ProxyGroup", "PolicyGroup", {SKIPPED_CEL}]',
    ),
    (
        "claim without a value",
        credential("c", claims=[{"key": "k"}]),
        422,
        "spec.claims[0]: Invalid value: exactly one of value and valueFrom is required",
    ),
    (
        "reserved claim key",
        credential("c", claims=[{"key": "aud", "value": "x"}]),
        422,
        "spec.claims[0]: Invalid value: key is a reserved claim or response field name",
    ),
    (
        "bad secret name",
        credential("c", secretName="Not_A_Name"),
        422,
        'spec.secretName: Invalid value: "Not_A_Name": spec.secretName in body should match '
        "'^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'",
    ),
    (
        "bad scope",
        role("r", scope="has space"),
        422,
        'spec.scope: Invalid value: "has space": spec.scope in body should match '
        "'^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$'",
    ),
]


@pytest.mark.parametrize(
    ("case", "doc", "status", "message"), REJECTED, ids=[r[0] for r in REJECTED]
)
def test_invalid_resources_are_rejected_with_a_clear_message(
    controlplane: ControlPlane,
    namespace: str,
    case: str,
    doc: dict[str, Any],
    status: int,
    message: str,
) -> None:
    with pytest.raises(ApiError) as raised:
        create(controlplane, doc, namespace, dry_run=True)
    assert raised.value.status == status, raised.value.text
    name = doc["metadata"]["name"]
    expected = f'{doc["kind"]}.gatekey.io "{name}" is invalid: {message}'
    # Kubernetes 1.34 prints a CEL rule's failure as `Invalid value: "object": <message>`;
    # 1.37 without `"object": ` (GATEKEY_CONTROLPLANE_BIN runs the suite on another version).
    got = raised.value.body["message"].replace('Invalid value: "object": ', "Invalid value: ")
    assert got == expected


def test_an_unknown_field_is_refused_by_strict_validation(
    controlplane: ControlPlane, namespace: str
) -> None:
    """kubectl's default (``--validate=strict``): a misspelt field is an error, not dropped."""
    doc = credential("c") | {"spec": {"acl": [], "colour": "red"}}
    with pytest.raises(ApiError) as raised:
        create(controlplane, doc, namespace, dry_run=True)
    assert raised.value.status == 400
    assert raised.value.body["message"] == (
        'Credential in version "v1alpha1" cannot be handled as a Credential: '
        'strict decoding error: unknown field "spec.colour"'
    )


@pytest.mark.parametrize(("case", "doc", "valid"), CASES, ids=[c[0] for c in CASES])
def test_the_real_server_agrees_with_the_offline_checks(
    controlplane: ControlPlane, namespace: str, case: str, doc: dict[str, Any], valid: bool
) -> None:
    """Every case of the offline table (OpenAPI + cel-python + the model) gets the same
    answer from the real server: the emulated rules are the real ones."""
    if valid:
        create(controlplane, doc, namespace, dry_run=True)
        return
    with pytest.raises(ApiError) as raised:
        create(controlplane, doc, namespace, dry_run=True)
    assert raised.value.status == 422, raised.value.text
