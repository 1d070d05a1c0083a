"""Brute-force protection: failed authentications slow, then refuse, a client id, a user
name or a source address (docs/contract.md).

Failures are counted in the store, so replicas agree on the counts. The replica
whose count crosses the limit publishes a block; every replica keeps the blocks
in memory, so a request that is not blocked costs one dictionary look-up per key
and no store round trip. Successful requests write nothing unless this replica
saw the key fail.
"""

import asyncio
import logging
from dataclasses import dataclass

from gatekey.issuer.errors import TooManyAttempts
from gatekey.issuer.store.base import Event, StoreUnavailable, TokenStore

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
    """From this many failures on, the key is refused with 429 until the window ends."""


def throttle_keys(client_id: str | None, username: str | None, source: str | None) -> list[str]:
    """The counters one request touches."""
    keys = []
    if client_id:
        keys.append(f"client:{client_id}")
    if username:
        keys.append(f"user:{username}")
    if source:
        keys.append(f"addr:{source}")
    return keys


class Throttle:
    """Counts failures in the store and refuses blocked keys."""

    def __init__(self, store: TokenStore, settings: ThrottleSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ThrottleSettings()
        self._blocked: dict[str, float] = {}
        self._failing: set[str] = set()
        store.subscribe(self._on_event)

    def check(self, keys: list[str], now: float) -> None:
        """Raise :class:`TooManyAttempts` if any key is blocked at ``now``."""
        for key in keys:
            until = self._blocked.get(key)
            if until is None:
                continue
            if until <= now:
                del self._blocked[key]
                continue
            raise TooManyAttempts(max(1, int(until - now + 0.999)))

    async def failed(self, keys: list[str], now: float) -> float:
        """Count a failure for each key; the delay to answer with (seconds)."""
        settings = self.settings
        worst = 0
        try:
            for key in keys:
                count = await self.store.count_failure(key, settings.window_seconds)
                self._failing.add(key)
                worst = max(worst, count)
                if count == settings.block_after:
                    until = now + settings.window_seconds
                    await self.store.publish({"type": "block", "key": key, "until": until})
        except StoreUnavailable:
            _log.warning("failure counters unavailable; not counting this failure")
            return 0.0
        if worst < settings.slow_after:
            return 0.0
        steps = worst - settings.slow_after
        return float(min(settings.max_delay_seconds, settings.delay_seconds * 2**steps))

    async def succeeded(self, keys: list[str]) -> None:
        """Forget the failures of the client and user keys this replica saw failing."""
        for key in keys:
            if key in self._failing and not key.startswith("addr:"):
                self._failing.discard(key)
                try:
                    await self.store.clear_failures(key)
                except StoreUnavailable:
                    return

    def _on_event(self, event: Event) -> None:
        if event.get("type") == "block" and isinstance(event.get("key"), str):
            self._blocked[event["key"]] = float(event.get("until") or 0)


async def pause(seconds: float) -> None:
    """Hold a failed answer back (a coroutine so tests can see it is awaited)."""
    if seconds > 0:
        await asyncio.sleep(seconds)
