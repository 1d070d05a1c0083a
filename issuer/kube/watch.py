"""LIST then WATCH of labelled objects with aiohttp (Kubernetes API conventions).

Resumes from the last ``resourceVersion`` seen (bookmarks included), lists
again on ``410 Gone``, and backs off on errors; the caller keeps serving what
it has meanwhile. No blocking client runs on the event loop.
"""

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gatekey.issuer.kube.access import ApiAccess

_log = logging.getLogger("gatekey.kube.watch")

PAGE = 500
WATCH_SECONDS = 290
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

Listing = Callable[[str, str, list[dict[str, Any]]], None]
"""(namespace, resource, every object) after a complete list."""
Change = Callable[[str, str, str, dict[str, Any]], None]
"""(namespace, resource, ADDED|MODIFIED|DELETED, object) for each watch event."""


class Gone(Exception):
    """410: the resourceVersion is too old; list again."""


@dataclass
class WatchState:
    """What ``/readyz`` reports about one watch."""

    synced: bool = False
    healthy: bool = False
    failures: int = 0


class ObjectWatch:
    """Keeps one (namespace, resource) in step with the API server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        access: ApiAccess,
        namespace: str,
        resource: str,
        selector: str,
        on_list: Listing,
        on_change: Change,
    ) -> None:
        self.session = session
        self.access = access
        self.namespace = namespace
        self.resource = resource
        self.selector = selector
        self.on_list = on_list
        self.on_change = on_change
        self.state = WatchState()
        self.url = f"{access.server}/api/v1/namespaces/{namespace}/{resource}"

    async def run(self) -> None:
        """List, watch, repeat; until cancelled."""
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                version = await self._watch(version)
                self.state.failures = 0
            except Gone:
                _log.info(
                    "%s/%s: resourceVersion expired; listing again", self.namespace, self.resource
                )
                version = None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.state.healthy = False
                delay = BACKOFF[min(self.state.failures, len(BACKOFF) - 1)]
                self.state.failures += 1
                _log.warning(
                    "%s/%s: %s; retrying in %.1f s",
                    self.namespace,
                    self.resource,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        items: list[dict[str, Any]] = []
        params = {"labelSelector": self.selector, "limit": str(PAGE)}
        while True:
            async with self.session.get(
                self.url, params=params, headers=self.access.headers(), ssl=self.access.ssl_context
            ) as response:
                if response.status == 410:
                    raise Gone
                response.raise_for_status()
                page = await response.json()
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            if not metadata.get("continue"):
                break
            params = {**params, "continue": metadata["continue"]}
        self.on_list(self.namespace, self.resource, items)
        self.state.synced = self.state.healthy = True
        return str(metadata.get("resourceVersion") or "")

    async def _watch(self, version: str) -> str:
        params = {
            "watch": "1",
            "labelSelector": self.selector,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        if version:
            params["resourceVersion"] = version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        async with self.session.get(
            self.url,
            params=params,
            headers=self.access.headers(),
            ssl=self.access.ssl_context,
            timeout=timeout,
        ) as response:
            if response.status == 410:
                raise Gone
            response.raise_for_status()
            self.state.healthy = True
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone
                    raise ValueError(f"watch error: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.on_change(self.namespace, self.resource, kind, obj)
        return version
