"""One emulator and one cluster-wide operator for the module's tests; a namespace per test."""

import itertools
import logging
from collections.abc import Iterator

import pytest

from tests.support.kube_harness import EmulatorThread, KubeClient, OperatorThread

_names = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    # kopf logs each handler at INFO and aiohttp each request: keep the failures readable.
    for name in ("kopf", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    # No garbage collection: deleting a CR must remove its objects through the operator alone.
    thread = EmulatorThread(garbage_collection=False).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def operator(emulator: EmulatorThread) -> Iterator[OperatorThread]:
    thread = OperatorThread(emulator.url).start()
    yield thread
    thread.stop()


@pytest.fixture
def kube(emulator: EmulatorThread) -> KubeClient:
    return KubeClient(emulator.url)


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A fresh namespace name for one test (the emulator needs no Namespace object)."""
    stem = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40]
    return f"{stem}-{next(_names)}"
