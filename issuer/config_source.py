"""Where the issuer's configuration comes from: one shape for the folder and the cluster.

A :class:`ConfigSource` is run by ``gatekey serve`` and pushes into a :class:`Publisher`
(the :class:`~gatekey.issuer.runtime.Runtime`): each snapshot it builds, each re-read
that found nothing new, each rebuild that failed (the last good snapshot keeps
serving in both cases), and whether it is in step with
where the configuration lives. It never holds the runtime, and the runtime never asks
it anything: configuration flows one way, and ``serve`` only wires the two.
"""

import gc
from collections.abc import Iterable
from typing import Protocol

from gatekey.issuer.snapshot import ParseCache, Snapshot, build_snapshot
from gatekey.operator.contract import Manifest
from gatekey.operator.model import TokenManagement


class Publisher(Protocol):
    """What a source publishes to."""

    def publish(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` from now on."""

    def unchanged(self) -> None:
        """A re-read found the configuration in force: the snapshot in force, and the
        caches kept with it, stay (a source need not say so: the cluster's watches
        only report changes)."""

    def rebuild_failed(self) -> None:
        """A rebuild failed; the last good snapshot keeps serving."""

    def source_health(self, in_step: bool) -> None:
        """Whether the source reaches where the configuration lives (``/readyz`` says so)."""


class ConfigSource(Protocol):
    """A configuration source, run by ``serve``."""

    @property
    def description(self) -> str:
        """What is served, for the log: a folder, or the cluster's namespaces."""

    async def first(self, publisher: Publisher) -> None:
        """Publish what can be had before the listener opens (the folder's first
        snapshot); a cluster source has nothing until its watches sync."""

    async def run(self, publisher: Publisher) -> None:
        """Publish every change until cancelled."""


def build_paused(
    objects: Iterable[Manifest], defaults: TokenManagement, cache: ParseCache
) -> Snapshot:
    """:func:`~gatekey.issuer.snapshot.build_snapshot` with the cyclic garbage collector
    paused: it would otherwise rescan the growing heap again and again and take most of
    the time (10,000 Credentials). The pure builder leaves the process's collector alone;
    the sources, which own the process's rebuilds, pause it here."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return build_snapshot(objects, defaults, cache)
    finally:
        if paused:
            gc.enable()
