"""Brute-force protection: failed authentications slow, then refuse, an attempt
(docs/security.md).

Keyed so that no one can lock an owner out: a correct secret from an address that has
not itself failed is never refused because of failures elsewhere.

* ``client:<id>@<addr>``: a known client id from one address. Failed client
  authentications count here; from ``block_after`` on, that client is refused (429)
  from that address only.
* ``user:<name>@<addr>``: a user name from one address; wrong passwords count here and
  block the same way.
* ``addr:<addr>``: an address, for attempts at client ids that do not exist (guessing
  ids): blocks that address's attempts at unknown ids. Known clients from there are
  not refused because of it.
* ``client:<id>`` and ``user:<name>``: every address together. These only slow the
  failed answers (from ``slow_after`` on, doubling up to ``max_delay_seconds``), never
  block: anyone may fail for a client id, so none of those failures may lock it out.

Failures are counted in the store, so replicas agree on the counts. A block is armed
when a count reaches or passes the threshold, written to the store (it survives a
restart, and a replica that starts later loads it) and published to every replica;
each keeps the blocks in memory, so a request that is not blocked costs one dictionary
look-up per key and no store round trip. A success clears its own per-address keys
(only where this replica saw them fail, so that successes write nothing otherwise).
"""

import asyncio
import logging
from dataclasses import dataclass

from gatekey.issuer.errors import TooManyAttempts
from gatekey.issuer.store.base import StoreUnavailable
from gatekey.issuer.store.events import Event, KeyBlocked
from gatekey.issuer.store.ports import ThrottleStore

_log = logging.getLogger("gatekey.throttle")


@dataclass(frozen=True)
class ThrottleSettings:
    """When failures slow and when they refuse; documented defaults."""

    window_seconds: float = 900.0
    """Failures are counted over this window, from the first one."""
    slow_after: int = 5
    """From this many failures on, each failed attempt is answered later..."""
    delay_seconds: float = 0.25
    """...by this much, doubling with each further failure..."""
    max_delay_seconds: float = 4.0
    """...up to this."""
    block_after: int = 20
    """From this many failures of one per-address key on, it is refused with 429 until
    the window ends."""


@dataclass(frozen=True)
class Attempt:
    """Who tried to authenticate, from where."""

    client_id: str | None
    known_client: bool
    """Whether ``client_id`` names a client of the current configuration."""
    username: str | None
    source: str

    @property
    def blocking(self) -> list[str]:
        """The keys that can block this attempt (and count its failures toward a block)."""
        keys = []
        if self.client_id and self.known_client:
            keys.append(f"client:{self.client_id}@{self.source}")
        else:
            keys.append(f"addr:{self.source}")
        if self.username:
            keys.append(f"user:{self.username}@{self.source}")
        return keys

    def failing(self, client_failed: bool) -> tuple[list[str], list[str]]:
        """The keys a failure counts toward: (may block, only slow). ``client_failed``:
        the client authentication failed (otherwise the user's password did)."""
        blocking, slowing = [], []
        if client_failed:
            if self.client_id and self.known_client:
                blocking.append(f"client:{self.client_id}@{self.source}")
                slowing.append(f"client:{self.client_id}")
            else:
                blocking.append(f"addr:{self.source}")
        elif self.username:
            blocking.append(f"user:{self.username}@{self.source}")
            slowing.append(f"user:{self.username}")
        return blocking, slowing


class Throttle:
    """Counts failures in the store and refuses blocked keys."""

    def __init__(self, store: ThrottleStore, settings: ThrottleSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ThrottleSettings()
        self._blocked: dict[str, float] = {}
        self._failing: set[str] = set()
        store.subscribe(self._on_event)

    async def load(self, now: float) -> None:
        """Take in the blocks kept in the store (at start-up)."""
        for key, until in (await self.store.blocks(now)).items():
            self._remember(key, until)

    @property
    def blocking(self) -> bool:
        """Whether any key is blocked (else :meth:`check` passes every attempt)."""
        return bool(self._blocked)

    @property
    def failing(self) -> bool:
        """Whether this replica saw any key fail (else :meth:`succeeded` has nothing to do)."""
        return bool(self._failing)

    def check(self, attempt: Attempt, now: float) -> None:
        """Raise :class:`TooManyAttempts` if the attempt is blocked at ``now``."""
        if not self._blocked:  # the usual case: no key to build
            return
        for key in attempt.blocking:
            until = self._blocked.get(key)
            if until is None:
                continue
            if until <= now:
                del self._blocked[key]
                continue
            raise TooManyAttempts(max(1, int(until - now + 0.999)))

    async def failed(self, attempt: Attempt, client_failed: bool, now: float) -> float:
        """Count a failure; the delay to answer with (seconds)."""
        settings = self.settings
        blocking, slowing = attempt.failing(client_failed)
        worst = 0
        try:
            for key in blocking + slowing:
                count = await self.store.count_failure(key, settings.window_seconds)
                worst = max(worst, count)
                if key not in blocking:
                    continue
                self._failing.add(key)
                if count >= settings.block_after:
                    # Armed here at once, kept in the store, told to every replica. A
                    # replica that missed the event re-arms on the next failure (>=).
                    until = now + settings.window_seconds
                    self._remember(key, until)
                    await self.store.block(key, until)
                    await self.store.publish(KeyBlocked(key, until))
        except StoreUnavailable:
            _log.warning("failure counters unavailable; not counting this failure")
            return 0.0
        if worst < settings.slow_after:
            return 0.0
        steps = worst - settings.slow_after
        return float(min(settings.max_delay_seconds, settings.delay_seconds * 2**steps))

    async def succeeded(self, attempt: Attempt) -> None:
        """Forget the failures of the attempt's per-address client and user keys that this
        replica saw failing (the address key stays: it counts guessed ids)."""
        if not self._failing:
            return
        for key in attempt.blocking:
            if key in self._failing and not key.startswith("addr:"):
                self._failing.discard(key)
                try:
                    await self.store.clear_failures(key)
                except StoreUnavailable:
                    return

    def _on_event(self, event: Event) -> None:
        if isinstance(event, KeyBlocked):
            self._remember(event.key, event.until)

    def _remember(self, key: str, until: float) -> None:
        self._blocked[key] = max(until, self._blocked.get(key, 0.0))


async def pause(seconds: float) -> None:
    """Hold a failed answer back (a coroutine so tests can see it is awaited)."""
    if seconds > 0:
        await asyncio.sleep(seconds)
