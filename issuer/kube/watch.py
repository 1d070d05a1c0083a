"""LIST then WATCH of labelled objects with aiohttp (Kubernetes API conventions).

Resumes from the last ``resourceVersion`` seen (bookmarks included), lists
again on ``410 Gone``, and backs off on errors; the caller keeps serving what
it has meanwhile. No blocking client runs on the event loop.

Events are read one line each (the API server's JSON watch stream) with a cap
far above any object the API server stores: a Secret may hold 1 MiB of data,
which is 1.4 MiB as base64 in an event, and etcd takes requests of up to
1.5 MiB, whose JSON can grow several times by string escaping. aiohttp's default
line limit (128 KiB high-water mark, raised as ``LineTooLong``, which is not a
``ClientError``) used to end every watch silently.
"""

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from gatekey.operator.kube.access import Access, AccessError

_log = logging.getLogger("gatekey.kube.watch")

PAGE = 500
WATCH_SECONDS = 290
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
MAX_EVENT_BYTES = 16 * 1024 * 1024
"""The longest watch event read: a 1.5 MiB object (etcd's request limit) with every
byte escaped as ``\\u00XX`` is 9 MiB of JSON; no accepted object comes near the cap."""

Listing = Callable[[str, str, list[dict[str, Any]]], None]
"""(namespace, resource, every object) after a complete list."""
Change = Callable[[str, str, str, dict[str, Any]], None]
"""(namespace, resource, ADDED|MODIFIED|DELETED, object) for each watch event."""


class Gone(Exception):
    """410: the resourceVersion is too old; list again."""


class WatchError(Exception):
    """An ``ERROR`` event other than 410, with the API server's message."""


@dataclass
class WatchState:
    """What ``/readyz`` reports about one watch."""

    synced: bool = False
    healthy: bool = False
    failures: int = 0
    """Consecutive failures; the backoff grows with them."""
    last_error: str = ""


class ObjectWatch:
    """Keeps one (namespace, resource) in step with the API server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        access: Access,
        namespace: str,
        resource: str,
        selector: str,
        on_list: Listing,
        on_change: Change,
        on_health: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = session
        self.access = access
        self.namespace = namespace
        self.resource = resource
        self.selector = selector
        self.on_list = on_list
        self.on_change = on_change
        self.on_health = on_health
        """Called after ``state.healthy`` changed."""
        self.state = WatchState()
        self.path = f"/api/v1/namespaces/{namespace}/{resource}"

    async def run(self) -> None:
        """List, watch, repeat; until cancelled."""
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                version, lines = await self._watch(version)
                self.state.failures = 0
                if not lines:
                    # A stream that ends at once, again and again (a proxy in the way),
                    # must not become a busy loop against the API server.
                    await asyncio.sleep(BACKOFF[0])
            except Gone:
                _log.info(
                    "%s/%s: resourceVersion expired; listing again", self.namespace, self.resource
                )
                version = None
            except Exception as exc:  # any failure: log, back off, retry
                self._healthy(False)
                delay = BACKOFF[min(self.state.failures, len(BACKOFF) - 1)]
                self.state.failures += 1
                self.state.last_error = _describe(exc)
                _log.warning(
                    "%s/%s: watch failed (%s); retrying in %.1f s",
                    self.namespace,
                    self.resource,
                    self.state.last_error,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        items: list[dict[str, Any]] = []
        params = {"labelSelector": self.selector, "limit": str(PAGE)}
        while True:
            credentials = await self.access.current()
            async with self.session.get(
                credentials.server + self.path,
                params=params,
                headers=credentials.headers(),
                ssl=credentials.ssl_context,
                server_hostname=credentials.tls_server_name,
            ) as response:
                self._check(response)
                page = await response.json()
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            if not metadata.get("continue"):
                break
            params = {**params, "continue": metadata["continue"]}
        self.on_list(self.namespace, self.resource, items)
        self.state.synced = True
        self._healthy(True)
        return str(metadata.get("resourceVersion") or "")

    async def _watch(self, version: str) -> tuple[str, int]:
        """Stream events from ``version``; the version reached and how many lines came."""
        params = {
            "watch": "1",
            "labelSelector": self.selector,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        if version:
            params["resourceVersion"] = version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        credentials = await self.access.current()
        async with self.session.get(
            credentials.server + self.path,
            params=params,
            headers=credentials.headers(),
            ssl=credentials.ssl_context,
            server_hostname=credentials.tls_server_name,
            timeout=timeout,
        ) as response:
            self._check(response)
            self._healthy(True)
            lines = 0
            while line := await response.content.readline(max_line_length=MAX_EVENT_BYTES):
                if not line.strip():
                    continue
                lines += 1
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone
                    raise WatchError(f"ERROR event: {obj.get('code')} {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.on_change(self.namespace, self.resource, kind, obj)
        return version, lines

    def _healthy(self, value: bool) -> None:
        if self.state.healthy != value:
            self.state.healthy = value
            self.on_health()

    def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 410:
            raise Gone
        if response.status == 401:
            # The token expired or rotated before the clock said so: load it again.
            self.access.invalidate()
        response.raise_for_status()


def _describe(exc: Exception) -> str:
    """What went wrong, without the payload: an exception's text may quote the event
    (``LineTooLong`` quotes its first bytes, and a Secret's data is in it)."""
    if isinstance(exc, LineTooLong):
        return f"a watch event longer than {MAX_EVENT_BYTES} bytes"
    if isinstance(exc, json.JSONDecodeError):
        return f"a watch event that is not JSON (at byte {exc.pos})"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    if isinstance(exc, WatchError | AccessError):
        return str(exc)
    return type(exc).__name__
