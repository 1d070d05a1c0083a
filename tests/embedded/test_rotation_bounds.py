"""A rotation overlap too long to write down: ``previousSecretTTL`` (or ``--keep``) that
passes the duration pattern but puts the previous secret's expiry past year 9999.

It used to be a traceback: ``gatekey rotate-secret`` crashed, and a manifest asking for the
rotation stopped ``gatekey serve`` from starting at all (the render of the whole folder
failed, so every other client of the folder went down with it). Now it is a clear error on
that one object, and the rest is served.
"""

import json
from pathlib import Path

import requests

from gatekey.operator import contract
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy
from tests.support.process import gatekey, serving


def _rotate(manifests: Path, state: Path, *extra: str):  # type: ignore[no-untyped-def]
    return gatekey(
        "rotate-secret",
        "--manifests",
        str(manifests),
        "--state-dir",
        str(state),
        "Credential/svc",
        *extra,
    )


def test_rotate_secret_with_an_overlap_past_the_calendar_is_one_line(tmp_path: Path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(
        manifests, policy("acl", "OAuth2", management="ACL"), credential("svc", ["ApiProxy/orders"])
    )
    for keep in ("3000000d", "99999999999999d"):
        result = _rotate(manifests, state, "--keep", keep)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"--keep '{keep}' is longer than 365d" in result.stderr
    assert _rotate(manifests, state, "--keep", "365d").returncode == 0


def test_a_manifest_asking_for_an_overlap_past_the_calendar_does_not_stop_the_issuer(
    tmp_path: Path,
) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state"
    forever = credential("forever", ["ApiProxy/orders"], previousSecretTTL="3000000d")
    forever["metadata"]["annotations"] = {contract.ROTATE_SECRET_ANNOTATION: "now"}
    path = write_manifests(
        manifests,
        policy("acl", "OAuth2", management="ACL"),
        credential("neighbour", ["ApiProxy/orders"]),
        forever,
    )
    shown = gatekey(
        "show-key", "--manifests", str(manifests), "--state-dir", str(state), "Credential/neighbour"
    )
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    neighbour = json.loads(shown.stdout)
    with serving(manifests, state) as (url, process):
        answer = requests.post(
            url + "/credential/token",
            data={
                "grant_type": "client_credentials",
                "client_id": neighbour["client_id"],
                "client_secret": neighbour["client_secret"],
            },
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        errors = process.output()[1]
    assert "Traceback" not in errors
    assert path.name in errors
    assert "previousSecretTTL" in errors
