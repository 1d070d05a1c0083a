"""The frame every route runs in: HTTP-level refusals as JSON error bodies (RFC 6749
§5.2 shape), anything unexpected as a bare 500 that names nothing internal.

A wrapper per route rather than an aiohttp middleware: once an application has any
middleware, aiohttp runs every request through its own extra wrapper and a context
manager too, which cost more than the check itself on ``/authz``. Paths no route
serves, and methods a path does not take, reach :func:`not_found` and
:func:`method_not_allowed` through catch-all routes, so they answer in JSON as well.
"""

import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.errors import ServerError
from gatekey.issuer.http.responses import json_response

_log = logging.getLogger("gatekey.issuer")


def refusal(exc: web.HTTPException) -> web.Response:
    """aiohttp's refusal (404, 405, 413 ...) as a JSON error body, keeping ``Allow``."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    code = "invalid_request" if exc.status in (405, 413) else "not_found"
    return json_response({"error": code, "error_description": exc.reason}, exc.status, headers)


def failure(request: web.Request) -> web.Response:
    """The 500 of an unexpected exception, logged with its traceback (never the body)."""
    _log.exception("unexpected failure on %s %s", request.method, request.path)
    error = ServerError("the server could not complete the request")
    return json_response(error.body(), error.status)


def guarded(handler: Handler) -> Handler:
    """``handler`` with its refusals and failures answered in JSON."""

    async def guard(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return refusal(exc)
        except Exception:
            return failure(request)

    return guard


def method_not_allowed(methods: Iterable[str]) -> Handler:
    """405 with the ``Allow`` header of a path's methods (RFC 9110 §15.5.6)."""
    allowed = sorted(set(methods))

    async def handle(request: web.Request) -> web.StreamResponse:
        return refusal(web.HTTPMethodNotAllowed(request.method, allowed))

    return handle


async def not_found(request: web.Request) -> web.StreamResponse:
    """404 for a path no route serves."""
    return refusal(web.HTTPNotFound())
