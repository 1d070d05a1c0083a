"""The embedded mode's manifest folder: files, documents, and each object's last good version."""

import os
from pathlib import Path
from typing import Any

import yaml

from gatekey.issuer.embedded.folder import ManifestFolder
from gatekey.issuer.embedded.reading import MAX_FILE_BYTES
from tests.unit.helpers import credential_doc, policy_doc, role_doc, secret_doc


def write(path: Path, *docs: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def keys(loaded) -> set[tuple[str, str, str]]:
    return set(loaded.resources)


def test_multi_document_yaml_and_yml(tmp_path):
    write(tmp_path / "a.yaml", policy_doc("p"), role_doc("r"))
    write(tmp_path / "sub" / "b.yml", credential_doc("c"), secret_doc("users", htpasswd="a:b"))
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.errors == ()
    assert keys(loaded) == {
        ("AuthPolicy", "default", "p"),
        ("Role", "default", "r"),
        ("Credential", "default", "c"),
        ("Secret", "default", "users"),
    }
    assert loaded.resources[("Secret", "default", "users")].values() == {"htpasswd": "a:b"}


def test_namespace_kept(tmp_path):
    doc = role_doc("r")
    doc["metadata"]["namespace"] = "team"
    write(tmp_path / "a.yaml", doc)
    assert keys(ManifestFolder(tmp_path).load()) == {("Role", "team", "r")}


def test_other_files_ignored(tmp_path):
    write(tmp_path / "a.yaml", role_doc("r"))
    (tmp_path / "notes.txt").write_text("not: [yaml")
    (tmp_path / "b.json").write_text('{"apiVersion": "gatekey.io/v1alpha1"}')
    (tmp_path / "c.yaml.bak").write_text(":::")
    (tmp_path / "dir.yaml").mkdir()
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.errors == ()
    assert keys(loaded) == {("Role", "default", "r")}


def test_other_kinds_ignored(tmp_path):
    rbac = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "x"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    write(tmp_path / "a.yaml", rbac, cm, None, role_doc("r"))
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.errors == ()
    assert keys(loaded) == {("Role", "default", "r")}


def test_kind_list_unpacked(tmp_path):
    listed = {"apiVersion": "v1", "kind": "List", "items": [role_doc("a"), role_doc("b")]}
    write(tmp_path / "a.yaml", role_doc("first"), listed)
    assert keys(ManifestFolder(tmp_path).load()) == {
        ("Role", "default", "first"),
        ("Role", "default", "a"),
        ("Role", "default", "b"),
    }


def test_list_item_error_index(tmp_path):
    bad = role_doc("b", scope="two words")
    listed = {"apiVersion": "v1", "kind": "List", "items": [role_doc("a"), bad]}
    write(tmp_path / "a.yaml", role_doc("first"), listed)
    loaded = ManifestFolder(tmp_path).load()
    (error,) = loaded.errors
    assert (error.source, error.index, error.path) == ("a.yaml", "1.1", "spec.scope")
    assert keys(loaded) == {("Role", "default", "first"), ("Role", "default", "a")}


def test_error_carries_file_index_and_path(tmp_path):
    write(tmp_path / "team" / "p.yaml", role_doc("ok"), policy_doc("p", token={"ttl": "soon"}))
    (error,) = ManifestFolder(tmp_path).load().errors
    assert error.source == os.path.join("team", "p.yaml")
    assert error.index == "1"
    assert error.path == "spec.token.ttl"
    assert str(error).startswith("team/p.yaml[1] spec.token.ttl")


def test_broken_edit_keeps_previous_version(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", policy_doc("p", token={"ttl": "1h"}), role_doc("r"))
    write(tmp_path / "b.yaml", role_doc("s", scope="before"))
    folder.load()

    write(tmp_path / "a.yaml", policy_doc("p", token={"ttl": "never"}), role_doc("r", scope="new"))
    write(tmp_path / "b.yaml", role_doc("s", scope="after"))
    loaded = folder.load()
    assert [e.path for e in loaded.errors] == ["spec.token.ttl"]
    assert loaded.resources[("AuthPolicy", "default", "p")].spec.token.ttl == "1h"
    assert loaded.resources[("Role", "default", "r")].scope == "new"
    assert loaded.resources[("Role", "default", "s")].scope == "after"


def test_previous_version_survives_several_broken_loads(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", policy_doc("p", token={"ttl": "2h"}))
    folder.load()
    write(tmp_path / "a.yaml", policy_doc("p", token={"ttl": "x"}))
    folder.load()
    loaded = folder.load()
    assert loaded.resources[("AuthPolicy", "default", "p")].spec.token.ttl == "2h"
    write(tmp_path / "a.yaml", policy_doc("p", token={"ttl": "3h"}))
    loaded = folder.load()
    assert loaded.errors == ()
    assert loaded.resources[("AuthPolicy", "default", "p")].spec.token.ttl == "3h"


def test_broken_new_object_is_absent(tmp_path):
    write(tmp_path / "a.yaml", policy_doc("p", type_="SAML"))
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.resources == {}
    assert [e.path for e in loaded.errors] == ["spec.type"]


def test_yaml_syntax_error_keeps_only_the_policies_of_the_file(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", policy_doc("p"), role_doc("r"), credential_doc("c"))
    write(tmp_path / "b.yaml", role_doc("t", scope="before"))
    folder.load()

    (tmp_path / "a.yaml").write_text("kind: Role\nmetadata: {name: [unclosed\n")
    write(tmp_path / "b.yaml", role_doc("t", scope="after"))
    loaded = folder.load()
    (error,) = loaded.errors
    assert error.source == "a.yaml"
    assert "line" in error.message
    # The edit may have been the one that took a grant away: Roles and Credentials stop.
    assert keys(loaded) == {("AuthPolicy", "default", "p"), ("Role", "default", "t")}
    assert loaded.kept == {("AuthPolicy", "default", "p")}
    assert loaded.withheld == {("Role", "default", "r"), ("Credential", "default", "c")}
    assert loaded.resources[("Role", "default", "t")].scope == "after"

    again = folder.load()
    assert keys(again) == keys(loaded)


def test_an_invalid_edit_fails_closed_for_credentials_roles_and_secrets(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(
        tmp_path / "a.yaml",
        policy_doc("p", token={"ttl": "1h"}),
        credential_doc("c"),
        role_doc("r"),
        secret_doc("users", htpasswd="a:b"),
    )
    assert folder.load().errors == ()

    bad_role = role_doc("r")
    bad_role["spec"]["subjects"] = "everyone"
    bad_credential = credential_doc("c", disabled=True, expiresAt="next tuesday")
    bad_secret = secret_doc("users")
    bad_secret["data"] = {"htpasswd": "not base64!"}
    write(
        tmp_path / "a.yaml",
        policy_doc("p", token={"ttl": "soon"}),
        bad_credential,
        bad_role,
        bad_secret,
    )
    loaded = folder.load()
    assert len(loaded.errors) == 4
    assert keys(loaded) == {("AuthPolicy", "default", "p")}
    assert loaded.resources[("AuthPolicy", "default", "p")].spec.token.ttl == "1h"
    assert loaded.withheld == {
        ("Credential", "default", "c"),
        ("Role", "default", "r"),
        ("Secret", "default", "users"),
    }


def test_yaml_error_in_new_file_loads_nothing_from_it(tmp_path):
    (tmp_path / "a.yaml").write_text("a: [\n")
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.resources == {}
    assert len(loaded.errors) == 1


def test_removed_file_removes_objects(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", role_doc("r"))
    write(tmp_path / "b.yaml", role_doc("s"))
    folder.load()
    (tmp_path / "a.yaml").unlink()
    assert keys(folder.load()) == {("Role", "default", "s")}


def test_removed_document_removes_object(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", role_doc("r"), role_doc("s"))
    folder.load()
    write(tmp_path / "a.yaml", role_doc("s"))
    assert keys(folder.load()) == {("Role", "default", "s")}


def test_duplicate_object_reported(tmp_path):
    write(tmp_path / "a.yaml", role_doc("r", scope="first"))
    write(tmp_path / "b.yaml", role_doc("x"), role_doc("r", scope="second"))
    loaded = ManifestFolder(tmp_path).load()
    (error,) = loaded.errors
    assert (error.source, error.index, error.path) == ("b.yaml", "1", "metadata.name")
    assert "twice" in error.message
    assert loaded.resources[("Role", "default", "r")].scope == "first"


def test_same_name_other_kind_or_namespace_is_no_duplicate(tmp_path):
    other_ns = role_doc("r")
    other_ns["metadata"]["namespace"] = "team"
    write(tmp_path / "a.yaml", role_doc("r"), other_ns, credential_doc("r"))
    loaded = ManifestFolder(tmp_path).load()
    assert loaded.errors == ()
    assert len(loaded.resources) == 3


def test_non_mapping_document_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("- just\n- a list\n")
    (error,) = ManifestFolder(tmp_path).load().errors
    assert (error.source, error.index) == ("a.yaml", "0")


def test_non_utf8_file_reported(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"kind: \xff\xfe\n")
    write(tmp_path / "b.yaml", role_doc("r"))
    loaded = ManifestFolder(tmp_path).load()
    assert [e.source for e in loaded.errors] == ["a.yaml"]
    assert keys(loaded) == {("Role", "default", "r")}


def test_configmap_volume_layout(tmp_path):
    stamped = tmp_path / "..2030_01_01_00_00_00.1"
    write(stamped / "roles.yaml", role_doc("r"))
    (tmp_path / "..data").symlink_to(stamped.name)
    (tmp_path / "roles.yaml").symlink_to(Path("..data") / "roles.yaml")
    loaded = ManifestFolder(tmp_path).load()
    assert keys(loaded) == {("Role", "default", "r")}
    assert loaded.errors == ()


def test_bad_files_are_contained_and_named(tmp_path):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "good.yaml", role_doc("r"))
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 20_000)
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "nul.yaml").write_bytes(b"kind: Role\x00\n")
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(bomb))
    (tmp_path / "loop.yaml").write_text("a: &a [*a]\n")
    loaded = folder.load()
    reasons = {e.source: e.message for e in loaded.errors}
    assert set(reasons) == {
        "deep.yaml",
        "binary.yaml",
        "nul.yaml",
        "huge.yaml",
        "bomb.yaml",
        "loop.yaml",
    }
    assert "nested more than" in reasons["deep.yaml"]
    assert "not UTF-8" in reasons["binary.yaml"]
    assert "control character" in reasons["nul.yaml"]
    assert "larger than" in reasons["huge.yaml"]
    assert "alias" in reasons["bomb.yaml"]
    assert "alias" in reasons["loop.yaml"]
    assert keys(loaded) == {("Role", "default", "r")}


def test_an_edit_is_seen_whatever_the_clock_says_and_unchanged_files_are_not_parsed_again(
    tmp_path,
):
    folder = ManifestFolder(tmp_path)
    write(tmp_path / "a.yaml", role_doc("r", scope="one"))
    write(tmp_path / "b.yaml", role_doc("s"))
    folder.load()
    parsed_b = folder._parsed["b.yaml"]
    stat = (tmp_path / "a.yaml").stat()
    # Same size, same modification time: only the content tells the edit apart.
    write(tmp_path / "a.yaml", role_doc("r", scope="two"))
    os.utime(tmp_path / "a.yaml", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (tmp_path / "a.yaml").stat().st_size == stat.st_size
    loaded = folder.load()
    assert loaded.resources[("Role", "default", "r")].scope == "two"
    assert folder._parsed["b.yaml"] is parsed_b
