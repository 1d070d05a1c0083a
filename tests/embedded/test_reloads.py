"""Re-reads of the folder, seen from outside (``gatekey_snapshot_reloads_total`` on
``/metrics`` of a served ``gatekey serve``): a re-read that changed nothing keeps the
snapshot in force and its caches (``result="unchanged"``); an edited manifest, a rotated
secret in the state dir and a manifest error whose text changed are changes (``ok``)."""

import json
import re

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy, role
from tests.support.process import client_credentials, eventually, gatekey, serving, show_key

RELOADS = re.compile(r'^gatekey_snapshot_reloads_total\{result="(\w+)"\} (\S+)$', re.M)


def reloads(url: str) -> dict[str, float]:
    """The re-reads so far by result (``ok``, ``unchanged``, ``error``; absent: 0)."""
    text = requests.get(url + "/metrics", timeout=5).text
    return {result: float(count) for result, count in RELOADS.findall(text)}


def reread(url, folder, name) -> dict[str, float]:
    """Touch a file that is no manifest, wait until the folder was re-read (and found
    unchanged), and return the counts then."""
    before = reloads(url).get("unchanged", 0)
    (folder / name).write_text("not a manifest")
    return eventually(lambda: (now := reloads(url)).get("unchanged", 0) > before and now)


def config_lines(process):
    return [
        line["message"]
        for line in map(json.loads, process.output()[1].splitlines())
        if line["message"].startswith("configuration ")
    ]


def test_a_re_read_that_changed_nothing_keeps_the_snapshot_in_force(tmp_path):
    folder = tmp_path / "m"
    write_manifests(folder, policy("orders-jwt", "JWT"))
    with serving(folder, tmp_path / "s") as (url, _):
        assert reloads(url) == {"ok": 1}  # the first load
        for n in range(3):
            counts = reread(url, folder, f"notes-{n}.txt")
            assert counts == {"ok": 1, "unchanged": n + 1}, counts


def test_an_edited_manifest_is_still_swapped_in(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "s"
    write_manifests(manifests, policy("p", "JWT"), role("r", "ApiProxy/orders", scope="read"))
    key = show_key(manifests, state)
    with serving(manifests, state) as (url, _):
        assert reread(url, manifests, "notes.txt")["ok"] == 1
        assert client_credentials(url, **key, path="/auth/jwt", scope="write").status_code == 400
        write_manifests(manifests, policy("p", "JWT"), role("r", "ApiProxy/orders", scope="write"))
        eventually(
            lambda: (
                client_credentials(url, **key, path="/auth/jwt", scope="write").status_code == 200
            )
        )
        assert reloads(url)["ok"] >= 2


def test_a_secret_rotated_in_the_state_dir_is_a_change(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "s"
    write_manifests(manifests, policy("p", "OAuth2"))
    key = show_key(manifests, state)
    with serving(manifests, state) as (url, _):
        assert reread(url, manifests, "notes.txt")["ok"] == 1
        rotated = gatekey(
            "rotate-secret", "--manifests", str(manifests), "--state-dir", str(state),
            "ApiProxy/orders", "--keep", "0s",
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        new = json.loads(rotated.stdout)
        assert new["client_secret"] != key["client_secret"]
        eventually(lambda: client_credentials(url, **new).status_code == 200)
        assert client_credentials(url, **key).status_code == 401
        assert reloads(url)["ok"] >= 2


def test_a_manifest_error_whose_text_changed_is_a_change(tmp_path):
    folder = tmp_path / "m"
    write_manifests(folder, policy("orders-jwt", "JWT"))
    bad = folder / "bad.yaml"
    head = "apiVersion: gatekey.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: bad}\n"
    bad.write_text(head + "spec: {}\n")
    edited = tmp_path / "bad.yaml"
    edited.write_text(head + "spec: {type: Nope}\n")  # still one error, another text
    with serving(folder, tmp_path / "s") as (url, process):
        assert reread(url, folder, "notes.txt")["ok"] == 1
        edited.replace(bad)  # at once: a re-read never sees half a file
        eventually(lambda: reloads(url)["ok"] == 2)
        lines, log = config_lines(process), process.output()[1]
    assert lines == [
        "configuration loaded: 4 object(s), 1 manifest error(s)",
        "configuration changed: 4 object(s), 1 manifest error(s)",
    ]
    assert "bad.yaml[0] spec.type: Field required" in log
    assert "bad.yaml[0] spec.type: Input should be 'JWT' or 'OAuth2'" in log
