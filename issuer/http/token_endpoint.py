"""The four token endpoints: ``/auth/jwt|token`` and ``/credential/jwt|token``.

RFC 6749 §3.2 (the endpoint), §5 (responses); DESIGN §4. The handler reads the
request, authenticates the client, runs the grant and mints the tokens; every
outcome writes one audit line.
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.clients import authenticate, policy_for_url_parameters
from gatekey.issuer.errors import InvalidRequest, UnsupportedGrantType
from gatekey.issuer.grants import GRANTS
from gatekey.issuer.grants.context import Endpoint, GrantContext
from gatekey.issuer.http.audited import admit, audited
from gatekey.issuer.http.client_auth import presented_client
from gatekey.issuer.http.form import parse_params
from gatekey.issuer.http.requests import read_form
from gatekey.issuer.http.responses import json_response
from gatekey.issuer.runtime import Runtime


def token_handler(runtime: Runtime, endpoint: Endpoint) -> Handler:
    """The aiohttp handler of ``endpoint``."""

    async def work(request: web.Request, entry: audit.AuditEntry) -> web.StreamResponse:
        return await _issue(runtime, endpoint, request, entry)

    return audited(runtime, endpoint.path, work)


async def _issue(
    runtime: Runtime, endpoint: Endpoint, request: web.Request, entry: audit.AuditEntry
) -> web.StreamResponse:
    snapshot = runtime.snapshots.current
    if request.method == "GET":
        if (endpoint.management, endpoint.type) not in snapshot.url_parameters:
            raise web.HTTPMethodNotAllowed("GET", ["POST"])
        params = parse_params(request.query_string)
    else:
        params = await read_form(request, runtime.settings.max_body_bytes)
    presented = presented_client(request.headers.get("Authorization"), params)
    grant_type = params.get("grant_type")
    entry.client_id, entry.grant = presented.client_id, grant_type
    if grant_type == "password":
        entry.username = params.get("username")
    admit(runtime, entry)
    now = runtime.clock()
    ctx = GrantContext(snapshot, runtime.store, params, now, runtime.verify_password)
    if request.method == "GET":
        policy = policy_for_url_parameters(snapshot, endpoint, presented.client_id, ctx.instant)
        if policy is None or not policy.spec.allow_url_parameters:
            raise web.HTTPMethodNotAllowed("GET", ["POST"])
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    decide = GRANTS.get(grant_type)
    if decide is None:
        raise UnsupportedGrantType(f"grant type {grant_type} is not supported")
    client = authenticate(
        snapshot, endpoint, presented, grant_type, ctx.instant, params.get("resource")
    )
    entry.secret = client.secret
    grant = await decide(client, ctx)
    entry.principal = grant.subject
    minted = await runtime.minter.mint(grant, ctx)
    entry.scope = " ".join(grant.scope)
    entry.result = "issued"
    entry.jti = minted.jti
    return json_response(minted.body)
