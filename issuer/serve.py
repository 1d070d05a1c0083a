"""``gatekey serve``: wire a configuration source (the folder of ``--manifests``, or the
cluster with ``--kube``; :mod:`~gatekey.issuer.config_source`) to a runtime and the runtime
to the listener; purge expired tokens; stop cleanly on SIGTERM: the listener closes first,
requests in flight finish.

A connection must deliver its request head within ``header_timeout`` and its body
within ``body_timeout``, and at most ``max_connections`` are open at once: a slow
or flooding client holds no more than that, plus ``LINGER_SECONDS`` after an answer
given before its body was read (see ``docs/operations.md``).
"""

import asyncio
import contextlib
import errno
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiohttp import web

from gatekey.issuer.app import create_app
from gatekey.issuer.config_source import ConfigSource
from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.embedded.watching import FolderSource
from gatekey.issuer.http.listener import BoundedSite
from gatekey.issuer.logs import LogFormat
from gatekey.issuer.runtime import Runtime, SnapshotHolder
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.urls import open_store
from gatekey.issuer.throttle import ThrottleSettings

_log = logging.getLogger("gatekey.serve")


class StartupError(Exception):
    """``gatekey serve`` cannot start; the message is the one line the user sees."""


PURGE_SECONDS = 600.0
SHUTDOWN_SECONDS = 8.0
GC_YOUNG_OBJECTS = 10_000
"""New container objects between two collections of the youngest generation (CPython:
700). The requests in flight together pass 700 live objects (fifty connections read in
one loop turn; a group commit's waiters), so the default collected every 30 to 60
requests and scanned, and aged, objects that were about to be freed anyway: 3% of an
opaque token request's instructions, 1% of the ceiling's (``bench/instructions.py``).
Neither the request path nor its refusals make reference cycles (``gc.garbage`` stays
empty under ``DEBUG_SAVEALL`` after issued tokens, ``/authz`` passes, 400s, 401s and
404s), so collecting later keeps no garbage longer."""
LINGER_SECONDS = 2.0
"""How long aiohttp still reads and discards a request body left unread by the answer
(408, 413, 400 on the Content-Type, 404, 405) before it closes the connection. Reading
it lets a client still sending read that answer: closing with its data unread or
arriving makes the kernel send a reset, which fails the client's send and can erase
the answer before it is read (RFC 9112 §9.6). aiohttp's default, 10 s, would let a
slow-body client keep its connection, and a ``max_connections`` slot, 10 s past its
408; the rest of a body a client is really sending arrives well within 2 s."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``gatekey serve`` was asked for."""

    manifests: Path | None
    state_dir: Path
    host: str
    port: int
    store: str | None
    settings: IssuerSettings
    workers: int = 1
    reuse_port: bool = False
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    kube: bool = False
    """Cluster mode: watch the operator's objects instead of reading ``manifests``."""
    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None
    log_format: LogFormat = "json"
    audit_log: str | None = None
    """A file for the audit lines; standard output when None or ``-``."""


async def serve(options: ServeOptions) -> None:
    """Serve until SIGTERM or SIGINT, on a folder of manifests or on the cluster: wire a
    configuration source to a runtime, and the runtime to the listener."""
    state = StateDir(options.state_dir)
    store = open_store(options.store or f"sqlite:///{state.store_path.absolute()}")
    source, settings = await _source(options, state)
    runtime = Runtime(SnapshotHolder(), store, settings, throttle_settings=options.throttle)
    await source.first(runtime)
    await _serve(options, runtime, source)


async def _source(options: ServeOptions, state: StateDir) -> tuple[ConfigSource, IssuerSettings]:
    """The configuration source ``options`` ask for, and the settings it implies."""
    if not options.kube:
        assert options.manifests is not None
        return FolderSource(EmbeddedSource(options.manifests, state, options.settings)), (
            options.settings
        )
    # Imported here: the kubernetes package takes seconds to import, which the embedded
    # mode (and each --workers process) must not pay.
    from gatekey.issuer.kube.source import ClusterSource
    from gatekey.operator.kube.access import Access, AccessError

    try:
        access = await asyncio.to_thread(Access.discover, options.kubeconfig)
    except AccessError as exc:
        raise StartupError(f"no cluster credentials: {exc}") from None
    namespaces = list(options.namespaces or (access.credentials.namespace,))
    settings = replace(options.settings, home_namespace=namespaces[0])
    return ClusterSource(access, namespaces, settings.token_management), settings


async def _serve(options: ServeOptions, runtime: Runtime, source: ConfigSource) -> None:
    settings = options.settings
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
    # aiohttp closes a connection whose request head is still incomplete (or that is
    # idle) when its keep-alive timer fires: that timer is the header timeout.
    runner = web.AppRunner(
        create_app(runtime),
        shutdown_timeout=SHUTDOWN_SECONDS,
        access_log=None,
        keepalive_timeout=settings.header_timeout,
        lingering_time=LINGER_SECONDS,
    )
    await runner.setup()
    site = BoundedSite(
        runner,
        options.host,
        options.port,
        max_connections=settings.max_connections,
        reuse_port=options.reuse_port,
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(_bind_error(options, exc)) from None
    _log.info("serving %s on http://%s:%d", source.description, options.host, options.port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(source.run(runtime)),
        asyncio.create_task(_every(PURGE_SECONDS, stop, lambda: _purge(runtime))),
    ]
    await stop.wait()
    _log.info("stopping")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await runner.cleanup()


def _bind_error(options: ServeOptions, exc: OSError) -> str:
    where = f"{options.host}:{options.port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where} is already in use: stop what listens there, or choose another "
            "port with --port (GATEKEY_PORT; make run PORT=8081)"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}: choose a port above 1023 with --port"
    return f"cannot listen on {where}: {exc.strerror or exc} (check --host and --port)"


async def _purge(runtime: Runtime) -> None:
    with contextlib.suppress(Exception):
        await runtime.store.purge(runtime.clock())


async def _every(
    seconds: float, stop: asyncio.Event, action: Callable[[], Awaitable[None]]
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
            return
        await action()


def serve_workers(options: ServeOptions) -> int:
    """``--workers N``: N processes on one port (SO_REUSEPORT), sharing one store: the
    state dir's SQLite file by default (WAL, one machine; revocations and blocks reach
    every worker through it within 0.1 s), or Redis.

    The parent renders once first, so that generated keys exist before any worker
    starts; it then forwards SIGTERM/SIGINT and waits for every worker to stop.
    """
    if options.store is not None and ":memory:" in options.store:
        raise SystemExit(
            "gatekey serve: --workers N > 1 cannot share an in-memory store: "
            "use a file (sqlite:///path.db, the default) or redis://..."
        )
    if options.manifests is not None and not options.kube:
        EmbeddedSource(options.manifests, StateDir(options.state_dir), options.settings).build()
    url = options.store or f"sqlite:///{StateDir(options.state_dir).store_path.absolute()}"
    if url.startswith("sqlite:"):
        # Create (or migrate) the file once, before the workers open it side by side.
        asyncio.run(open_store(url).close())
    context = multiprocessing.get_context("spawn")
    single = replace(options, workers=1, reuse_port=True)
    workers = [
        context.Process(target=_worker, args=(single,), daemon=False)
        for _ in range(options.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((w.exitcode or 0) for w in workers)


def _worker(options: ServeOptions) -> None:
    import uvloop

    configure_logs(options)
    try:
        uvloop.run(serve(options))
    except StartupError as exc:
        raise SystemExit(f"gatekey serve: {exc}") from None


def configure_logs(options: ServeOptions) -> None:
    """The log format and the audit stream of ``options`` (in each worker process too)."""
    from gatekey.issuer import audit, logs

    logs.configure(options.log_format)
    stream = None
    if options.audit_log not in (None, "-"):
        stream = open(options.audit_log, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
    audit.configure(stream, options.log_format)
