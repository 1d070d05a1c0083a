"""The operator writes exactly what ``gatekey render`` prints for the same manifests.

The manifests of ``examples/kubernetes/`` are applied to the emulator; once every
CR is Ready, the CRs as stored (uid, creationTimestamp, generation and the API
server's defaults included) and the user's Secrets are written to a folder, the
Secrets the operator generated go to a state dir (so that both sides share the
random values), and ``gatekey render`` runs on them. Every labelled Secret and
ConfigMap in the namespace must equal a rendered object, field for field, apart
from what the API server adds (uid, resourceVersion, creationTimestamp).
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.operator import contract
from tests.operator.helpers import labelled, values, wait_condition
from tests.support.kube_harness import ROOT, KubeClient
from tests.support.process import gatekey

pytestmark = pytest.mark.usefixtures("operator")
EXAMPLES = ROOT / "examples" / "kubernetes"
KINDS = {"AuthPolicy", "Credential", "Role", "Secret"}
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
GENERATED = {"proxy-key", "credential-secret", "signing-keys"}


def example_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] in KINDS]
    return docs


def server_side(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_FIELDS}
    return {**obj, "metadata": meta}


def test_objects_match_gatekey_render(kube: KubeClient, ns: str, tmp_path: Path) -> None:
    docs = example_documents()
    for doc in sorted(docs, key=lambda d: d["kind"] != "Secret"):  # Secrets first
        kube.create(doc, ns)
    crs = [d for d in docs if d["kind"] != "Secret"]
    for doc in crs:
        wait_condition(kube, doc["kind"], ns, doc["metadata"]["name"])
    written = labelled(kube, ns)

    manifests, state = tmp_path / "manifests", StateDir(tmp_path / "state")
    manifests.mkdir()
    stored = [kube.get(d["kind"], ns, d["metadata"]["name"]) for d in docs]
    for obj in stored:
        if obj["kind"] == "Secret" and contract.config_kind(obj) is not None:
            # A user's Secret that Gatekey uses as it is: adopted, never owned.
            assert obj["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] == "true"
    (manifests / "all.yaml").write_text(yaml.safe_dump_all(stored))
    for (kind, name), obj in written.items():
        generated = contract.config_kind(obj) in GENERATED
        if (
            kind == "Secret"
            and generated
            and contract.ADOPTED_ANNOTATION not in obj["metadata"]["annotations"]
        ):
            state.save(ns, name, values(obj))

    result = gatekey("render", str(manifests), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    rendered = {
        (o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout) if o
    }

    assert sorted(written) == sorted(rendered)
    for key, obj in written.items():
        assert server_side(obj) == rendered[key], key
    # The example exercises every kind of object the contract has.
    kinds = {contract.config_kind(o) for o in written.values()}
    assert kinds == {
        "authpolicy",
        "credential",
        "role",
        "jwks",
        "proxy-key",
        "credential-secret",
        "credential-metadata",
        "user-pool",
        "signing-keys",
    }
