"""``gatekey serve`` as a real process on a free loopback port."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

GATEKEY = str(Path(sys.executable).parent / "gatekey")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gatekey(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a ``gatekey`` command to completion."""
    return subprocess.run(
        [GATEKEY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | (env or {}),
        check=False,
    )


class Served(subprocess.Popen[str]):
    """A ``gatekey serve`` process whose output goes to files (a pipe could fill and
    stall the server); ``output()`` reads them."""

    def __init__(self, args: list[str], logs: Path, env: dict[str, str]) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = logs / "stdout", logs / "stderr"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            super().__init__(args, stdout=out, stderr=err, text=True, env=env)

    def output(self) -> tuple[str, str]:
        return self.stdout_path.read_text(), self.stderr_path.read_text()


@contextmanager
def serving(
    manifests: Path,
    state: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    ready_within: float = 20,
) -> Iterator[tuple[str, Served]]:
    """``gatekey serve`` until the block ends; yields its URL and the process.
    (``--workers N`` starts N interpreters: on a loaded machine, give it longer.)"""
    port = free_port()
    args = [
        GATEKEY,
        "serve",
        "--manifests",
        str(manifests),
        "--state-dir",
        str(state),
        "--port",
        str(port),
        *extra,
    ]
    process = Served(
        args, Path(tempfile.mkdtemp(prefix="gatekey-serve-")), os.environ | (env or {})
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, ready_within)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def wait_ready(url: str, process: Served, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gatekey serve exited: {process.output()[1]}")
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or accepted by a worker still starting (--workers)
        time.sleep(0.05)
    raise TimeoutError("gatekey serve did not become ready")


def eventually(check, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something other than None or False; that value.

    (Not plain truthiness: a ``requests.Response`` with a 4xx status is falsy.)
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
