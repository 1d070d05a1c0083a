"""The embedded mode as a :class:`~gatekey.issuer.config_source.ConfigSource`: the folder's
first snapshot before the listener opens, then a rebuild on every edit of the folder (or
of the state dir's secrets) and every minute (signing keys rotate by the clock).

A broken edit keeps the last good snapshot serving; a log line is written when the
configuration changed, and a manifest problem once, not at every periodic rebuild.
"""

import asyncio
import gc
import hashlib
import json
import logging
from typing import Any

from watchfiles import awatch

from gatekey.issuer.config_source import Publisher
from gatekey.issuer.embedded.source import Build, EmbeddedSource

_log = logging.getLogger("gatekey.serve")

RESYNC_SECONDS = 60.0


class FolderSource:
    """Publishes the snapshots of one folder of manifests and its state dir."""

    def __init__(self, source: EmbeddedSource, resync_seconds: float = RESYNC_SECONDS) -> None:
        self.source = source
        self.resync_seconds = resync_seconds
        self.fingerprint = ""
        self.repeats = _Repeats()
        logging.getLogger("gatekey.embedded").addFilter(self.repeats)

    @property
    def description(self) -> str:
        return str(self.source.folder.root)

    async def first(self, publisher: Publisher) -> None:
        publisher.publish(self._build().snapshot)
        gc.freeze()  # the first snapshot lives long: keep it out of the collector's scans

    async def run(self, publisher: Publisher) -> None:
        await asyncio.gather(self._watch(publisher), self._resync(publisher))

    async def _watch(self, publisher: Publisher) -> None:
        folder = self.source.folder.root
        # The state dir's secrets too: ``gatekey rotate-secret`` writes a rotated secret there.
        secrets = self.source.state.root / "secrets"
        secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        async for _changes in awatch(folder, secrets, debounce=200, step=50):
            await self._rebuild(publisher)

    async def _resync(self, publisher: Publisher) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            await self._rebuild(publisher)

    async def _rebuild(self, publisher: Publisher) -> None:
        try:
            build = await asyncio.to_thread(self._build)
        except Exception:
            publisher.rebuild_failed()
            _log.exception("reload failed; the last good configuration keeps serving")
            return
        publisher.publish(build.snapshot)

    def _build(self) -> Build:
        self.repeats.next_pass()
        build = self.source.build()
        self._announce(build.objects, len(build.errors))
        return build

    def _announce(self, objects: Any, errors: int) -> None:
        text = json.dumps(objects, sort_keys=True, default=str) + str(errors)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        if fingerprint != self.fingerprint:
            verb = "loaded" if not self.fingerprint else "changed"
            _log.info(
                "configuration %s: %d object(s), %d manifest error(s)", verb, len(objects), errors
            )
            self.fingerprint = fingerprint


class _Repeats(logging.Filter):
    """Drops a log line already written by the previous pass over the folder: the
    periodic re-render would otherwise repeat every manifest problem each minute."""

    def __init__(self) -> None:
        super().__init__()
        self._previous: set[str] = set()
        self._current: set[str] = set()

    def next_pass(self) -> None:
        self._previous, self._current = self._current, set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        self._current.add(message)
        return message not in self._previous
