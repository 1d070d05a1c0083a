"""Folder + state dir -> rendered objects -> Snapshot: the embedded mode's pipeline.

The same pure ``render`` as the operator and the same Snapshot builder as the
cluster watch; only reading files and saving generated Secrets happen here.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gatekey.issuer.config_source import build_paused
from gatekey.issuer.embedded.folder import ManifestFolder
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.snapshot import ParseCache, Snapshot
from gatekey.operator import contract
from gatekey.operator.contract import Manifest
from gatekey.operator.entropy import Entropy, SystemEntropy
from gatekey.operator.model import AuthPolicy, Credential, ManifestError, Resource, Role, Secret
from gatekey.operator.render import (
    REJECTED,
    Rendered,
    RenderInput,
    RenderSettings,
    Status,
    render,
)

_log = logging.getLogger("gatekey.embedded")

GENERATED_KINDS = frozenset({"proxy-key", "credential-secret", "signing-keys"})
"""Rendered Secrets whose values the state dir keeps (never copies of user Secrets)."""


@dataclass(frozen=True)
class Build:
    """One pass over the folder: the objects, the snapshot and what went wrong."""

    objects: tuple[Manifest, ...]
    rendered: dict[str, Rendered]
    snapshot: Snapshot
    errors: tuple[ManifestError, ...]
    resources: tuple[Resource, ...] = ()
    """The manifests in force (last good versions included)."""


class EmbeddedSource:
    """Builds snapshots from a folder of manifests and a state dir."""

    def __init__(
        self,
        manifests: Path,
        state: StateDir,
        settings: IssuerSettings,
        *,
        entropy: Entropy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        render_settings: RenderSettings | None = None,
        persist: bool = True,
    ) -> None:
        self.folder = ManifestFolder(manifests)
        self.state = state
        self.settings = settings
        self.entropy = entropy or SystemEntropy()
        self.clock = clock
        self.render_settings = render_settings or RenderSettings(
            token_management=settings.token_management
        )
        self.persist = persist
        self._lock = threading.Lock()
        self._cache = ParseCache()

    def build(self) -> Build:
        """Read, render, save what was generated, and index: one pass at a time in this
        process, and across the processes sharing the state dir (``--workers``), so that
        two of them never generate different keys for the same Secret."""
        with self._lock, self.state.locked() if self.persist else nullcontext():
            return self._build()

    def _build(self) -> Build:
        loaded = self.folder.load()
        for error in loaded.errors:
            _log.error("manifest skipped: %s", error)
        for kind, namespace, name in sorted(loaded.kept):
            _log.warning("%s %s/%s: the last good version keeps serving", kind, namespace, name)
        for kind, namespace, name in sorted(loaded.withheld):
            _log.warning("%s %s/%s: not in force until fixed", kind, namespace, name)
        by_ns: dict[str, list[object]] = defaultdict(list)
        for (_, namespace, _), resource in loaded.resources.items():
            by_ns[namespace].append(resource)
        saved = self.state.secrets()
        for namespace, _ in saved:
            by_ns.setdefault(namespace, [])
        now = self.clock()
        rejected: list[ManifestError] = []
        objects: list[Manifest] = []
        rendered: dict[str, Rendered] = {}
        for namespace in sorted(by_ns):
            resources = by_ns[namespace]
            secrets = {name: values for (ns, name), values in saved.items() if ns == namespace}
            generated = frozenset(secrets)
            users = {r.metadata.name: r.values() for r in resources if isinstance(r, Secret)}
            secrets |= users
            result = render(
                RenderInput(
                    namespace=namespace,
                    policies=[r for r in resources if isinstance(r, AuthPolicy)],
                    credentials=[r for r in resources if isinstance(r, Credential)],
                    roles=[r for r in resources if isinstance(r, Role)],
                    secrets=secrets,
                    generated=generated - set(users),
                    now=now,
                    entropy=self.entropy,
                    settings=self.render_settings,
                )
            )
            rendered[namespace] = result
            for (kind, name), status in sorted(result.statuses.items()):
                if status.reason in REJECTED:
                    rejected.append(self._rejected(kind, namespace, name, status))
                elif not status.ready:
                    _log.warning(
                        "%s %s/%s not ready: %s: %s",
                        kind,
                        namespace,
                        name,
                        status.reason,
                        status.message,
                    )
            if self.persist:
                # A Credential withheld for a bad edit keeps its generated secret: fixing
                # the typo must not change the client secret. Forgetting waits for a
                # folder without errors.
                self._save_generated(namespace, result, saved, forget=not loaded.errors)
            objects += result.objects
        snapshot = build_paused(objects, self.settings.token_management, self._cache)
        for problem in snapshot.errors:
            _log.error("object skipped: %s", problem)
        return Build(
            tuple(objects),
            rendered,
            snapshot,
            loaded.errors + tuple(rejected),
            tuple(loaded.resources.values()),
        )

    def _rejected(self, kind: str, namespace: str, name: str, status: Status) -> ManifestError:
        """A manifest render refused (e.g. a foreign audience), located like a parse error."""
        source = self.folder.file_of((kind, namespace, name)) or f"{kind} {namespace}/{name}"
        error = ManifestError(source, "-", status.path, f"{kind} {name}: {status.message}")
        _log.error("manifest skipped: %s", error)
        return error

    def _save_generated(
        self,
        namespace: str,
        result: Rendered,
        saved: dict[tuple[str, str], dict[str, str]],
        *,
        forget: bool,
    ) -> None:
        """Keep generated Secrets in the state dir; forget those no CR produces any more."""
        kept = set()
        for obj in result.objects:
            meta = obj["metadata"]
            if obj["kind"] != "Secret" or contract.config_kind(obj) not in GENERATED_KINDS:
                continue
            if meta["annotations"].get(contract.ADOPTED_ANNOTATION):
                continue
            kept.add(meta["name"])
            values = contract.secret_values(obj)
            if saved.get((namespace, meta["name"])) != values:
                self.state.save(namespace, meta["name"], values)
        for ns, name in saved if forget else ():
            if ns == namespace and name not in kept:
                self.state.delete(ns, name)
