"""The ceiling for bench/issuance.py: the least work a token endpoint can do over aiohttp.

One POST route that reads the body, parses it as application/x-www-form-urlencoded
and answers a small JSON object, served by aiohttp on uvloop like ``gatekey serve``
(no access log). Whatever the issuer does beyond this is Gatekey's own cost.

Run: ``python bench/ceiling_server.py --port 8081``; stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
from urllib.parse import parse_qsl

import uvloop
from aiohttp import web


async def token(request: web.Request) -> web.Response:
    params = dict(parse_qsl((await request.read()).decode()))
    return web.json_response({"ok": True, "grant_type": params.get("grant_type")})


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.add_routes([web.post("/token", token)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
