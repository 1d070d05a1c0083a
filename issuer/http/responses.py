"""JSON responses of the token endpoints: no caching (RFC 6749 §5.1) and error bodies (§5.2)."""

import json
from typing import Any

from aiohttp import web

from gatekey.issuer.errors import InvalidClient, OAuthError, TooManyAttempts

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response that no cache keeps."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=NO_STORE | (headers or {}),
    )


def error_response(error: OAuthError) -> web.Response:
    """The RFC 6749 §5.2 body and status; ``WWW-Authenticate: Basic`` after failed Basic auth."""
    headers = {}
    if isinstance(error, InvalidClient) and error.basic:
        headers["WWW-Authenticate"] = 'Basic realm="gatekey"'
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    return json_response(error.body(), error.status, headers)
