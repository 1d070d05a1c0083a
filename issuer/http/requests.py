"""Reading requests: the form body within its size and time limits, and the client it
authenticates.

Parameters travel in an ``application/x-www-form-urlencoded`` body (RFC 6749 §3.2).
URL parameters are accepted only by ``GET`` on the four token endpoints, and only for
a policy with ``allowUrlParameters``; everywhere else they are refused, so that a
client never believes a parameter was read when it was not.
"""

import asyncio

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gatekey.issuer.clients import Presented
from gatekey.issuer.errors import InvalidRequest, RequestTimeout
from gatekey.issuer.http.client_auth import presented_client
from gatekey.issuer.http.form import is_form, parse_params
from gatekey.issuer.settings import IssuerSettings

URL_PARAMETERS = (
    "URL parameters are not accepted on POST: send them in an "
    "application/x-www-form-urlencoded body (only GET on /auth|/credential /jwt and /token, "
    "for a policy with allowUrlParameters, reads the query string)"
)


async def read_form(request: web.Request, settings: IssuerSettings) -> dict[str, str]:
    """The parameters of a form POST: 400 ``invalid_request`` for any other body or for
    URL parameters, 413 if too big, 408 if the body does not arrive in time."""
    return parse_params(await read_form_body(request, settings))


async def read_form_body(request: web.Request, settings: IssuerSettings) -> bytes:
    """The body of a form POST, unparsed, with :func:`read_form`'s checks and refusals."""
    if "?" in request.raw_path and request.query_string:  # the raw target first: cheaper
        raise InvalidRequest(URL_PARAMETERS)
    if not is_form(request.headers.get("Content-Type", "")):
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    limit = settings.max_body_bytes
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
    content = request.content
    try:
        if content.is_eof():
            # The whole body came with the head (a token request usually fits one
            # packet): take what is buffered, with no timer armed and no read loop (they
            # cost more than the body). aiohttp's own size check is ``read()``'s, so it
            # is made here.
            body = content.read_nowait()
            if len(body) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        else:
            async with asyncio.timeout(settings.body_timeout):
                body = await request.read()
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {settings.body_timeout:g} s"
        ) from None
    except (web.RequestPayloadError, HttpProcessingError):
        # aiohttp inflates a ``Content-Encoding: gzip`` or ``deflate`` body itself and
        # fails the read when it cannot: the client's bad input, not the server's fault.
        raise InvalidRequest("the body could not be decoded (Content-Encoding)") from None
    return body


async def read_client_form(
    request: web.Request, settings: IssuerSettings
) -> tuple[dict[str, str], Presented]:
    """The form parameters and the client credentials they (or a Basic header) carry."""
    params = await read_form(request, settings)
    return params, presented_client(request.headers.get("Authorization"), params)
