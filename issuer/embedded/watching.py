"""The embedded mode as a :class:`~gatekey.issuer.config_source.ConfigSource`: the folder's
first snapshot before the listener opens, then a re-read on every edit of the folder (or
of the state dir's secrets) and every minute (signing keys rotate by the clock).

A re-read whose result is the configuration in force publishes nothing new
(:meth:`~gatekey.issuer.config_source.Publisher.unchanged`): the snapshot in force and
its caches (remembered ``/authz`` passes, verified tokens, proxy-key clients) stay. A
broken edit keeps the last good snapshot serving; a log line is written when the
configuration changed, and a manifest problem once, not at every periodic re-read.
"""

import asyncio
import gc
import hashlib
import json
import logging

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
        """Of the configuration in force (:func:`fingerprint`); empty before the first."""
        self.repeats = _Repeats()
        logging.getLogger("gatekey.embedded").addFilter(self.repeats)
        # One re-read at a time, published in the order read: an edit and the periodic
        # re-read must not publish an older result over a newer one.
        self._rereading = asyncio.Lock()

    @property
    def description(self) -> str:
        return str(self.source.folder.root)

    async def first(self, publisher: Publisher) -> None:
        build, _ = self._build()
        publisher.publish(build.snapshot)
        gc.freeze()  # the first snapshot lives long: keep it out of the collector's scans

    async def run(self, publisher: Publisher) -> None:
        await asyncio.gather(self._watch(publisher), self._resync(publisher))

    async def _watch(self, publisher: Publisher) -> None:
        folder = self.source.folder.root
        # The state dir's secrets too: ``gatekey rotate-secret`` writes a rotated secret there.
        secrets = self.source.state.root / "secrets"
        secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        async for _changes in awatch(folder, secrets, debounce=200, step=50):
            await self._reread(publisher)

    async def _resync(self, publisher: Publisher) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            await self._reread(publisher)

    async def _reread(self, publisher: Publisher) -> None:
        async with self._rereading:
            try:
                build, changed = await asyncio.to_thread(self._build)
            except Exception:
                publisher.rebuild_failed()
                _log.exception("reload failed; the last good configuration keeps serving")
                return
            if changed:
                publisher.publish(build.snapshot)
            else:
                publisher.unchanged()

    def _build(self) -> tuple[Build, bool]:
        """One pass over the folder, and whether its result differs from the configuration
        in force (which it then becomes). In a worker thread: hashing 10,000 objects is
        work the event loop must not wait for."""
        self.repeats.next_pass()
        build = self.source.build()
        return build, self._take(build)

    def _take(self, build: Build) -> bool:
        """Whether ``build`` changed the configuration; the log line says so when it did."""
        new = fingerprint(build)
        if new == self.fingerprint:
            return False
        verb = "loaded" if not self.fingerprint else "changed"
        _log.info(
            "configuration %s: %d object(s), %d manifest error(s)",
            verb,
            len(build.objects),
            len(build.errors),
        )
        self.fingerprint = new
        return True


def fingerprint(build: Build) -> str:
    """A digest of everything a build's snapshot is made from and the log reports: the
    rendered objects (the snapshot is a pure function of them and the issuer's fixed
    settings; the clock and the state dir's secrets reach it only through them) and the
    manifest errors' texts."""
    made_of = {"objects": build.objects, "errors": [str(error) for error in build.errors]}
    text = json.dumps(made_of, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
