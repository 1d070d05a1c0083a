"""A killed test process takes the control plane's processes with it.

A pytest killed with SIGKILL (or an xdist worker that crashed) runs no fixture teardown:
etcd, kube-apiserver and kube-controller-manager would go on running with ppid 1, holding
their ports and data dirs. ``controlplane.Process`` starts them with PR_SET_PDEATHSIG, so
the kernel kills them with their parent. Here a Python process plays the test process: it
starts a real etcd through ``Process`` (as ``ControlPlane.start`` does), waits for its
health, and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

from tests.realkube.controlplane import ControlPlane
from tests.support.process import eventually

ROOT = Path(__file__).resolve().parents[2]

# Run with `python -I` (not from the repository root, where ./operator would shadow the
# standard library's), the repository appended to sys.path.
PARENT = """
import sys
from pathlib import Path

sys.path.append(sys.argv[1])
from tests.realkube.controlplane import ControlPlane, wait_for
import requests

plane = ControlPlane(Path(sys.argv[2]), Path(sys.argv[3]))
etcd = plane._etcd()
etcd.start()
wait_for(
    lambda: requests.get(plane.etcd_url + "/health", timeout=2).json()["health"] == "true",
    "etcd health",
    process=etcd,
)
print(etcd.popen.pid, flush=True)
sys.stdin.read()  # until killed
"""


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (no such process, or a zombie its new parent has not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_killed_parent_takes_etcd_with_it(controlplane: ControlPlane, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, "-I", str(script), str(ROOT), str(tmp_path / "plane"), controlplane.bin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    etcd = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"no etcd pid: {line!r} {parent.communicate()[1]}"
        etcd = int(line)
        assert not gone(etcd)
        os.kill(parent.pid, signal.SIGKILL)  # no teardown, no finally: as a killed pytest
        parent.wait(timeout=10)
        eventually(lambda: gone(etcd), timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if etcd and not gone(etcd):
            with suppress(ProcessLookupError):
                os.kill(etcd, signal.SIGKILL)
