"""``gatekey operator``: run the kopf operator for some namespaces or the whole cluster."""

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import kopf
import uvloop

from gatekey.operator.entropy import Entropy
from gatekey.operator.kube import access
from gatekey.operator.kube.api import Login
from gatekey.operator.kube.handlers import register
from gatekey.operator.kube.runtime import Runtime, login_via_client
from gatekey.operator.kube.settings import OperatorOptions

BOOKKEEPING_PREFIX = "kopf.gatekey.io"
"""Where kopf keeps its progress and last-handled spec: annotations, never ``.status``."""


def kopf_settings() -> kopf.OperatorSettings:
    """kopf's settings for Gatekey."""
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=BOOKKEEPING_PREFIX, v1=False
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=BOOKKEEPING_PREFIX, key="last-handled-configuration", v1=False
    )
    settings.persistence.finalizer = f"{BOOKKEEPING_PREFIX}/finalizer"  # no handler needs one
    # The passes post their own Events (one per CR per change); kopf adds only its problems.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "gatekey-operator"
    # Namespaces are named exactly, or the whole cluster is watched: nothing to scan.
    settings.scanning.disabled = True
    return settings


async def operate(
    namespaces: Sequence[str] = (),
    *,
    all_namespaces: bool = False,
    options: OperatorOptions | None = None,
    login: Login = login_via_client,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    entropy: Entropy | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    stop_flag: asyncio.Event | threading.Event | None = None,
    liveness_endpoint: str | None = None,
) -> None:
    """Run the operator until ``stop_flag`` is set (or the process is signalled)."""
    if bool(namespaces) == all_namespaces:
        raise ValueError("name the namespaces to watch, or ask for all of them, not both")
    registry = kopf.OperatorRegistry()
    runtime = Runtime(options, login=login, clock=clock, entropy=entropy)
    register(registry, runtime)
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(),
            namespaces=list(namespaces),
            clusterwide=all_namespaces,
            standalone=True,  # no KopfPeering resources: run one replica (leader election aside)
            ready_flag=ready_flag,
            stop_flag=stop_flag,
            liveness_endpoint=liveness_endpoint,
        )
    finally:
        await runtime.close()


def run(
    namespaces: list[str],
    all_namespaces: bool,
    liveness: str | None = None,
    *,
    options: OperatorOptions | None = None,
    kubeconfig: str | None = None,
) -> None:
    """The ``gatekey operator [--namespace NS ... | --all-namespaces]`` command (uvloop, as
    ``gatekey serve``; kopf stops cleanly on SIGTERM/SIGINT in the main thread).

    ``liveness`` is kopf's liveness endpoint (``http://0.0.0.0:8081/healthz``): it
    answers while the operator's tasks are alive, for a Kubernetes liveness probe.
    Credentials are loaded once before kopf starts, so that a bad kubeconfig is one
    line (:class:`~gatekey.operator.kube.access.AccessError`), not kopf's retries."""
    access.load(kubeconfig)
    uvloop.run(
        operate(
            namespaces,
            all_namespaces=all_namespaces,
            options=options,
            login=functools.partial(login_via_client, kubeconfig),
            liveness_endpoint=liveness,
        )
    )
