"""Server CPU per request without the network, and a count that ignores the machine's load
(docs/performance.md, "In process").

Run: ``.venv/bin/python bench/inprocess.py [--rounds 9] [--requests 400]``. The wrk
benchmarks (``bench/issuance.py``, ``bench/authz.py``) measure the real thing, but on a
shared machine their figures move with whatever else runs. Here aiohttp's own request
handler, as ``gatekey serve`` and the ceilings build it, is fed pipelined requests over
50 connections whose transport only collects the answers: the HTTP parsing, routing,
handler, response writing and event loop turns are all there, the sockets are not. For
the ceilings (``bench/ceiling_server.py``'s handlers) and Gatekey's endpoints:

* µs of this thread's CPU per request, best of ``--rounds`` batches: close to the wrk
  figures minus the socket system calls, which both sides pay alike, so the ratio here
  is a slightly pessimistic stand-in for the wrk one;
* Python bytecode instructions executed per request (``sys.settrace`` opcode events,
  one traced batch): it does not depend on the load, the core's frequency or the cache,
  so two revisions compare on any machine. Native work (the signature, orjson, SQLite)
  is not in it; the µs are.

Endpoints: ``POST /auth/jwt`` and ``POST /auth/token`` (client_credentials, Basic)
against the form ceiling; ``GET /authz/...`` with a cached ES256 JWT against the GET
ceiling. Nothing is asserted; exit status 1 when an answer was not a 200.
"""

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import authz
import ceiling_server
import harness
import issuance
import uvloop
from aiohttp import web

from gatekey.issuer import audit, serve
from gatekey.issuer.app import create_app
from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.embedded.watching import FolderSource
from gatekey.issuer.runtime import Runtime, SnapshotHolder
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.sqlite import SQLiteStore

MANIFESTS = issuance.MANIFESTS + "---\n" + authz.MANIFESTS
CONNECTIONS = 50
"""As wrk's ``-c50``: the SQLite group commit sees concurrent requests."""
PEER = ("127.0.0.1", 40000)


class Collector(asyncio.Transport):
    """A transport that counts status lines and remembers the last body."""

    def __init__(self, done: Callable[[], None]) -> None:
        super().__init__()
        self.answers = 0
        self.refused = 0
        self.last = b""
        self._done = done

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)
        if chunk.startswith(b"HTTP/1.1 "):
            self.answers += 1
            self.refused += not chunk.startswith(b"HTTP/1.1 200")
            self._done()
        self.last = chunk

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class Served:
    """An application behind aiohttp's handler factory, as a runner serves it."""

    runner: web.AppRunner
    refused: int = 0
    last: bytes = b""

    @classmethod
    async def of(cls, app: web.Application) -> "Served":
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        return cls(runner)

    async def batch(self, raw: bytes, requests: int) -> float:
        """Thread CPU µs per request for ``requests`` copies of ``raw`` over the connections."""
        server = self.runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        finished = loop.create_future()
        answered = 0

        def one_more() -> None:
            nonlocal answered
            answered += 1
            if answered == requests and not finished.done():
                finished.set_result(None)

        handlers, transports = [], []
        for _ in range(CONNECTIONS):
            handler, transport = server(), Collector(one_more)
            handler.connection_made(transport)
            handlers.append(handler)
            transports.append(transport)
        started = time.thread_time()
        for i in range(requests):
            handlers[i % CONNECTIONS].data_received(raw)
        await finished
        took = time.thread_time() - started
        for handler in handlers:
            handler.connection_lost(None)
        self.refused += sum(t.refused for t in transports)
        self.last = transports[(requests - 1) % CONNECTIONS].last
        return took / requests * 1e6


@dataclass
class Opcodes:
    """Bytecode instructions executed while tracing (every frame of this thread)."""

    count: int = 0

    def trace(self, frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            self.count += 1
        return self.trace


async def figures(served: Served, raw: bytes, rounds: int, requests: int) -> tuple[float, float]:
    """(best µs per request, opcodes per request)."""
    await served.batch(raw, requests)  # warm-up: caches, the first-request paths
    best = min([await served.batch(raw, requests) for _ in range(rounds)])
    opcodes = Opcodes()
    sys.settrace(opcodes.trace)
    try:
        await served.batch(raw, requests)
    finally:
        sys.settrace(None)
    return best, opcodes.count / requests


def post(path: str, body: str, authorization: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def get(path: str, *headers: str) -> bytes:
    lines = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


async def gatekey_app(work: Path, prepared: Path | None = None) -> tuple[web.Application, str]:
    """The issuer's application on the bench manifests, wired as ``gatekey serve`` wires
    it (embedded source, SQLite store in the state dir), and the Basic header of the
    bench proxy's key. ``prepared``: a folder of an earlier run to copy (the same keys,
    no key generation in this process)."""
    if prepared is not None:
        shutil.copytree(prepared, work, dirs_exist_ok=True)
        gatekey = harness.Gatekey(harness.gatekey_command(), work / "manifests", work / "state")
    else:
        gatekey = harness.Gatekey.prepare(work, MANIFESTS)
    key = gatekey.show_key("ApiProxy/bench")
    state = StateDir(gatekey.state)
    settings = IssuerSettings()
    # Other processes' events are polled on a timer; there are none here, and under a
    # counting tool a timer's work grows with the wall time the run takes.
    store = SQLiteStore(state.store_path.absolute(), poll_seconds=3600)
    runtime = Runtime(SnapshotHolder(), store, settings)
    await FolderSource(EmbeddedSource(gatekey.manifests, state, settings)).first(runtime)
    return create_app(runtime), harness.basic(key)


def ceiling_app(route: web.RouteDef) -> web.Application:
    app = web.Application()
    app.add_routes([route])
    return app


@dataclass(frozen=True)
class Row:
    label: str
    micros: float
    opcodes: float
    ceiling: "Row | None" = None

    def line(self) -> str:
        text = f"  {self.label:<34} {self.micros:7.1f} µs {self.opcodes:8.0f} opcodes"
        if self.ceiling is not None:
            text += (
                f"   / ceiling: {self.ceiling.micros / self.micros:5.2f} by CPU,"
                f" {self.ceiling.opcodes / self.opcodes:5.2f} by opcodes"
            )
        return text


@dataclass(frozen=True)
class Target:
    """One endpoint or ceiling under test: where its requests go, and what it is held to."""

    label: str
    served: Served
    raw: bytes
    ceiling: str | None = None
    """The name of the target this one is compared with."""


async def targets(folder: Path, prepared: Path | None = None) -> dict[str, Target]:
    """The ceilings and Gatekey's endpoints, by short name (the order of the table)."""
    app, basic = await gatekey_app(folder, prepared)
    gatekey = await Served.of(app)
    form = await Served.of(ceiling_app(ceiling_server.ROUTES["form"]))
    nothing = await Served.of(ceiling_app(ceiling_server.ROUTES["nothing"]))
    body = issuance.FORM_BODY
    await gatekey.batch(post("/auth/jwt", body, basic), 1)
    token = json.loads(gatekey.last.partition(b"\r\n\r\n")[2])["access_token"]
    check = get(
        f"/authz{authz.API_PATH}",
        f"Authorization: Bearer {token}",
        "X-Gatekey-Proxy: ApiProxy/bench",
    )
    return {
        "form": Target("ceiling: form POST + JSON", form, post("/token", body, basic)),
        "jwt": Target(
            "POST /auth/jwt (ES256 JWT)", gatekey, post("/auth/jwt", body, basic), "form"
        ),
        "opaque": Target(
            "POST /auth/token (opaque)", gatekey, post("/auth/token", body, basic), "form"
        ),
        "get": Target("ceiling: empty GET", nothing, get("/x")),
        "authz": Target("GET /authz, cached ES256 JWT", gatekey, check, "get"),
    }


async def run(rounds: int, requests: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        named = await targets(Path(folder))
        rows: list[Row] = []
        for _ in range(2):  # interleaved, as the wrk benchmarks
            measured: dict[str, Row] = {}
            for name, target in named.items():
                micros, opcodes = await figures(target.served, target.raw, rounds, requests)
                ceiling = measured[target.ceiling] if target.ceiling else None
                measured[name] = Row(target.label, micros, opcodes, ceiling)
            rows += measured.values()
        refused = sum({id(t.served): t.served.refused for t in named.values()}.values())
        await named["jwt"].served.runner.cleanup()
    print(f"in process, {CONNECTIONS} connections, best of {rounds} x {requests} requests:")
    for row in rows:
        print(row.line())
    if refused:
        print(
            f"bench: {refused} answers were not 200; these figures are not valid", file=sys.stderr
        )
        return 1
    return 0


ONLY = ("form", "jwt", "opaque", "get", "authz")
"""The targets' short names, in the order of the table."""
WARM_UP = 200
"""Requests answered before the counted batch of ``--only`` (caches, first-request paths)."""


async def only(name: str, requests: int, prepared: Path) -> int:
    """One target: a warm-up, then ``requests`` requests, nothing timed or traced: the run
    ``bench/instructions.py`` counts under valgrind. Exit status 1 if an answer was not 200."""
    with tempfile.TemporaryDirectory() as folder:
        target = (await targets(Path(folder), prepared))[name]
        # ``gatekey serve`` collects the youngest generation less often than CPython's
        # default, which the ceilings keep (a revision from before that has no setting).
        young = getattr(serve, "GC_YOUNG_OBJECTS", None)
        if target.ceiling is not None and young is not None:
            gc.set_threshold(young, *gc.get_threshold()[1:])
        await target.served.batch(target.raw, WARM_UP)
        if requests:
            await target.served.batch(target.raw, requests)
        await target.served.runner.cleanup()
    return 1 if target.served.refused else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed batches (default 9)")
    parser.add_argument("--requests", type=int, default=400, help="requests a batch (default 400)")
    parser.add_argument(
        "--only",
        choices=ONLY,
        help="answer --requests of one target after a warm-up, untimed (bench/instructions.py)",
    )
    parser.add_argument(
        "--prepared",
        type=Path,
        help="with --only: the manifests and state dir to copy (made there when missing)",
    )
    args = parser.parse_args()
    # Audit lines are written as in production, to a stream that discards them.
    audit.configure(open(os.devnull, "w"))  # noqa: SIM115 (kept for the process's lifetime)
    with harness.exit_on_failure():
        if args.only:
            if args.prepared is None:
                parser.error("--only needs --prepared")
            if not args.prepared.exists():
                args.prepared.mkdir(parents=True)
                harness.Gatekey.prepare(args.prepared, MANIFESTS).show_key("ApiProxy/bench")
            return uvloop.run(only(args.only, args.requests, args.prepared))
        return uvloop.run(run(args.rounds, args.requests))
    return 1


if __name__ == "__main__":
    sys.exit(main())
