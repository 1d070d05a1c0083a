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


class _Counted(asyncio.Protocol):
    """aiohttp's request handler, counted from its creation to its connection's end.

    Counting here rather than in aiohttp's list of connections matters: several
    connections accepted in one loop iteration are created before any of them is
    registered there."""

    def __init__(self, handler: asyncio.Protocol, site: "BoundedSite") -> None:
        self._handler, self._site = handler, site
        site.open_connections += 1
        # Every packet goes straight to aiohttp: the transport looks the method up on
        # this object once, and a forwarding method would add a Python call per read.
        self.data_received = handler.data_received  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._handler.connection_made(transport)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._site.open_connections -= 1
        self._handler.connection_lost(exc)


class BoundedSite(web.BaseSite):
    """A TCP site that refuses connections beyond ``max_connections``."""

    __slots__ = ("_host", "_max_connections", "_port", "_reuse_port", "open_connections")

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
        self.open_connections = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if self.open_connections >= self._max_connections:
                return _Refuse()
            return _Counted(server(), self)

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, reuse_port=self._reuse_port or None
        )
