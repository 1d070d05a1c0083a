"""One pass over a namespace: gather, render, apply the objects, write statuses, post Events.

The pass is the only place that writes. It renders the whole namespace, because
one CR's objects depend on others (a Role changes a Credential's status, the older
of two AuthPolicies on a target wins, a user-pool Secret feeds every policy that
names it); writes only what differs (:mod:`plan`), so a pass over an unchanged
namespace makes no request at all (restart idempotence).
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gatekey.operator.client_ids import Claim, Holders, claims, holders
from gatekey.operator.entropy import Entropy
from gatekey.operator.kube import events
from gatekey.operator.kube.api import ApiError, KubeApi
from gatekey.operator.kube.observed import ObservedCR, observe_object
from gatekey.operator.kube.plan import Clash, Create, Delete, Plan, Release, SourceKey, Update, plan
from gatekey.operator.kube.resources import BY_KIND, EVENTS, SECRETS
from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.kube.state import ClusterState, NamespaceView
from gatekey.operator.kube.status import (
    Verdict,
    became_ready,
    desired_status,
    ready_condition,
    status_patch,
    verdict_of,
)
from gatekey.operator.model import AuthPolicy, Credential, Role
from gatekey.operator.model.status import APPLY_FAILED, CLIENT_ID_CONFLICT, OBJECT_CONFLICT
from gatekey.operator.render import Rendered, RenderInput, render

_log = logging.getLogger("gatekey.operator")
Write = Create | Update | Delete | Release


@dataclass(frozen=True)
class PassOutcome:
    """What a pass concluded: a verdict per CR, and whether any write failed."""

    verdicts: Mapping[tuple[str, str], Verdict] = field(default_factory=dict)
    failures: int = 0
    stale: frozenset[str] = frozenset()
    """Other namespaces whose CRs won or lost a client id since their last pass."""

    @property
    def failed(self) -> bool:
        return self.failures > 0


class Reconciler:
    """Runs passes; one instance per operator, passes serialised per namespace elsewhere."""

    def __init__(
        self,
        api: KubeApi,
        state: ClusterState,
        options: OperatorOptions,
        clock: Callable[[], datetime],
        entropy: Entropy,
    ) -> None:
        self.api = api
        self.state = state
        self.options = options
        self.clock = clock
        self.entropy = entropy

    async def reconcile(self, namespace: str) -> PassOutcome:
        """Make ``namespace`` match what its CRs render."""
        now = self.clock()
        views = {ns: self.state.view(ns) for ns in self.state.namespaces() | {namespace}}
        view = views[namespace]
        found = [c for v in views.values() for c in _claims(v)]
        held = holders(found)
        rendered = render(_inputs(view, now, self.entropy, self.options, held))
        planned = plan(rendered.objects, view.objects, **_kept_for_invalid(view))
        failed, clashes = await self._apply(namespace, planned)
        verdicts = self._verdicts(view, rendered, failed, clashes | _clash_sources(planned))
        notes = _notes(planned, failed, clashes)
        await self._statuses(view, rendered, verdicts, notes, now)
        _log_refusals(view, found, held)
        return PassOutcome(verdicts, len(failed), _stale(views, found, held) - {namespace})

    # Objects ----------------------------------------------------------------------------

    async def _apply(
        self, namespace: str, planned: Plan
    ) -> tuple[dict[SourceKey, str], dict[SourceKey, str]]:
        """Run the writes concurrently; CRs whose writes failed, and those blocked by a
        ConfigMap that turned out to exist without Gatekey's labels."""
        results = await asyncio.gather(
            *(self._write(namespace, op) for op in planned.writes), return_exceptions=True
        )
        failed: dict[SourceKey, str] = {}
        clashes: dict[SourceKey, str] = {}
        for op, result in zip(planned.writes, results, strict=True):
            if result is None:
                continue
            kind, name = op.key
            conflict = isinstance(result, ApiError) and result.conflict
            if conflict and isinstance(op, Create) and kind != SECRETS.kind:
                # Created by someone else since the index was read: in the way.
                for source in op.sources:
                    clashes[source] = Clash(op.key, op.sources).message
                continue
            _log.warning(
                "%s %s/%s: %s failed: %s", kind, namespace, name, type(op).__name__, result
            )
            for source in op.sources:
                failed[source] = f"writing {kind} {name} failed: {result}"
            if not op.sources:
                failed[("", name)] = str(result)
        return failed, clashes

    async def _write(self, namespace: str, op: Write) -> BaseException | None:
        kind, name = op.key
        resource = BY_KIND[kind]
        try:
            if isinstance(op, Create):
                created = await self.api.create(resource, namespace, op.body)
                self.state.record_object(kind, namespace, name, observe_object(created), None)
            elif isinstance(op, Update | Release):
                patched = await self.api.merge_patch(resource, namespace, name, op.patch)
                self.state.record_object(
                    kind, namespace, name, observe_object(patched), op.base.resource_version
                )
            else:
                try:
                    await self.api.delete(resource, namespace, name, uid=op.base.uid)
                except ApiError as error:
                    if not error.not_found:
                        raise
                self.state.record_object(kind, namespace, name, None, op.base.resource_version)
        except ApiError as error:
            return error
        return None

    # Statuses and Events ----------------------------------------------------------------

    def _verdicts(
        self,
        view: NamespaceView,
        rendered: Rendered,
        failed: Mapping[SourceKey, str],
        clashes: Mapping[SourceKey, str],
    ) -> dict[tuple[str, str], Verdict]:
        verdicts = {}
        for key, cr in view.crs.items():
            verdict = verdict_of(cr, rendered.statuses.get(key))
            if key in clashes and verdict.ready:
                verdict = Verdict(False, OBJECT_CONFLICT, clashes[key])
            elif key in failed and verdict.ready:
                verdict = Verdict(False, APPLY_FAILED, failed[key])
            verdicts[key] = verdict
        return verdicts

    async def _statuses(
        self,
        view: NamespaceView,
        rendered: Rendered,
        verdicts: Mapping[tuple[str, str], Verdict],
        notes: Mapping[SourceKey, list[str]],
        now: datetime,
    ) -> None:
        jobs = []
        for key, cr in view.crs.items():
            verdict = verdicts[key]
            found = rendered.statuses.get(key)
            fields = found.fields if found is not None and verdict.ready else {}
            desired = desired_status(cr, verdict, fields, cr.status, now)
            patch = status_patch(cr.status, desired)
            posts = []
            if self.options.post_events:
                if notes.get(key):
                    posts.append(
                        events.event(cr, "Normal", "Applied", events.summary(notes[key]), now)
                    )
                if key in rendered.rotations:
                    posts.append(
                        events.event(cr, "Normal", "SecretRotated", rendered.rotations[key], now)
                    )
                flipped = became_ready(cr.status, desired)
                if flipped is not None:
                    posts.append(
                        events.event(
                            cr,
                            "Normal" if flipped else "Warning",
                            verdict.reason,
                            verdict.message,
                            now,
                        )
                    )
            if patch is not None or posts:
                jobs.append(self._report(cr, desired, patch, posts))
        await asyncio.gather(*jobs)

    async def _report(
        self,
        cr: ObservedCR,
        desired: Mapping[str, Any],
        patch: Mapping[str, Any] | None,
        posts: list[dict[str, Any]],
    ) -> None:
        resource = BY_KIND[cr.kind]
        if patch is not None:
            try:
                written = await self.api.merge_patch(
                    resource, cr.namespace, cr.name, patch, subresource="status"
                )
            except ApiError as error:
                if not error.not_found:  # deleted meanwhile: nothing to report on
                    _log.warning("status of %s %s/%s: %s", cr.kind, cr.namespace, cr.name, error)
                return
            version = str((written.get("metadata") or {}).get("resourceVersion", ""))
            self.state.record_status(cr, desired, version)
        for body in posts:
            try:
                await self.api.create(EVENTS, cr.namespace, body)
            except ApiError as error:  # Events are best effort, as client-go's recorder
                _log.info(
                    "event for %s %s/%s not posted: %s", cr.kind, cr.namespace, cr.name, error
                )


def _inputs(
    view: NamespaceView,
    now: datetime,
    entropy: Entropy,
    options: OperatorOptions,
    held: Holders,
) -> RenderInput:
    """What ``render`` reads, from the view: valid CRs, and every Secret's values."""
    resources = [cr.resource for cr in view.crs.values() if cr.resource is not None]
    secrets = view.secrets()
    return RenderInput(
        namespace=view.namespace,
        policies=[r for r in resources if isinstance(r, AuthPolicy)],
        credentials=[r for r in resources if isinstance(r, Credential)],
        roles=[r for r in resources if isinstance(r, Role)],
        secrets=_values(view),
        # Gatekey's own Secrets (labelled, not adopted) are "generated": owned, not adopted.
        generated=frozenset(n for n, o in secrets.items() if o.managed and not o.adopted),
        now=now,
        entropy=entropy,
        settings=options.render,
        client_id_holders=held,
    )


def _values(view: NamespaceView) -> dict[str, dict[str, str]]:
    return {name: dict(o.values) for name, o in view.secrets().items()}


def _claims(view: NamespaceView) -> list[Claim]:
    resources = [
        cr.resource for cr in view.crs.values() if isinstance(cr.resource, AuthPolicy | Credential)
    ]
    served = {}
    for key, cr in view.crs.items():
        condition = ready_condition(cr.status)
        client_id = cr.status.get("clientId")
        if condition is not None and condition.get("status") == "True" and client_id:
            served[key] = str(client_id)
    return claims(view.namespace, resources, _values(view), served)


def _stale(views: Mapping[str, NamespaceView], found: list[Claim], held: Holders) -> frozenset[str]:
    """Namespaces where a claimant's status no longer matches who holds its client id: a
    refused one that now holds (the holder went away), or a served one that now loses.

    A pass renders one namespace; without this, the other side of a clash would wait for
    the next resync."""
    stale = set()
    for claim in found:
        holds = held[claim.client_id] == claim
        namespace = claim.identity[1]
        view = views[namespace]
        for key in claim.client.members:
            cr = view.crs.get(key)
            condition = ready_condition(cr.status) if cr is not None else None
            if condition is None:
                continue
            refused = condition.get("reason") == CLIENT_ID_CONFLICT
            served = condition.get("status") == "True"
            if (holds and refused) or (not holds and served):
                stale.add(namespace)
    return frozenset(stale)


def _log_refusals(view: NamespaceView, found: list[Claim], held: Holders) -> None:
    """Name both sides of a new clash in the operator's log (a status names only its own)."""
    for claim in found:
        if claim.identity[1] != view.namespace or held[claim.client_id] == claim:
            continue
        for kind, name in sorted(claim.client.members):
            cr = view.crs.get((kind, name))
            before = ready_condition(cr.status) if cr is not None else None
            if before is None or before.get("reason") != CLIENT_ID_CONFLICT:
                _log.warning(
                    "client id %s: %s %s/%s refused, held by %s",
                    claim.client_id,
                    kind,
                    view.namespace,
                    name,
                    held[claim.client_id] or "no one (contested)",
                )


def _kept_for_invalid(view: NamespaceView) -> dict[str, set[SourceKey]]:
    """What an invalid CR (one that got past the CRD schema) keeps of its objects.

    Fail closed where the edit could have taken access away (the rule in
    docs/reference.md): an AuthPolicy keeps its last good objects but its copy of the
    user pool (:func:`plan` drops it: pool edits could not reach it); a Credential
    keeps only its Secrets (a fixed typo must not change the client secret), not the
    ConfigMap that makes the issuer grant; a Role keeps nothing.
    """
    invalid = {key for key, cr in view.crs.items() if cr.resource is None}
    return {
        "keep": {key for key in invalid if key[0] == "AuthPolicy"},
        "keep_secrets": {key for key in invalid if key[0] == "Credential"},
    }


def _clash_sources(planned: Plan) -> dict[SourceKey, str]:
    return {source: op.message for op in planned.clashes for source in op.sources}


def _notes(
    planned: Plan, failed: Mapping[SourceKey, str], clashes: Mapping[SourceKey, str]
) -> dict[SourceKey, list[str]]:
    """Per CR, the writes that succeeded, in words (for its Applied Event)."""
    notes: dict[SourceKey, list[str]] = defaultdict(list)
    for op in planned.writes:
        kind, name = op.key
        if isinstance(op, Create):
            text = f"created {kind} {name}"
        elif isinstance(op, Update):
            text = f"updated {kind} {name} ({', '.join(op.changed)})"
        elif isinstance(op, Release):
            text = f"released {kind} {name}"
        else:
            text = f"deleted {kind} {name}"
        for source in op.sources:
            if source not in failed and source not in clashes:
                notes[source].append(text)
    return notes
