"""``gatekey serve`` as a real process on a free loopback port."""

import ctypes
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

GATEKEY = str(Path(sys.executable).parent / "gatekey")


# Ports for processes that bind them after free_port() returns (a child process cannot be
# handed a bound socket). Not the kernel's ephemeral range (32768-60999 here), where any
# process's connect() or bind(0) may take the port in the meantime; a block of its own per
# xdist worker (PYTEST_XDIST_WORKER=gwN), so that two workers never pick the same port;
# within it, every port once in a shuffled order before any again, so that a port is not
# reused while the process that had it may still hold it, and two runs side by side
# (another checkout's suite) rarely meet.
PORT_BASE, PORT_BLOCK = 20000, 1500
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 8
_next_ports = itertools.cycle(
    random.Random().sample(
        range(PORT_BASE + _WORKER * PORT_BLOCK, PORT_BASE + (_WORKER + 1) * PORT_BLOCK),
        PORT_BLOCK,
    )
)


def free_port() -> int:
    """A loopback port where nothing listens now, for a process about to bind it."""
    for port in itertools.islice(_next_ports, PORT_BLOCK):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or in TIME_WAIT): the next one
            return port
    raise RuntimeError(f"no free port in worker {_WORKER}'s block of {PORT_BLOCK}")


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this process dies, even by
    SIGKILL (prctl(2) PR_SET_PDEATHSIG), so that a killed pytest or a crashed xdist worker
    leaves no server running with ppid 1.

    The signal follows the *thread* that forked the child: only from the main thread, which
    lives as long as the process (a child started by a short-lived thread would be killed
    when that thread ends); elsewhere None, no preexec_fn.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the forked child, before exec: kept to two system calls.
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


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


def show_key(manifests: Path, state: Path, target: str = "ApiProxy/orders") -> dict[str, str]:
    """``gatekey show-key``'s client id and secret of ``target`` (written to ``state``)."""
    shown = gatekey("show-key", "--manifests", str(manifests), "--state-dir", str(state), target)
    assert shown.returncode == 0, shown.stderr
    key: dict[str, str] = json.loads(shown.stdout)
    return key


class Served(subprocess.Popen[str]):
    """A ``gatekey serve`` process whose output goes to files (a pipe could fill and
    stall the server); ``output()`` reads them."""

    def __init__(self, args: list[str], logs: Path, env: dict[str, str]) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = logs / "stdout", logs / "stderr"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            super().__init__(
                args, stdout=out, stderr=err, text=True, env=env, preexec_fn=die_with_parent()
            )

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


def client_credentials(
    url: str,
    client_id: str,
    client_secret: str,
    path: str = "/auth/token",
    session: requests.Session | None = None,
    **more: str,
) -> requests.Response:
    """A ``client_credentials`` grant at ``path``, the secret in the body (RFC 6749
    §2.3.1)."""
    data = {"grant_type": "client_credentials", "client_id": client_id}
    return (session or requests).post(
        url + path, data={**data, "client_secret": client_secret, **more}, timeout=5
    )


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
