"""The ceiling for bench/authz.py: the least work a forward-auth endpoint can do over aiohttp.

Any GET answers an empty 200 at once, served by aiohttp on uvloop like ``gatekey serve``
(no access log). Whatever ``/authz`` does beyond this is Gatekey's own cost.

Run: ``python bench/authz_ceiling.py --port 8081``; stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal

import uvloop
from aiohttp import web


async def nothing(request: web.Request) -> web.Response:
    return web.Response()


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.add_routes([web.get("/{tail:.*}", nothing)])
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
