"""The listening socket, with a bound on open connections.

aiohttp's ``TCPSite`` accepts every connection. Past ``max_connections`` this site
answers ``503`` with ``Connection: close`` at once and never starts a request
handler, so that a flood of idle or slow connections cannot take every file
descriptor (a slow one is closed after the header timeout; see ``serve``).
"""

import asyncio
import json
from typing import cast

from aiohttp import web

_BODY = json.dumps(
    {"error": "temporarily_unavailable", "error_description": "too many open connections"}
).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Cache-Control: no-store\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class _Refuse(asyncio.Protocol):
    """Answers 503 and closes, whatever the client sends."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio subclass
        stream.write(REFUSAL)
        stream.close()


class BoundedSite(web.BaseSite):
    """A TCP site that refuses connections beyond ``max_connections``."""

    __slots__ = ("_host", "_max_connections", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        reuse_port: bool = False,
        shutdown_timeout: float = 60.0,
    ) -> None:
        super().__init__(runner, shutdown_timeout=shutdown_timeout)
        self._host, self._port = host, port
        self._max_connections = max_connections
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limit = self._max_connections

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= limit:
                return _Refuse()
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, reuse_port=self._reuse_port or None
        )
