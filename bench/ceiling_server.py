"""The ceilings for the wrk benchmarks: the least work an endpoint can do over aiohttp.

Served by aiohttp on uvloop like ``gatekey serve`` (no access log), with one of two
handlers; whatever Gatekey does beyond it is Gatekey's own cost:

* ``--form``, for bench/issuance.py: ``POST /token`` reads the body, parses it as
  application/x-www-form-urlencoded and answers a small JSON object, the least a
  token endpoint can do;
* ``--nothing``, for bench/authz.py: any GET answers an empty 200 at once, the least a
  forward-auth endpoint can do.

Run: ``python bench/ceiling_server.py --form --port 8081``; stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
from urllib.parse import parse_qsl

import uvloop
from aiohttp import web


async def parse_form(request: web.Request) -> web.Response:
    params = dict(parse_qsl((await request.read()).decode()))
    return web.json_response({"ok": True, "grant_type": params.get("grant_type")})


async def nothing(request: web.Request) -> web.Response:
    return web.Response()


ROUTES = {
    "form": web.post("/token", parse_form),
    "nothing": web.get("/{tail:.*}", nothing),
}
"""The route each handler flag serves."""


async def serve(host: str, port: int, route: web.RouteDef) -> None:
    app = web.Application()
    app.add_routes([route])
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
    handler = parser.add_mutually_exclusive_group(required=True)
    handler.add_argument(
        "--form",
        dest="handler",
        action="store_const",
        const="form",
        help="POST /token: parse a form body, answer JSON (bench/issuance.py)",
    )
    handler.add_argument(
        "--nothing",
        dest="handler",
        action="store_const",
        const="nothing",
        help="any GET: an empty 200 (bench/authz.py)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, ROUTES[args.handler]))


if __name__ == "__main__":
    main()
