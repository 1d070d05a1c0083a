"""A small asynchronous client of the Kubernetes REST API (aiohttp), for the operator's writes.

kopf watches and patches its own bookkeeping; the Secrets, ConfigMaps, statuses
and Events that reconciliation produces go through here, on the event loop,
without the synchronous ``kubernetes`` client. Credentials come from the same
``kopf.ConnectionInfo`` kopf logs in with. Writes use the conventions of
https://kubernetes.io/docs/reference/using-api/api-concepts/: POST to create,
``application/merge-patch+json`` (RFC 7386) to change, DELETE with a ``uid``
precondition so that a re-created object of the same name is never removed.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import kopf

from gatekey.operator.kube.resources import Resource

Login = Callable[[], Awaitable[kopf.ConnectionInfo]]
Body = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A failed request: the HTTP status and the API server's ``Status`` reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: AlreadyExists on create, or a failed precondition."""
        return self.status == 409


class KubeApi:
    """Create, patch and delete namespaced objects; at most ``concurrency`` requests at once."""

    def __init__(self, login: Login, *, concurrency: int = 16, timeout: float = 30.0) -> None:
        self._login = login
        self._limit = asyncio.Semaphore(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._connecting = asyncio.Lock()

    async def create(self, resource: Resource, namespace: str, body: Mapping[str, Any]) -> Body:
        """POST a new object; ApiError 409 if the name is taken."""
        return await self._request("POST", resource.path(namespace), body)

    async def merge_patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Body:
        """PATCH with a JSON merge patch (``null`` removes a key)."""
        path = resource.path(namespace, name, subresource)
        return await self._request("PATCH", path, patch, content_type=MERGE_PATCH)

    async def delete(
        self, resource: Resource, namespace: str, name: str, *, uid: str | None = None
    ) -> None:
        """DELETE, only if the object still has ``uid`` (a precondition, 409 otherwise)."""
        options: Body = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        await self._request("DELETE", resource.path(namespace, name), options)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        content_type: str = "application/json",
    ) -> Body:
        session = await self._connect()
        async with (
            self._limit,
            session.request(
                method,
                self._server + path,
                data=json.dumps(body),
                headers={"Content-Type": content_type, "Accept": "application/json"},
            ) as response,
        ):
            text = await response.text()
            if response.status == 401:
                # Expired credentials: log in again on the next request.
                await self.close()
            if response.status >= 400:
                raise _error(response.status, text)
            loaded = json.loads(text) if text else {}
            return loaded if isinstance(loaded, dict) else {}

    async def _connect(self) -> aiohttp.ClientSession:
        async with self._connecting:
            if self._session is None:
                info = await self._login()
                auth = (
                    aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
                )
                headers = {"User-Agent": "gatekey-operator"}
                if info.token:
                    headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
                    headers=headers,
                    auth=auth,
                    timeout=self._timeout,
                    proxy=info.proxy_url,
                    trust_env=info.trust_env,
                )
                self._server = info.server.rstrip("/")
            return self._session


def _error(status: int, text: str) -> ApiError:
    try:
        loaded = json.loads(text)
    except ValueError:
        loaded = None
    if isinstance(loaded, dict):
        return ApiError(status, str(loaded.get("reason", "")), str(loaded.get("message", "")))
    return ApiError(status, "", text[:200])
