"""The emulator behaves as the API server where the operator (and the issuer's watch) rely on it.

Without these, an operator test could pass against the emulator and fail in a
cluster: a watch that replays from the wrong version, a patch that silently
succeeds, status that leaks into spec.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.kube_harness import EmulatorThread, KubeClient, KubeError
from tests.support.manifests import credential, role, secret


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    thread = EmulatorThread(garbage_collection=True).start()
    yield thread
    thread.stop()


@pytest.fixture
def kube(emu: EmulatorThread) -> KubeClient:
    return KubeClient(emu.url)


def watch(kube: KubeClient, path: str, **params: str) -> list[dict[str, Any]]:
    """The events of a watch that the server ends after ``timeoutSeconds``."""
    # A fraction of a second keeps the suite fast (a real API server takes whole seconds).
    params = {"watch": "true", "timeoutSeconds": "0.3", **params}
    response = requests.get(kube.url + path, params=params, stream=True, timeout=10)
    return [json.loads(line) for line in response.iter_lines() if line]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_objects_get_server_fields(kube: KubeClient) -> None:
    created = kube.create(role("r"), "emu-fields")
    meta = created["metadata"]
    assert created["apiVersion"] == "gatekey.io/v1alpha1"
    assert created["kind"] == "Role"
    assert meta["namespace"] == "emu-fields"
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["generation"] == 1
    assert meta["creationTimestamp"].endswith("Z")
    assert created["spec"] == {"description": "", "subjects": []}  # CRD defaults


def test_generation_counts_spec_changes_only(kube: KubeClient) -> None:
    ns = "emu-generation"
    kube.create(role("r"), ns)
    kube.patch("Role", ns, "r", {"metadata": {"labels": {"a": "b"}}})
    assert kube.get("Role", ns, "r")["metadata"]["generation"] == 1
    kube.patch("Role", ns, "r", {"spec": {"description": "new"}})
    assert kube.get("Role", ns, "r")["metadata"]["generation"] == 2


def test_status_is_a_subresource(kube: KubeClient) -> None:
    ns = "emu-status"
    kube.create({**role("r"), "status": {"scope": "ignored"}}, ns)
    assert "status" not in kube.get("Role", ns, "r")
    path = kube.path("Role", ns, "r")
    merge = {"Content-Type": "application/merge-patch+json"}
    kube.request("PATCH", path, {"status": {"scope": "s"}}, headers=merge)
    assert "status" not in kube.get("Role", ns, "r")  # the main resource ignores status
    kube.request(
        "PATCH", path + "/status", {"status": {"scope": "s"}, "spec": {"x": 1}}, headers=merge
    )
    stored = kube.get("Role", ns, "r")
    assert stored["status"] == {"scope": "s"}
    assert "x" not in stored["spec"]  # ...and /status ignores the rest
    with pytest.raises(KubeError) as caught:
        kube.request("PATCH", path + "/status", {"status": {"subjects": -1}}, headers=merge)
    assert caught.value.status == 422  # the status schema is enforced too


def test_a_no_op_patch_changes_nothing(kube: KubeClient) -> None:
    ns = "emu-noop"
    before = kube.create(role("r", scope="s"), ns)
    after = kube.patch("Role", ns, "r", {"spec": {"scope": "s"}})
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_json_patch_test_failure_is_422(kube: KubeClient) -> None:
    ns = "emu-jsonpatch"
    created = kube.create(role("r"), ns)
    path = kube.path("Role", ns, "r")
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    with pytest.raises(KubeError) as caught:
        kube.request("PATCH", path, ops, headers={"Content-Type": "application/json-patch+json"})
    assert caught.value.status == 422
    ops[0]["value"] = created["metadata"]["resourceVersion"]
    patched = kube.request(
        "PATCH", path, ops, headers={"Content-Type": "application/json-patch+json"}
    )
    assert patched["metadata"]["finalizers"] == ["x"]


def test_server_side_apply_is_refused_not_ignored(kube: KubeClient) -> None:
    ns = "emu-apply"
    kube.create(role("r"), ns)
    with pytest.raises(KubeError) as caught:
        kube.request(
            "PATCH",
            kube.path("Role", ns, "r"),
            {"spec": {}},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
    assert caught.value.status == 415


def test_put_checks_the_resource_version(kube: KubeClient) -> None:
    ns = "emu-put"
    created = kube.create(role("r"), ns)
    stale = {**created, "spec": {"description": "late"}}
    kube.patch("Role", ns, "r", {"spec": {"description": "first"}})
    with pytest.raises(KubeError) as caught:
        kube.request("PUT", kube.path("Role", ns, "r"), stale)
    assert caught.value.status == 409


def test_secrets_fold_string_data(kube: KubeClient) -> None:
    stored = kube.create(secret("s", a="b"), "emu-secret")
    assert stored["data"] == {"a": "Yg=="}
    assert "stringData" not in stored
    assert stored["type"] == "Opaque"


def test_generate_name(kube: KubeClient) -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-"}}
    stored = kube.create(doc, "emu-generate")
    assert stored["metadata"]["name"].startswith("cm-")
    assert len(stored["metadata"]["name"]) > 3


def test_finalizers_hold_deletion(kube: KubeClient) -> None:
    ns = "emu-finalizers"
    kube.create({**role("r"), "metadata": {"name": "r", "finalizers": ["keep"]}}, ns)
    kube.delete("Role", ns, "r")
    assert kube.get("Role", ns, "r")["metadata"]["deletionTimestamp"]
    kube.patch("Role", ns, "r", {"metadata": {"finalizers": None}})
    assert kube.get("Role", ns, "r") is None


def test_label_selectors_and_pagination(kube: KubeClient) -> None:
    ns = "emu-select"
    for name, labels in [("a", {"app": "x"}), ("b", {"app": "y"}), ("c", {})]:
        kube.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}},
            ns,
        )
    names = lambda sel: [o["metadata"]["name"] for o in kube.list("ConfigMap", ns, sel)]  # noqa: E731
    assert names("app=x") == ["a"]
    assert names("app!=x") == ["b", "c"]
    assert names("app in (x,y)") == ["a", "b"]
    assert names("!app") == ["c"]
    assert names("app") == ["a", "b"]
    page = kube.request("GET", kube.path("ConfigMap", ns), params={"limit": "2"})
    assert len(page["items"]) == 2
    rest = kube.request(
        "GET",
        kube.path("ConfigMap", ns),
        params={"limit": "2", "continue": page["metadata"]["continue"]},
    )
    assert [o["metadata"]["name"] for o in rest["items"]] == ["c"]
    with pytest.raises(KubeError) as caught:
        kube.list("ConfigMap", ns, "app in x")
    assert caught.value.status == 400


def test_a_watch_resumes_after_its_resource_version(kube: KubeClient) -> None:
    ns = "emu-resume"
    path = kube.path("ConfigMap", ns)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}
    kube.create(cm, ns)
    listed = kube.request("GET", path)
    version = listed["metadata"]["resourceVersion"]
    kube.patch("ConfigMap", ns, "one", {"data": {"k": "v"}})
    kube.create({**cm, "metadata": {"name": "two"}}, ns)

    # Only what happened after the listed version, in order: no replay of "one" as ADDED.
    assert summary(watch(kube, path, resourceVersion=version)) == [
        ("MODIFIED", "one"),
        ("ADDED", "two"),
    ]
    # Without a version: the current state, as ADDED.
    assert summary(watch(kube, path)) == [("ADDED", "one"), ("ADDED", "two")]


def test_a_watch_too_far_behind_gets_410(emu: EmulatorThread, kube: KubeClient) -> None:
    ns = "emu-gone"
    path = kube.path("ConfigMap", ns)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    kube.create(cm, ns)
    old = kube.request("GET", path)["metadata"]["resourceVersion"]
    limit = emu.call(lambda e: e.log_limit)
    emu.call(lambda e: setattr(e, "log_limit", 2))
    try:
        for i in range(4):
            kube.patch("ConfigMap", ns, "x", {"data": {"i": str(i)}})
    finally:
        emu.call(lambda e: setattr(e, "log_limit", limit))
    events = watch(kube, path, resourceVersion=old)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


def test_leaving_a_selector_is_a_deletion(kube: KubeClient) -> None:
    ns = "emu-leave"
    path = kube.path("ConfigMap", ns)
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "m", "labels": {"app": "x"}},
        },
        ns,
    )
    version = kube.request("GET", path)["metadata"]["resourceVersion"]
    kube.patch("ConfigMap", ns, "m", {"metadata": {"labels": {"app": None}}})
    kube.patch("ConfigMap", ns, "m", {"metadata": {"labels": {"app": "x"}}})
    events = watch(kube, path, resourceVersion=version, labelSelector="app=x")
    assert summary(events) == [("DELETED", "m"), ("ADDED", "m")]


def test_bookmarks_carry_the_version(kube: KubeClient) -> None:
    events = watch(kube, kube.path("ConfigMap", "emu-bookmark"), allowWatchBookmarks="true")
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["metadata"]["resourceVersion"].isdigit()


def test_crd_schemas_validate_and_default(kube: KubeClient) -> None:
    ns = "emu-schema"
    with pytest.raises(KubeError) as caught:
        kube.create(credential("c", claims=[{"key": "k"}]), ns)
    assert caught.value.status == 422
    assert "exactly one of value and valueFrom" in caught.value.body["message"]
    unknown = credential("c", colour="blue")
    stored = kube.create(unknown, ns)
    assert "colour" not in stored["spec"]  # pruned, as the API server does
    with pytest.raises(KubeError) as caught:
        kube.request(
            "POST",
            kube.path("Credential", ns) + "?fieldValidation=Strict",
            {**unknown, "metadata": {"name": "d"}},
        )
    assert "colour" in caught.value.body["message"]


def test_owner_references_are_garbage_collected(kube: KubeClient) -> None:
    ns = "emu-gc"
    owner = kube.create(role("owner"), ns)
    other = kube.create(role("other"), ns)
    ref = lambda o: {  # noqa: E731
        "apiVersion": o["apiVersion"],
        "kind": o["kind"],
        "name": o["metadata"]["name"],
        "uid": o["metadata"]["uid"],
    }
    single = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "single", "ownerReferences": [ref(owner)]},
    }
    shared = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shared", "ownerReferences": [ref(owner), ref(other)]},
    }
    kube.create(single, ns)
    kube.create(shared, ns)
    kube.delete("Role", ns, "owner")
    assert kube.get("ConfigMap", ns, "single") is None
    remaining = kube.get("ConfigMap", ns, "shared")
    assert [r["name"] for r in remaining["metadata"]["ownerReferences"]] == ["other"]
    with pytest.raises(KubeError) as caught:  # kopf.adopt without kind used to do this
        kube.create({**single, "metadata": {"name": "bad", "ownerReferences": [{"name": "x"}]}}, ns)
    assert caught.value.status == 422


def test_posting_a_crd_declares_its_resource(kube: KubeClient) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    made = kube.request(
        "POST",
        "/apis/example.com/v1/namespaces/emu-crd/widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "size": 3},
    )
    assert made["size"] == 3
