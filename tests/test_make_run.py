"""``make run`` on a fresh copy of the tree with no virtual environment: it installs the
runtime only (no development tools), shows progress, prints the curl lines and serves.

The time it took is printed (``-s`` shows it); README.md quotes a measurement, but the
test asserts no duration: speed on a shared machine is not a pass/fail property.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY = ("mypy", "ruff", "pytest", "schemathesis", "envoy")


def copy_tree(target: Path) -> None:
    """The tracked and not-ignored files, as a fresh clone of this working tree has them."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source, dest = ROOT / name.decode(), target / name.decode()
        if source.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
            dest.chmod(source.stat().st_mode)


def test_make_run_on_a_fresh_tree_installs_the_runtime_only_and_serves(tmp_path):
    tree = tmp_path / "gatekey"
    copy_tree(tree)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS")}
    log = tmp_path / "make-run.log"
    started = time.monotonic()
    with open(log, "w") as out:
        make = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=tree,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = started + 600
        while time.monotonic() < deadline:
            assert make.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("make run did not serve in 600 s:\n" + log.read_text())
        print(f"make run served after {time.monotonic() - started:.1f} s")
        token = requests.post(
            f"http://127.0.0.1:{port}/auth/jwt",
            data={"grant_type": "password", "client_id": "x", "client_secret": "-"},
            timeout=5,
        )
        assert token.status_code == 401  # serving the quickstart, refusing an unknown client
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
    output = log.read_text()
    assert "==> installing Gatekey and its runtime dependencies" in output
    assert f"Gatekey quickstart on http://127.0.0.1:{port}" in output
    assert "/.well-known/oauth-authorization-server/auth" in output
    assert "Traceback" not in output
    assert "Please be careful with folders" not in output  # setuptools' editable banner
    installed = {p.name.lower() for p in (tree / ".venv" / "bin").iterdir()}
    assert "gatekey" in installed
    assert "pip" in installed  # make test goes on in the same venv
    assert not [tool for tool in DEV_ONLY if tool in installed], sorted(installed)
