"""Run the emulator and the operator in threads of their own, and talk to them synchronously.

Each runs its own event loop (kopf cancels every task of its loop on exit, which
would break pytest-asyncio's; and a blocking test must not starve either). Tests
use :class:`KubeClient` as they would use kubectl: plain HTTP to the emulator, so
that defaulting, validation and ``stringData`` folding happen as in a cluster.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.resources
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.test_utils
import aiohttp.web
import aiohttp.web_server
import kmock
import kopf
import requests
import yaml

from gatekey.operator.entropy import Entropy
from gatekey.operator.kube.main import operate
from gatekey.operator.kube.settings import OperatorOptions
from tests.support.kube_emulator import KubeEmulator

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
T = TypeVar("T")
MAX_BODY = 3 * 1024 * 1024  # the API server's limit on a request body (MaxRequestBodyBytes)

PLURALS = {
    "AuthPolicy": ("gatekey.io/v1alpha1", "authpolicies"),
    "Credential": ("gatekey.io/v1alpha1", "credentials"),
    "Role": ("gatekey.io/v1alpha1", "roles"),
    "Secret": ("v1", "secrets"),
    "ConfigMap": ("v1", "configmaps"),
    "Event": ("v1", "events"),
    "Namespace": ("v1", "namespaces"),
}


def crd_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(CRDS.glob("*.yaml"))]


class EmulatorThread:
    """A :class:`KubeEmulator` on a loopback port, served from its own thread."""

    def __init__(self, *, garbage_collection: bool = True) -> None:
        self.garbage_collection = garbage_collection
        self.url = ""
        self.emulator: KubeEmulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="kube-emulator", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the emulator did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def call(self, fn: Callable[[KubeEmulator], T]) -> T:
        """Run ``fn(emulator)`` in the emulator's loop (its state is not thread-safe)."""
        assert self._loop is not None
        assert self.emulator is not None
        emulator = self.emulator

        async def run() -> T:
            return fn(emulator)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        emulator = KubeEmulator(garbage_collection=self.garbage_collection)
        # kmock's bundled discovery of built-in resources (kopf waits for v1/namespaces);
        # read directly, as load_bundled() uses a deprecated importlib call.
        bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
        emulator.resources.load_data(gzip.decompress(bundled.read_bytes()))
        for crd in crd_documents():
            emulator.install_crd(crd)
        self.emulator = emulator
        async with emulator, kmock.Server(emulator, server_cls=LargeBodyServer) as server:
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()


class LargeBodyServer(aiohttp.test_utils.RawTestServer):
    """kmock's server, taking request bodies as large as the API server does (3 MiB)
    rather than aiohttp's 1 MiB default."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web.ServerRunner:
        loop = asyncio.get_running_loop()

        def request(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> aiohttp.web.BaseRequest:
            return aiohttp.web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY
            )

        server = aiohttp.web_server.Server(
            self._handler, loop=loop, debug=debug, request_factory=request, **kwargs
        )
        return aiohttp.web.ServerRunner(server, debug=debug, **kwargs)


class KubeError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class KubeClient:
    """A kubectl-like synchronous client of the emulator."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def path(self, kind: str, namespace: str | None, name: str | None = None) -> str:
        api_version, plural = PLURALS[kind]
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
        return path + (f"/{name}" if name else "")

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, json=body, timeout=10, **kwargs)
        data = response.json() if response.content else None
        if response.status_code >= 400:
            raise KubeError(response.status_code, data)
        return data

    def create(self, doc: dict[str, Any], namespace: str) -> dict[str, Any]:
        return self.request("POST", self.path(doc["kind"], namespace), doc)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", self.path(kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[Any]:
        params = {"labelSelector": selector} if selector else None
        return self.request("GET", self.path(kind, namespace), params=params)["items"]

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        return self.request(
            "PATCH",
            self.path(kind, namespace, name),
            patch,
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def replace(self, doc: dict[str, Any], namespace: str) -> Any:
        """PUT a new version of an object (its spec replaced whole, as kubectl replace)."""
        name = doc["metadata"]["name"]
        current = self.get(doc["kind"], namespace, name)
        assert current is not None
        body = {
            **doc,
            "metadata": {
                **doc["metadata"],
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
        }
        return self.request("PUT", self.path(doc["kind"], namespace, name), body)

    def delete(self, kind: str, namespace: str, name: str) -> Any:
        return self.request("DELETE", self.path(kind, namespace, name))


class OperatorThread:
    """The Gatekey operator (kopf) against the emulator, in its own thread and loop."""

    def __init__(
        self,
        url: str,
        *,
        namespaces: Sequence[str] = (),
        options: OperatorOptions | None = None,
        clock: Callable[[], datetime] | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        self.url = url
        self.namespaces = tuple(namespaces)
        self.options = options
        self.clock = clock
        self.entropy = entropy
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="gatekey-operator", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> OperatorThread:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"the operator did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        if self._thread.is_alive():
            raise RuntimeError("the operator did not stop within 15 s")

    def _main(self) -> None:
        url = self.url

        async def login() -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url)

        extra: dict[str, Any] = {}
        if self.clock is not None:
            extra["clock"] = self.clock
        try:
            asyncio.run(
                operate(
                    self.namespaces,
                    all_namespaces=not self.namespaces,
                    options=self.options,
                    login=login,
                    entropy=self.entropy,
                    ready_flag=self._ready,
                    stop_flag=self._stop,
                    **extra,
                )
            )
        except BaseException as exc:
            self.error = exc
            self._ready.set()


def wait_for(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s; last value: {last!r}")
        time.sleep(interval)
        last = check()
    return last


@contextmanager
def quiet_kopf() -> Iterator[None]:
    """kopf logs every handler at INFO; tests keep warnings only."""
    loggers = [logging.getLogger(n) for n in ("kopf", "kopf.objects", "kopf.activities")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
