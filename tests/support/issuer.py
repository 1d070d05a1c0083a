"""A real issuer on a loopback port, run in its own thread, for wire-level tests."""

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from aiohttp import web

from gatekey.issuer.app import create_app
from gatekey.issuer.embedded.source import Build, EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.runtime import Runtime, SnapshotHolder
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.store.sqlite import SQLiteStore
from gatekey.issuer.throttle import ThrottleSettings
from gatekey.operator import contract


class FakeClock:
    """The issuer's clock, starting now, moved forward by tests."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_manifests(
    folder: Path, *documents: dict[str, Any] | str, name: str = "manifests.yaml"
) -> Path:
    """Write documents (dicts, or YAML text) as one multi-document file."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = [d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in documents]
    path = folder / name
    path.write_text("\n---\n".join(texts))
    return path


@dataclass
class RunningIssuer:
    """An issuer serving on ``url``; ``reload()`` re-reads the manifests."""

    url: str
    source: EmbeddedSource
    runtime: Runtime
    clock: FakeClock
    build: Build
    session: requests.Session = field(default_factory=requests.Session)

    def reload(self) -> Build:
        self.build = self.source.build()
        self.runtime.snapshots.swap(self.build.snapshot)
        return self.build

    def secret(self, name: str, namespace: str = "default") -> dict[str, str]:
        obj = self.build.rendered[namespace].by_name("Secret", name)
        assert obj is not None, f"no Secret {name} rendered"
        return contract.secret_values(obj)

    def proxy_key(self, kind: str, name: str, namespace: str = "default") -> tuple[str, str]:
        """The proxy key (client_id, client_secret) of a target ("Show Proxy Key")."""
        values = self.secret(f"{kind}-{name}-proxy-key".lower(), namespace)
        return values["client_id"], values["client_secret"]

    def credential(self, name: str, namespace: str = "default") -> tuple[str, str]:
        values = self.secret(f"{name}-credentials", namespace)
        return values["client_id"], values["client_secret"]

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + path, data=data, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=10, **kwargs)


@contextmanager
def running_issuer(
    manifests: Path,
    state: Path,
    settings: IssuerSettings | None = None,
    throttle: ThrottleSettings | None = None,
) -> Iterator[RunningIssuer]:
    """Serve the manifests on 127.0.0.1 (a free port) until the block ends."""
    base_settings = settings or IssuerSettings()
    source = EmbeddedSource(manifests, StateDir(state), base_settings)
    build = source.build()
    clock = FakeClock()
    store = SQLiteStore(state / "tokens.db")
    loop = asyncio.new_event_loop()
    started: Future[tuple[web.AppRunner, int]] = Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            runner = web.AppRunner(create_app(runtime), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            started.set_result((runner, port))

        loop.run_until_complete(start())
        loop.run_forever()

    runtime = Runtime(
        SnapshotHolder(build.snapshot),
        store,
        base_settings,
        clock=clock,
        throttle_settings=throttle or ThrottleSettings(),
    )
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    runner, port = started.result(timeout=10)
    url = f"http://127.0.0.1:{port}"
    issuer = RunningIssuer(url, source, runtime, clock, build)
    try:
        yield issuer
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        issuer.session.close()
