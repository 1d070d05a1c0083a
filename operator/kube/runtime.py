"""Everything one running operator shares: the API client, the state, the pass queue."""

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from gatekey.operator.entropy import Entropy, SystemEntropy
from gatekey.operator.kube import access
from gatekey.operator.kube.api import KubeApi, Login
from gatekey.operator.kube.coalesce import Coalescer
from gatekey.operator.kube.reconciler import PassOutcome, Reconciler
from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.kube.state import ClusterState

_log = logging.getLogger("gatekey.operator")


class _Connection(kopf.ConnectionInfo):
    """kopf's connection info whose TLS context is built from memory: kopf's own writes
    the client key to a temporary file while it loads it (kopf documents
    ``as_ssl_context`` as the method to override)."""

    def as_ssl_context(self) -> ssl.SSLContext:
        return access.tls_context(
            _text(self.ca_data), _bytes(self.certificate_data), _bytes(self.private_key_data)
        )


def connection_info(credentials: access.Credentials) -> kopf.ConnectionInfo:
    """What kopf (and :class:`~gatekey.operator.kube.api.KubeApi`) log in with; kopf logs
    in again at ``expiration`` (an exec plugin's) and after any 401 (a rotated token)."""
    scheme, _, token = (credentials.authorization or "").partition(" ")
    return _Connection(
        server=credentials.server,
        ca_data=credentials.ca_pem,
        insecure=not credentials.verify,
        scheme=scheme or None,
        token=token or None,
        certificate_data=credentials.certificate_pem,
        private_key_data=credentials.private_key_pem,
        default_namespace=credentials.namespace,
        expiration=credentials.expires,
    )


async def login_via_client(kubeconfig: str | None = None) -> kopf.ConnectionInfo:
    """In-cluster service account, else kubeconfig (:mod:`~gatekey.operator.kube.access`),
    loaded in a thread: exec credential plugins are processes."""
    try:
        credentials = await asyncio.to_thread(access.load, kubeconfig)
    except access.AccessError as exc:
        raise kopf.LoginError(str(exc)) from None
    return connection_info(credentials)


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


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
