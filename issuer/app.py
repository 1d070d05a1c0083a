"""``create_app``: the issuer's aiohttp application (the routes of docs/api.md)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.errors import ServerError
from gatekey.issuer.http.authz import authz_handler
from gatekey.issuer.http.discovery import jwks_handler
from gatekey.issuer.http.health import health_routes
from gatekey.issuer.http.introspection import introspection_handler
from gatekey.issuer.http.metadata import metadata_handler
from gatekey.issuer.http.openapi import openapi_document
from gatekey.issuer.http.regenerate import regenerate_handler
from gatekey.issuer.http.responses import json_response
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
    """The issuer's routes over ``runtime``; serve it with ``web.run_app`` or ``AppRunner``."""
    app = web.Application(
        client_max_size=runtime.settings.max_body_bytes, middlewares=[_json_errors]
    )
    app[RUNTIME_KEY] = runtime
    routes: list[web.RouteDef] = []
    for endpoint in ENDPOINTS:
        handler = token_handler(runtime, endpoint)
        routes += [web.post(endpoint.path, handler), web.get(endpoint.path, handler)]
        if endpoint.type == "JWT":
            routes.append(
                web.post(f"{endpoint.path}/{REGENERATE}", regenerate_handler(runtime, endpoint))
            )
    for base, management in MANAGEMENT_OF_BASE.items():
        routes += [
            web.post(f"{base}/{INTROSPECT}", introspection_handler(runtime, management)),
            web.post(f"{base}/{REVOKE}", revocation_handler(runtime, management)),
            web.get(f"{base}/.well-known/jwks.json", jwks_handler(runtime)),
        ]
        # RFC 8414 §3.1 inserts the well-known segment between host and path; the
        # appended form is kept for clients that build the URL that way.
        metadata = metadata_handler(runtime, base)
        routes += [
            web.get(f"{base}/.well-known/oauth-authorization-server", metadata),
            web.get(f"/.well-known/oauth-authorization-server{base}", metadata),
        ]
    authz = authz_handler(runtime)
    routes += [web.route("*", "/authz", authz), web.route("*", AUTHZ_SUBPATH, authz)]
    routes += health_routes(runtime)
    routes += [web.get("/metrics", _metrics(runtime)), web.get("/openapi.json", _openapi(runtime))]
    app.add_routes(routes)
    app.cleanup_ctx.append(_store_lifecycle)
    return app


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


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTTP-level refusals as JSON error bodies; anything unexpected is a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow",)}
        code = "invalid_request" if exc.status in (405, 413) else "not_found"
        return json_response({"error": code, "error_description": exc.reason}, exc.status, headers)
    except Exception:
        _log.exception("unexpected failure on %s %s", request.method, request.path)
        error = ServerError("the server could not complete the request")
        return json_response(error.body(), error.status)
