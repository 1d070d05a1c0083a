"""Reach one chosen worker of ``gatekey serve --workers N``.

The workers share one port (SO_REUSEPORT): the kernel hands each new connection to one
of them. A keep-alive connection stays with the worker that accepted it, and which one
that is can be read from ``/proc``: the server side of the connection is a socket whose
inode one worker holds among its file descriptors. So a test opens connections until it
holds one per worker, and then speaks to worker A or worker B at will.
"""

import http.client
import json
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tests.support.process import serving
from tests.support.redis_server import redis_server

WORKERS_READY = 90.0
"""Seconds ``gatekey serve --workers 2`` may take to answer: each worker is a fresh
interpreter that imports and builds everything again, slow on a loaded machine."""


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the workers of a ``gatekey serve``)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def _server_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    return None


def _owner(pids: list[int], inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:  # closed meanwhile
                continue
    return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Door:
    """A keep-alive connection to one known worker."""

    def __init__(self, connection: http.client.HTTPConnection, pid: int) -> None:
        self.connection, self.pid = connection, pid

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Response:
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        answer = self.connection.getresponse()
        return Response(answer.status, dict(answer.getheaders()), answer.read())


def doors(serve_pid: int, port: int, count: int, within: float = WORKERS_READY) -> list[Door]:
    """One open connection to each of ``count`` distinct workers of ``serve_pid`` (a
    worker that is still starting is waited for, up to ``within`` seconds)."""
    found: dict[int, Door] = {}
    deadline = time.monotonic() + within
    while True:
        workers = children(serve_pid)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.connect()
        client_port = connection.sock.getsockname()[1]
        # The worker accepts (and opens the descriptor) when it gets to it: ask /healthz.
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        inode = _server_inode(port, client_port)
        pid = None if inode is None else _owner(workers, inode)
        if pid is not None and pid not in found:
            found[pid] = Door(connection, pid)
            if len(found) == count:
                break
        else:
            connection.close()
            time.sleep(0.01)
        if time.monotonic() > deadline:
            break
    if len(found) < count:
        raise AssertionError(f"reached {len(found)} of {count} workers in {within} s")
    return list(found.values())


def shared_store(state: Path) -> tuple[str, str]:
    """The ``--store`` of the processes that share ``state``'s SQLite file."""
    return "--store", f"sqlite:///{(state / 'shared.db').absolute()}"


def sqlite_peer(
    stack: ExitStack,
    manifests: Path,
    state: Path,
    name: str,
    *extra: str,
    env: dict[str, str] | None = None,
) -> str:
    """One more ``gatekey serve`` on the SQLite file of ``state``: on its own copy of the
    state dir (the same keys and secrets; a state dir is held by one server), the same
    ``--store`` and issuer URL. Its URL."""
    where = state if name == "" else state.with_name(f"{state.name}-{name}")
    if where != state:
        shutil.copytree(state, where, ignore=shutil.ignore_patterns("*.lock", "*.db*"))
    shared = (*shared_store(state), "--issuer-url", "http://gatekey.test", *extra)
    return stack.enter_context(serving(manifests, where, *shared, env=env))[0]


def share_sqlite(
    stack: ExitStack, manifests: Path, state: Path, *extra: str, env: dict[str, str] | None = None
) -> list[str]:
    """Two ``gatekey serve`` processes sharing one SQLite store file; their URLs."""
    return [sqlite_peer(stack, manifests, state, name, *extra, env=env) for name in ("", "b")]


STORES = ("sqlite", "sqlite-workers", "sqlite-two-serves", "redis")
"""The ways several requests reach one token store: one process; one process with two
workers on its SQLite file; two processes on one SQLite file; two replicas on Redis."""


def issuers(stack: ExitStack, store: str, folder: Path, manifests: Path, state: Path) -> list[str]:
    """The base URLs of the issuers of ``manifests`` for one of :data:`STORES`."""
    if store == "sqlite":
        return [stack.enter_context(serving(manifests, state))[0]]
    if store == "sqlite-workers":  # the kernel spreads the connections
        url, proc = stack.enter_context(
            serving(manifests, state, "--workers", "2", ready_within=WORKERS_READY)
        )
        for door in doors(proc.pid, int(url.rsplit(":", 1)[1]), 2):  # both accept
            door.connection.close()
        return [url]
    if store == "sqlite-two-serves":
        return share_sqlite(stack, manifests, state)
    (folder / "redis").mkdir()
    server = stack.enter_context(redis_server(folder / "redis"))
    shared = ("--store", server.url, "--issuer-url", "http://gatekey.test")
    return [stack.enter_context(serving(manifests, state, *shared))[0] for _ in range(2)]
