"""``gatekey serve --manifests DIR``: run the issuer on the embedded default.

Loads the folder, serves, re-reads the folder when it changes (a broken edit
keeps the last good snapshot), re-renders periodically so signing keys rotate
on time, purges expired tokens, and stops cleanly on SIGTERM: the listener
closes first, requests in flight finish.
"""

import asyncio
import contextlib
import gc
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
from gatekey.issuer.kube.access import discover
from gatekey.issuer.kube.source import ClusterSource
from gatekey.issuer.runtime import Runtime, SnapshotHolder
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.urls import open_store
from gatekey.issuer.throttle import ThrottleSettings

_log = logging.getLogger("gatekey.serve")

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


async def serve(options: ServeOptions) -> None:
    """Serve until SIGTERM or SIGINT, on a folder of manifests or on the cluster."""
    state = StateDir(options.state_dir)
    store = open_store(options.store or f"sqlite:///{state.store_path.absolute()}")
    if options.kube:
        access = discover(options.kubeconfig)
        namespaces = list(options.namespaces or (access.namespace,))
        settings = replace(options.settings, home_namespace=namespaces[0])
        runtime = Runtime(SnapshotHolder(), store, settings, throttle_settings=options.throttle)
        cluster = ClusterSource(access, namespaces, runtime)
        runtime.source_healthy = lambda: cluster.healthy
        await _serve(options, runtime, lambda stop: [cluster.run()])
        return
    assert options.manifests is not None
    source = EmbeddedSource(options.manifests, state, options.settings)
    holder = SnapshotHolder(source.build().snapshot)
    runtime = Runtime(holder, store, options.settings, throttle_settings=options.throttle)
    gc.freeze()  # the first snapshot lives long: keep it out of the collector's scans

    def background(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [
            _watch(source, runtime, stop),
            _every(RESYNC_SECONDS, stop, lambda: _rebuild(source, runtime)),
        ]

    await _serve(options, runtime, background)


async def _serve(
    options: ServeOptions,
    runtime: Runtime,
    background: Callable[[asyncio.Event], list[Coroutine[Any, Any, None]]],
) -> None:
    runner = web.AppRunner(create_app(runtime), shutdown_timeout=SHUTDOWN_SECONDS, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options.host, options.port, reuse_port=options.reuse_port).start()
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


async def _watch(source: EmbeddedSource, runtime: Runtime, stop: asyncio.Event) -> None:
    # The state dir too: ``gatekey rotate-secret`` writes a rotated secret there.
    secrets = source.state.root / "secrets"
    secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    watched = (source.folder.root, secrets)
    async for _changes in awatch(*watched, stop_event=stop, debounce=200, step=50):
        await _rebuild(source, runtime)


async def _rebuild(source: EmbeddedSource, runtime: Runtime) -> None:
    try:
        build = await asyncio.to_thread(source.build)
    except Exception:
        runtime.metrics.reloaded(False, 0)
        _log.exception("reload failed; the last good configuration keeps serving")
        return
    runtime.swap(build.snapshot)
    _log.info("configuration loaded (%d manifest error(s))", len(build.errors))


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

    from gatekey.issuer import audit

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    audit.configure()
    uvloop.run(serve(options))
