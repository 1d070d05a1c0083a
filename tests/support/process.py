"""``gatekey serve`` as a real process on a free loopback port."""

import os
import socket
import subprocess
import sys
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


@contextmanager
def serving(
    manifests: Path, state: Path, *extra: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``gatekey serve`` until the block ends; yields its URL and the process."""
    port = free_port()
    process = subprocess.Popen(
        [
            GATEKEY,
            "serve",
            "--manifests",
            str(manifests),
            "--state-dir",
            str(state),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"gatekey serve exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise TimeoutError("gatekey serve did not become ready")


def eventually(check, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns a truthy value; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
