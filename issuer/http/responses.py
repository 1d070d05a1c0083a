"""JSON responses of the token endpoints: no caching (RFC 6749 §5.1) and error bodies (§5.2).

Every 401 carries a ``WWW-Authenticate`` challenge (RFC 9110 §15.5.2): ``Basic`` for
client authentication (RFC 6749 §2.3.1, whether the client used Basic or the body),
``Bearer`` with the RFC 6750 §3 error code for a bad Bearer token.
"""

import re
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gatekey.issuer.errors import BearerError, InvalidClient, OAuthError, TooManyAttempts

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_JSON_NO_STORE = CIMultiDict({"Content-Type": "application/json", **NO_STORE})
"""Built once: aiohttp copies a ``CIMultiDict`` in C, where a dict and ``content_type``
cost a parse and a few header writes per response."""
REALM = "gatekey"
BASIC_CHALLENGE = f'Basic realm="{REALM}"'

_NOT_QUOTABLE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
"""Characters RFC 6750 §3 does not allow in ``error_description`` (quote, backslash, controls)."""


def bearer_challenge(
    error: str | None = None, description: str | None = None, *, scope: str | None = None
) -> str:
    """``Bearer realm="gatekey"``, with ``error`` and ``error_description`` when given
    (RFC 6750 §3; a request without any token gets the bare challenge, §3.1), and the
    ``scope`` an ``insufficient_scope`` refusal asks for."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
        if description:
            challenge += f', error_description="{_NOT_QUOTABLE.sub("?", description)}"'
        if scope:
            challenge += f', scope="{_NOT_QUOTABLE.sub("?", scope)}"'
    return challenge


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response that no cache keeps (orjson: UTF-8, RFC 8259 §8.1)."""
    if headers:
        more = _JSON_NO_STORE.copy()
        more.update(headers)
        return web.Response(body=orjson.dumps(body), status=status, headers=more)
    return web.Response(body=orjson.dumps(body), status=status, headers=_JSON_NO_STORE)


def error_response(error: OAuthError) -> web.Response:
    """The RFC 6749 §5.2 body and status, with the challenge a 401 or 403 needs."""
    headers = {}
    if isinstance(error, InvalidClient):
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    elif isinstance(error, BearerError):
        headers["WWW-Authenticate"] = bearer_challenge(error.error, error.description)
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    response = json_response(error.body(), error.status, headers)
    if error.status == 408:
        response.force_close()  # a client too slow to send its body gets no second try here
    return response
