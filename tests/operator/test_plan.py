"""Planning writes (pure): create what is missing, patch what differs, keep the user's data."""

from typing import Any

from gatekey.operator import contract
from gatekey.operator.kube.observed import ObservedObject, observe_object
from gatekey.operator.kube.plan import Clash, Create, Delete, Release, Update, plan

OWNER = {"apiVersion": "gatekey.io/v1alpha1", "kind": "Credential", "name": "c", "uid": "u1"}


def rendered(name: str = "c-credentials", *, adopted: bool = False, **data: str) -> dict[str, Any]:
    notes = {contract.SOURCE_KIND_ANNOTATION: "Credential", contract.SOURCE_NAME_ANNOTATION: "c"}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "labels": contract.labels("credential-secret"),
        "annotations": notes,
    }
    if adopted:
        notes[contract.ADOPTED_ANNOTATION] = "true"
    else:
        meta["ownerReferences"] = [OWNER]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": contract.encode_data(data or {"client_id": "a", "client_secret": "b"}),
    }


def existing(obj: dict[str, Any], version: str = "7", **changes: Any) -> ObservedObject:
    body = {**obj, "metadata": {**obj["metadata"], "uid": "x", "resourceVersion": version}}
    body["metadata"].update(changes.pop("metadata", {}))
    body.update(changes)
    return observe_object(body)


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_missing_objects_are_created() -> None:
    obj = rendered()
    (op,) = plan((obj,), {}).ops
    assert isinstance(op, Create)
    assert op.body == obj
    assert op.sources == {("Credential", "c")}


def test_an_up_to_date_object_is_not_written() -> None:
    obj = rendered()
    assert plan((obj,), {key(obj): existing(obj)}).ops == ()


def test_only_what_differs_is_patched() -> None:
    obj = rendered(client_id="a", client_secret="new")
    found = existing(rendered(client_id="a", client_secret="old", stale="x"))
    (op,) = plan((obj,), {key(obj): found}).ops
    assert isinstance(op, Update)
    assert op.changed == ("data",)
    assert op.patch == {"data": {**obj["data"], "stale": None}}


def test_foreign_labels_are_kept_and_ours_restored() -> None:
    obj = rendered()
    found = existing(
        obj, metadata={"labels": {**contract.labels("credential-secret"), "team": "a"}}
    )
    notes = dict(found.annotations)
    del notes[contract.SOURCE_NAME_ANNOTATION]
    found = ObservedObject(**{**found.__dict__, "annotations": notes})
    (op,) = plan((obj,), {key(obj): found}).ops
    assert op.patch == {"metadata": {"annotations": {contract.SOURCE_NAME_ANNOTATION: "c"}}}


def test_an_object_without_our_format_label_is_not_ours() -> None:
    obj = rendered()
    labels = {k: v for k, v in obj["metadata"]["labels"].items() if k != contract.FORMAT_LABEL}
    (op,) = plan((obj,), {key(obj): existing(obj, metadata={"labels": labels})}).ops
    assert isinstance(op, Clash)  # another format (or nobody's): never overwritten


def test_an_adopted_secret_gets_labels_never_data_or_owners() -> None:
    obj = rendered(adopted=True, client_id="theirs", client_secret="s")
    users = existing(
        {**obj, "metadata": {"name": obj["metadata"]["name"]}}, data={"client_secret": "czE="}
    )
    (op,) = plan((obj,), {key(obj): users}).ops
    assert isinstance(op, Update)
    assert set(op.patch) == {"metadata"}
    assert "ownerReferences" not in op.patch["metadata"]
    assert op.patch["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] == "true"


def test_an_unlabelled_object_in_the_way_is_a_clash() -> None:
    obj = rendered()
    theirs = existing({**obj, "metadata": {"name": obj["metadata"]["name"]}})
    (op,) = plan((obj,), {key(obj): theirs}).ops
    assert isinstance(op, Clash)
    assert op.sources == {("Credential", "c")}
    assert "not managed by Gatekey" in op.message


def test_what_nothing_renders_is_deleted_or_released() -> None:
    owned, adopted = rendered("gone"), rendered("kept", adopted=True)
    unrelated = existing({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other"}})
    ops = plan(
        (),
        {
            key(owned): existing(owned),
            key(adopted): existing(adopted),
            ("Secret", "other"): unrelated,
        },
    ).ops
    assert [type(op) for op in ops] == [Delete, Release]
    release = ops[1]
    assert release.patch["metadata"]["labels"] == dict.fromkeys(
        contract.labels("credential-secret")
    )


def test_objects_of_an_invalid_cr_are_kept() -> None:
    owned = rendered("last-good")
    assert plan((), {key(owned): existing(owned)}, keep={("Credential", "c")}).ops == ()


def test_only_the_secrets_of_keep_secrets_are_kept() -> None:
    secret = rendered("last-good")
    configmap = {
        **rendered("gatekey-credential-c"),
        "kind": "ConfigMap",
        "data": {contract.CREDENTIAL_KEY: "{}"},
    }
    del configmap["type"]
    configmap["metadata"] = {**configmap["metadata"], "labels": contract.labels("credential")}
    found = {key(secret): existing(secret), key(configmap): existing(configmap)}
    (op,) = plan((), found, keep_secrets={("Credential", "c")}).ops
    assert isinstance(op, Delete)
    assert op.key == ("ConfigMap", "gatekey-credential-c")
