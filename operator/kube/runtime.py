"""Everything one running operator shares: the API client, the state, the pass queue."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from gatekey.operator.entropy import Entropy, SystemEntropy
from gatekey.operator.kube.api import KubeApi, Login
from gatekey.operator.kube.coalesce import Coalescer
from gatekey.operator.kube.reconciler import PassOutcome, Reconciler
from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.kube.state import ClusterState

_log = logging.getLogger("gatekey.operator")


async def login_via_client() -> kopf.ConnectionInfo:
    """In-cluster service account, else kubeconfig (the ``kubernetes`` client's rules),
    read in a thread: exec credential plugins may block."""
    settings = kopf.OperatorSettings()
    info = await asyncio.to_thread(kopf.login_via_client, logger=_log, settings=settings)
    if info is None:
        raise kopf.PermanentError("no Kubernetes credentials found (in cluster or kubeconfig)")
    return info


class Runtime:
    """One per operator process; handlers reach it through their closure."""

    def __init__(
        self,
        options: OperatorOptions | None = None,
        *,
        login: Login = login_via_client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entropy: Entropy | None = None,
    ) -> None:
        self.options = options or OperatorOptions()
        self.login = login
        self.state = ClusterState()
        self.api = KubeApi(login, concurrency=self.options.api_concurrency)
        self.reconciler = Reconciler(
            self.api, self.state, self.options, clock, entropy or SystemEntropy()
        )
        self.passes: Coalescer[PassOutcome] = Coalescer(
            self._pass,
            debounce=self.options.debounce,
            backoff=self.options.failure_backoff,
            failed=lambda outcome: outcome.failed,
        )
        self._resync: asyncio.Task[None] | None = None

    def bind(self, kwargs: Mapping[str, Any]) -> None:
        """Take kopf's indexes from a handler's keyword arguments; start the resync timer."""
        self.state.bind(kwargs)
        if self._resync is None and self.state.bound:
            self._resync = asyncio.create_task(self._resync_loop(), name="gatekey-resync")

    async def settle(self, namespace: str) -> PassOutcome:
        """Wait for a pass over ``namespace`` that started after this call."""
        return await self.passes.request(namespace)

    def poke(self, namespace: str) -> None:
        """Ask for a pass over ``namespace`` without waiting."""
        self.passes.poke(namespace)

    async def _pass(self, namespace: str) -> PassOutcome:
        outcome = await self.reconciler.reconcile(namespace)
        for other in sorted(outcome.stale):  # the other side of a client id clash
            self.poke(other)
        return outcome

    async def close(self) -> None:
        self.passes.close()
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        await self.api.close()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.resync_period)
            for namespace in sorted(self.state.namespaces()):
                self.poke(namespace)
