"""``create_app``: the issuer's aiohttp application (the routes of docs/api.md)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gatekey.issuer.http.authz import authz_handler
from gatekey.issuer.http.discovery import jwks_handler
from gatekey.issuer.http.guard import guarded, method_not_allowed, not_found
from gatekey.issuer.http.health import health_routes
from gatekey.issuer.http.introspection import introspection_handler
from gatekey.issuer.http.metadata import metadata_handler
from gatekey.issuer.http.openapi import openapi_document
from gatekey.issuer.http.regenerate import regenerate_handler
from gatekey.issuer.http.revocation import revocation_handler
from gatekey.issuer.http.token_endpoint import token_handler
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.store.base import StoreUnavailable
from gatekey.operator.model.vocabulary import (
    ENDPOINTS,
    INTROSPECT,
    MANAGEMENT_OF_BASE,
    REGENERATE,
    REVOKE,
)

_log = logging.getLogger("gatekey.issuer")

RUNTIME_KEY = web.AppKey("runtime", Runtime)

AUTHZ_SUBPATH = r"/authz/{tail:[\s\S]*}"
"""Any sub-path, even with a newline in it: Envoy appends the original request path."""


def create_app(runtime: Runtime) -> web.Application:
    """The issuer's routes over ``runtime``; serve it with ``web.run_app`` or ``AppRunner``.

    The OAuth endpoints answer their own errors (:func:`audited`); every other route is
    :func:`guarded`. After them, each path answers 405 to the methods it does not take,
    and any other path 404, in JSON."""
    app = web.Application(client_max_size=runtime.settings.max_body_bytes)
    app[RUNTIME_KEY] = runtime
    routes: list[web.RouteDef] = []  # audited: they guard themselves
    for endpoint in ENDPOINTS:
        handler = token_handler(runtime, endpoint)
        # Not HEAD: it would mint (and store) tokens that no one receives.
        routes += [
            web.post(endpoint.path, handler),
            web.get(endpoint.path, handler, allow_head=False),
        ]
        if endpoint.type == "JWT":
            routes.append(
                web.post(f"{endpoint.path}/{REGENERATE}", regenerate_handler(runtime, endpoint))
            )
    others: list[web.RouteDef] = []
    for base, management in MANAGEMENT_OF_BASE.items():
        routes += [
            web.post(f"{base}/{INTROSPECT}", introspection_handler(runtime, management)),
            web.post(f"{base}/{REVOKE}", revocation_handler(runtime, management)),
        ]
        others.append(web.get(f"{base}/.well-known/jwks.json", jwks_handler(runtime)))
        # RFC 8414 §3.1 inserts the well-known segment between host and path; the
        # appended form is kept for clients that build the URL that way.
        metadata = metadata_handler(runtime, base)
        others += [
            web.get(f"{base}/.well-known/oauth-authorization-server", metadata),
            web.get(f"/.well-known/oauth-authorization-server{base}", metadata),
        ]
    authz = authz_handler(runtime)
    others += [web.route("*", "/authz", authz), web.route("*", AUTHZ_SUBPATH, authz)]
    others += health_routes(runtime)
    others += [web.get("/metrics", _metrics(runtime)), web.get("/openapi.json", _openapi(runtime))]
    routes += [web.route(r.method, r.path, guarded(r.handler), **r.kwargs) for r in others]
    app.add_routes(routes + _refusals(routes))
    app.cleanup_ctx.append(_store_lifecycle)
    return app


def _refusals(routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """A 405 route behind each path's own (aiohttp tries a path's routes in order), and a
    404 route for every other path."""
    methods: dict[str, set[str]] = {}
    for route in routes:
        taken = methods.setdefault(route.path, set())
        taken.add(route.method)
        # aiohttp's ``web.get`` answers HEAD too, unless told not to.
        if route.method == hdrs.METH_GET and route.kwargs.get("allow_head", True):
            taken.add(hdrs.METH_HEAD)
    refusals = [
        web.route(hdrs.METH_ANY, path, method_not_allowed(taken))
        for path, taken in methods.items()
        if hdrs.METH_ANY not in taken
    ]
    return [*refusals, web.route(hdrs.METH_ANY, "/{tail:.*}", not_found)]


def _metrics(runtime: Runtime) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=runtime.metrics.exposition(),
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    return handle


def _openapi(runtime: Runtime) -> Handler:
    document = openapi_document(runtime.settings.issuer_url)

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    return handle


async def _store_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Load the deny list and the blocks, listen to the other replicas while serving,
    close at the end."""
    runtime = app[RUNTIME_KEY]
    listener = asyncio.create_task(runtime.store.run())
    try:
        await runtime.load_deny_list()
        await runtime.throttle.load(runtime.clock())
    except StoreUnavailable:
        _log.warning("token store unavailable at start-up; deny list and blocks start empty")
    yield
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await runtime.store.close()
