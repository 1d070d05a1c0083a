"""The kopf handlers: thin, typed, and all alike. They index, wait for a pass, report.

- Indexes (``@kopf.index``) keep the parsed CRs, every Secret and the ConfigMaps
  Gatekey writes (or that are in the way of one) per namespace; kopf fills them
  before any other handler runs.
- ``on.resume``/``on.create``/``on.update`` of each kind wait for a pass over the
  namespace; ``PermanentError`` for a manifest only a new spec can fix. They never
  raise ``TemporaryError``: retrying is the pass queue's job alone
  (:mod:`~gatekey.operator.kube.coalesce`: a failed pass is tried again with backoff,
  per namespace), and a CR that may become Ready by itself (a named Secret still
  missing) gets its pass when the watch sees that Secret, or at the next resync.
- ``on.event`` starts a pass without waiting when a CR is deleted, or when a Secret
  or ConfigMap the namespace depends on changes: a Role, a user pool or an adopted
  Secret re-renders everything that uses it. Events the operator caused itself are
  ignored.

kopf's own bookkeeping (progress, last handled spec) lives in annotations under
``kopf.gatekey.io/`` (see :mod:`main`); ``.status`` is written by the passes only.
"""

from typing import Any

import kopf

from gatekey.operator import contract
from gatekey.operator.kube.observed import (
    ObservedCR,
    ObservedObject,
    observe_cr,
    observe_object,
)
from gatekey.operator.kube.resources import CONFIGMAPS, CUSTOM, SECRETS, Resource
from gatekey.operator.kube.runtime import Runtime
from gatekey.operator.kube.state import INDEX_IDS

RECONCILE_ID = "reconcile"


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    """Register every handler of the operator in ``registry``."""

    @kopf.on.login(id="login", registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await runtime.login()

    @kopf.on.cleanup(id="cleanup", registry=registry)
    async def cleanup(**_: Any) -> None:
        await runtime.close()

    for resource in CUSTOM:
        _register_kind(registry, runtime, resource)

    @kopf.index(*_gvr(SECRETS), id=INDEX_IDS[SECRETS.kind], registry=registry)
    def index_secret(
        *, namespace: str | None, body: kopf.Body, **_: Any
    ) -> dict[str, ObservedObject]:
        return {namespace or "": observe_object(body)}

    @kopf.index(*_gvr(CONFIGMAPS), id=INDEX_IDS[CONFIGMAPS.kind], when=_ours, registry=registry)
    def index_configmap(
        *, namespace: str | None, body: kopf.Body, **_: Any
    ) -> dict[str, ObservedObject]:
        return {namespace or "": observe_object(body)}

    @kopf.on.event(*_gvr(SECRETS), id="secret-changed", registry=registry)
    async def secret_changed(
        *, namespace: str | None, name: str, body: kopf.Body, **kwargs: Any
    ) -> None:
        runtime.bind(kwargs)
        namespace = namespace or ""
        version = str(body.metadata.get("resourceVersion", ""))
        if runtime.state.is_own_write(SECRETS.kind, namespace, name, version):
            return
        managed = contract.config_kind(body) is not None
        # A Secret named like Gatekey's (in the way of one, say) counts too: its deletion
        # must start the pass that writes Gatekey's own.
        gatekey_name = name.startswith(contract.NAME_PREFIX)
        if managed or gatekey_name or name in runtime.state.referenced_secrets(namespace):
            runtime.poke(namespace)

    @kopf.on.event(*_gvr(CONFIGMAPS), id="configmap-changed", when=_ours, registry=registry)
    async def configmap_changed(
        *, namespace: str | None, name: str, body: kopf.Body, **kwargs: Any
    ) -> None:
        runtime.bind(kwargs)
        namespace = namespace or ""
        version = str(body.metadata.get("resourceVersion", ""))
        if not runtime.state.is_own_write(CONFIGMAPS.kind, namespace, name, version):
            runtime.poke(namespace)  # drift: someone edited or deleted a rendered ConfigMap


def _register_kind(registry: kopf.OperatorRegistry, runtime: Runtime, resource: Resource) -> None:
    kind = resource.kind

    @kopf.index(*_gvr(resource), id=INDEX_IDS[kind], registry=registry)
    def index_cr(*, namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, ObservedCR]:
        return {namespace or "": observe_cr(body)}

    @kopf.on.resume(*_gvr(resource), id=RECONCILE_ID, registry=registry)
    @kopf.on.create(*_gvr(resource), id=RECONCILE_ID, registry=registry)
    @kopf.on.update(*_gvr(resource), id=RECONCILE_ID, registry=registry)
    async def reconcile(*, namespace: str | None, name: str, **kwargs: Any) -> None:
        runtime.bind(kwargs)
        try:
            outcome = await runtime.settle(namespace or "")
        except Exception:  # logged by the pass queue, which retries the pass itself
            return
        verdict = outcome.verdicts.get((kind, name))
        if verdict is not None and verdict.permanent:
            raise kopf.PermanentError(f"{verdict.reason}: {verdict.message}")

    @kopf.on.event(*_gvr(resource), id=f"{resource.plural}-deleted", registry=registry)
    async def deleted(*, type: str | None, namespace: str | None, **kwargs: Any) -> None:
        if type == "DELETED":
            runtime.bind(kwargs)
            runtime.poke(namespace or "")  # its objects go, and others may win or lose a Role


def _ours(*, name: str, body: kopf.Body, **_: Any) -> bool:
    """ConfigMaps Gatekey labels or could render (all rendered names start with gatekey-):
    an unlabelled one of such a name is in the way, and its deletion must be noticed."""
    return name.startswith(contract.NAME_PREFIX) or contract.config_kind(body) is not None


def _gvr(resource: Resource) -> tuple[str, str, str]:
    return resource.group, resource.version, resource.plural
