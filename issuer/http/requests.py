"""Reading requests: the form body within its size limit, and the client it authenticates."""

from aiohttp import web

from gatekey.issuer.clients import Presented
from gatekey.issuer.errors import InvalidRequest
from gatekey.issuer.http.client_auth import presented_client
from gatekey.issuer.http.form import is_form, parse_params


async def read_form(request: web.Request, limit: int) -> dict[str, str]:
    """The parameters of a form POST; 400 ``invalid_request`` for any other body, 413 if too big."""
    if not is_form(request.headers.get("Content-Type", "")):
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
    return parse_params(await request.read())


async def read_client_form(request: web.Request, limit: int) -> tuple[dict[str, str], Presented]:
    """The form parameters and the client credentials they (or a Basic header) carry."""
    params = await read_form(request, limit)
    return params, presented_client(request.headers.get("Authorization"), params)
