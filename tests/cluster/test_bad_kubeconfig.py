"""A kubeconfig that cannot be used is one line on standard error, naming the file and what is
wrong: no traceback, from ``gatekey serve --kube``, ``gatekey operator`` and
``gatekey show-key --kube``."""

import sys
from pathlib import Path

import pytest
import yaml

from tests.support.process import gatekey


def config(cluster: dict[str, object], user: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


BROKEN = {
    "missing": None,
    "not-yaml": "clusters: [\n  - {",
    "no-current-context": "apiVersion: v1\nkind: Config\nclusters: []\n",
    "missing-ca-file": config(
        {"server": "https://127.0.0.1:6443", "certificate-authority": "/nonexistent/ca.crt"}, {}
    ),
    "exec-plugin-fails": config(
        {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": sys.executable,
                "args": ["-c", "import sys; sys.exit('token service down')"],
            }
        },
    ),
}

COMMANDS = {
    "serve": ["serve", "--kube"],
    "operator": ["operator", "--namespace", "default"],
    "show-key": ["show-key", "--kube", "Credential/svc"],
}


CASES = [("serve", case) for case in sorted(BROKEN)] + [
    (command, case)
    for command in ("operator", "show-key")
    for case in ("missing", "exec-plugin-fails")
]


@pytest.mark.parametrize(("command", "case"), CASES)
def test_a_bad_kubeconfig_is_one_line(command: str, case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.kubeconfig"
    if BROKEN[case] is not None:
        path.write_text(str(BROKEN[case]))
    done = (
        gatekey(
            *COMMANDS[command],
            "--kubeconfig",
            str(path),
            "--state-dir",
            str(tmp_path / "state"),
            env={"TMPDIR": str(tmp_path)},
        )
        if command != "operator"
        else gatekey(*COMMANDS[command], "--kubeconfig", str(path))
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"gatekey {command}: no cluster credentials: ")
    assert str(path) in lines[0]
    if case == "exec-plugin-fails":
        assert "token service down" in lines[0]
