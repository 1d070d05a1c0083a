"""``gatekey serve --manifests DIR``: run the issuer on the embedded default.

Loads the folder, serves, re-reads the folder when it changes (a broken edit
keeps the last good snapshot), re-renders periodically so signing keys rotate
on time, purges expired tokens, and stops cleanly on SIGTERM: the listener
closes first, requests in flight finish.

A connection must deliver its request head within ``header_timeout`` and its body
within ``body_timeout``, and at most ``max_connections`` are open at once: a slow
or flooding client holds no more than that (see ``docs/operations.md``).
"""

import asyncio
import contextlib
import errno
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from watchfiles import awatch

from gatekey.issuer.app import create_app
from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.http.listener import BoundedSite
from gatekey.issuer.kube.source import ClusterSource
from gatekey.issuer.logs import LogFormat
from gatekey.issuer.runtime import Runtime, SnapshotHolder
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.urls import open_store
from gatekey.issuer.throttle import ThrottleSettings
from gatekey.operator.kube.access import Access, AccessError

_log = logging.getLogger("gatekey.serve")


class StartupError(Exception):
    """``gatekey serve`` cannot start; the message is the one line the user sees."""


RESYNC_SECONDS = 60.0
PURGE_SECONDS = 600.0
SHUTDOWN_SECONDS = 8.0


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
    """Serve until SIGTERM or SIGINT, on a folder of manifests or on the cluster."""
    state = StateDir(options.state_dir)
    store = open_store(options.store or f"sqlite:///{state.store_path.absolute()}")
    if options.kube:
        try:
            access = await asyncio.to_thread(Access.discover, options.kubeconfig)
        except AccessError as exc:
            raise StartupError(f"no cluster credentials: {exc}") from None
        namespaces = list(options.namespaces or (access.credentials.namespace,))
        settings = replace(options.settings, home_namespace=namespaces[0])
        runtime = Runtime(SnapshotHolder(), store, settings, throttle_settings=options.throttle)
        cluster = ClusterSource(access, namespaces, runtime)
        runtime.source_healthy = lambda: cluster.healthy
        await _serve(options, runtime, lambda stop: [cluster.run()])
        return
    assert options.manifests is not None
    source = EmbeddedSource(options.manifests, state, options.settings)
    holder = SnapshotHolder()
    runtime = Runtime(holder, store, options.settings, throttle_settings=options.throttle)
    rebuild = _Rebuilder(source, runtime)
    holder.swap(rebuild.build().snapshot)
    gc.freeze()  # the first snapshot lives long: keep it out of the collector's scans

    def background(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [_watch(rebuild, stop), _every(RESYNC_SECONDS, stop, rebuild)]

    await _serve(options, runtime, background)


async def _serve(
    options: ServeOptions,
    runtime: Runtime,
    background: Callable[[asyncio.Event], list[Coroutine[Any, Any, None]]],
) -> None:
    settings = options.settings
    # aiohttp closes a connection whose request head is still incomplete (or that is
    # idle) when its keep-alive timer fires: that timer is the header timeout.
    runner = web.AppRunner(
        create_app(runtime),
        shutdown_timeout=SHUTDOWN_SECONDS,
        access_log=None,
        keepalive_timeout=settings.header_timeout,
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
    source = "the cluster" if options.kube else str(options.manifests)
    _log.info("serving %s on http://%s:%d", source, options.host, options.port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(work) for work in background(stop)]
    tasks.append(asyncio.create_task(_every(PURGE_SECONDS, stop, lambda: _purge(runtime))))
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


async def _watch(rebuild: "_Rebuilder", stop: asyncio.Event) -> None:
    folder = rebuild.source.folder.root
    # The state dir's secrets too: ``gatekey rotate-secret`` writes a rotated secret there.
    secrets = rebuild.source.state.root / "secrets"
    secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    async for _changes in awatch(folder, secrets, stop_event=stop, debounce=200, step=50):
        await rebuild()


class _Repeats(logging.Filter):
    """Drops a log line already written by the previous pass over the folder: the
    periodic re-render would otherwise repeat every manifest problem each minute."""

    def __init__(self) -> None:
        super().__init__()
        self._previous: set[str] = set()
        self._current: set[str] = set()

    def next_pass(self) -> None:
        self._previous, self._current = self._current, set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        self._current.add(message)
        return message not in self._previous


class _Rebuilder:
    """Rebuilds the snapshot; says so in the log only when the configuration changed."""

    def __init__(self, source: EmbeddedSource, runtime: Runtime) -> None:
        self.source, self.runtime = source, runtime
        self.fingerprint = ""
        self.repeats = _Repeats()
        logging.getLogger("gatekey.embedded").addFilter(self.repeats)

    def build(self) -> Any:
        self.repeats.next_pass()
        build = self.source.build()
        self.announce(build.objects, len(build.errors))
        return build

    def announce(self, objects: Any, errors: int) -> None:
        text = json.dumps(objects, sort_keys=True, default=str) + str(errors)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        if fingerprint != self.fingerprint:
            verb = "loaded" if not self.fingerprint else "changed"
            _log.info(
                "configuration %s: %d object(s), %d manifest error(s)", verb, len(objects), errors
            )
            self.fingerprint = fingerprint

    async def __call__(self) -> None:
        try:
            build = await asyncio.to_thread(self.build)
        except Exception:
            self.runtime.metrics.reloaded(False, 0)
            _log.exception("reload failed; the last good configuration keeps serving")
            return
        self.runtime.swap(build.snapshot)


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
    """``--workers N``: N processes on one port (SO_REUSEPORT), sharing a Redis store.

    The parent renders once first, so that generated keys exist before any worker
    starts; it then forwards SIGTERM/SIGINT and waits for every worker to stop.
    """
    if not (options.store or "").startswith(("redis://", "rediss://")):
        raise SystemExit(
            "gatekey serve: --workers N > 1 needs --store redis://... "
            "(workers must share refresh tokens, revocations and counters)"
        )
    if options.manifests is not None and not options.kube:
        EmbeddedSource(options.manifests, StateDir(options.state_dir), options.settings).build()
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
