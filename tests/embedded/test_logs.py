"""Logs: one format chosen by ``--log-format``, a configuration line only when something
changed, and the audit stream apart (standard output or ``--audit-log``)."""

import json

import requests

from tests.embedded.test_reloads import config_lines, reread
from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import eventually, gatekey, serving


def token(url):
    return requests.post(
        url + "/auth/jwt",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
        timeout=5,
    )


def test_json_is_the_default_and_every_line_is_json(tmp_path):
    folder = write_manifests(tmp_path / "m", policy("orders-jwt", "JWT")).parent
    with serving(folder, tmp_path / "s") as (url, process):
        token(url)
        process.terminate()
        process.wait(timeout=15)
        stdout, stderr = process.output()
    logged = [json.loads(line) for line in stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(logged[0])
    assert any(line["logger"] == "gatekey.serve" for line in logged)
    audit = [json.loads(line) for line in stdout.splitlines()]
    assert [line["logger"] for line in audit] == ["gatekey.audit"]
    assert audit[0]["error"] == "invalid_client"


def test_text_format_and_an_audit_file(tmp_path):
    folder = write_manifests(tmp_path / "m", policy("orders-jwt", "JWT")).parent
    audit_file = tmp_path / "audit.log"
    extra = ("--log-format", "text", "--audit-log", str(audit_file))
    with serving(folder, tmp_path / "s", *extra) as (url, process):
        token(url)
        eventually(lambda: audit_file.read_text())
        process.terminate()
        process.wait(timeout=15)
        stdout, stderr = process.output()
    assert stdout == ""  # the audit went to its file
    for line in stderr.splitlines():
        assert not line.startswith("{")
        assert " INFO gatekey." in line or " WARNING " in line or " ERROR " in line
    audit = audit_file.read_text().splitlines()
    assert len(audit) == 1
    assert " INFO gatekey.audit endpoint=/auth/jwt " in audit[0]
    assert "error=invalid_client" in audit[0]


def test_a_configuration_line_only_when_something_changed(tmp_path):
    folder = tmp_path / "m"
    manifest = write_manifests(folder, policy("orders-jwt", "JWT"))
    with serving(folder, tmp_path / "s") as (url, process):
        assert config_lines(process) == ["configuration loaded: 4 object(s), 0 manifest error(s)"]
        # A file that is no manifest changes nothing: the folder is re-read, nothing said.
        reread(url, folder, "notes.txt")
        assert len(config_lines(process)) == 1
        write_manifests(folder, policy("orders-jwt", "JWT"), policy("more", "OAuth2"))
        eventually(lambda: len(config_lines(process)) == 2)
        assert config_lines(process)[1].startswith("configuration changed: ")
        assert manifest.exists()


def test_a_bad_manifest_is_reported_once_not_at_every_re_read(tmp_path):
    folder = tmp_path / "m"
    write_manifests(folder, policy("orders-jwt", "JWT"))
    (folder / "bad.yaml").write_text(
        "apiVersion: gatekey.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: bad}\nspec: {}\n"
    )
    with serving(folder, tmp_path / "s") as (url, process):
        for n in range(3):  # three re-reads of an unchanged folder
            reread(url, folder, f"touch-{n}.txt")
        write_manifests(folder, policy("orders-jwt", "JWT"), policy("more", "OAuth2"))
        eventually(lambda: len(config_lines(process)) == 2)
        skipped = [
            line
            for line in map(json.loads, process.output()[1].splitlines())
            if "manifest skipped" in line["message"]
        ]
    assert len(skipped) == 1, skipped
    assert "bad.yaml" in skipped[0]["message"]


def test_the_environment_chooses_the_format_and_the_empty_scope(tmp_path):
    folder = write_manifests(tmp_path / "m", policy("orders-jwt", "JWT")).parent
    env = {"GATEKEY_LOG_FORMAT": "text", "GATEKEY_OMIT_EMPTY_SCOPE": "true"}
    key = json.loads(
        gatekey(
            "show-key",
            "--manifests",
            str(folder),
            "--state-dir",
            str(tmp_path / "s"),
            "ApiProxy/orders",
        ).stdout
    )
    with serving(folder, tmp_path / "s", env=env) as (url, process):
        issued = requests.post(
            url + "/auth/jwt", data={"grant_type": "client_credentials", **key}, timeout=5
        ).json()
        process.terminate()
        process.wait(timeout=15)
        stdout, stderr = process.output()
    assert "access_token" in issued
    assert "scope" not in issued  # nothing granted, and the issuer omits an empty scope
    assert " INFO gatekey.serve serving " in stderr
    assert " INFO gatekey.audit endpoint=/auth/jwt " in stdout
