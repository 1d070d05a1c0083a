"""One pass at a time per namespace; requests that arrive meanwhile share the next pass.

kopf calls a handler per object, concurrently. Rendering is per namespace, so a
burst of N changes would otherwise render the namespace N times (quadratic).
Here a request waits for a pass that *starts after it was made* (so it sees the
change that caused it), and every request waiting at that moment gets the same
pass. This is the work queue of client-go controllers, keyed by namespace.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")
_log = logging.getLogger("gatekey.operator")


class Coalescer(Generic[R]):
    """Runs ``run(key)`` passes: serialised per key, shared by concurrent requests."""

    def __init__(
        self,
        run: Callable[[str], Awaitable[R]],
        *,
        debounce: float,
        backoff: Sequence[float],
        failed: Callable[[R], bool] = lambda _result: False,
    ) -> None:
        self._run = run
        self._debounce = debounce
        self._backoff = tuple(backoff) or (1.0,)
        self._failed = failed
        self._pending: dict[str, asyncio.Future[R]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}

    async def request(self, key: str) -> R:
        """The result of a pass over ``key`` that started after this call."""
        return await asyncio.shield(self._schedule(key))

    def poke(self, key: str) -> None:
        """Schedule a pass over ``key`` without waiting for it."""
        self._schedule(key)

    def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        for task in self._workers.values():
            task.cancel()

    def _schedule(self, key: str) -> asyncio.Future[R]:
        future = self._pending.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # A poke nobody awaits must not log "exception never retrieved".
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._pending[key] = future
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"gatekey-pass-{key}")
        return future

    async def _work(self, key: str) -> None:
        try:
            while key in self._pending:
                if self._debounce:
                    await asyncio.sleep(self._debounce)
                future = self._pending.pop(key)
                try:
                    result = await self._run(key)
                except Exception as exc:  # a failed pass is retried, and reported to waiters
                    _log.warning("pass over namespace %s failed: %s", key, exc)
                    self._retry_later(key)
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if self._failed(result):
                    self._retry_later(key)
                else:
                    self._failures.pop(key, None)
                if not future.done():
                    future.set_result(result)
        finally:
            # No await between the loop's last check and this: a request in between
            # finds the worker gone and starts a new one.
            self._workers.pop(key, None)

    def _retry_later(self, key: str) -> None:
        count = self._failures.get(key, 0)
        self._failures[key] = count + 1
        delay = self._backoff[min(count, len(self._backoff) - 1)]
        earlier = self._retries.pop(key, None)
        if earlier is not None:
            earlier.cancel()
        loop = asyncio.get_running_loop()
        self._retries[key] = loop.call_later(delay, self._retry, key)

    def _retry(self, key: str) -> None:
        self._retries.pop(key, None)
        self.poke(key)
