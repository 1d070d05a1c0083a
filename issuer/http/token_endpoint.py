"""The four token endpoints: ``/auth/jwt|token`` and ``/credential/jwt|token``.

RFC 6749 §3.2 (the endpoint), §5 (responses); docs/api.md. The handler reads the
request, authenticates the client, runs the grant and mints the tokens; the same
``client_credentials`` request granted before takes its remembered grant instead
(:mod:`gatekey.issuer.http.grant_cache`). Every outcome writes one audit line.
"""

from functools import partial

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.clients import authenticate, policy_for_url_parameters
from gatekey.issuer.clock import instant
from gatekey.issuer.domain import Client, Grant, GrantContext
from gatekey.issuer.dpop import InvalidProof
from gatekey.issuer.errors import InvalidDPoPProof, InvalidRequest, UnsupportedGrantType
from gatekey.issuer.grants import GRANTS
from gatekey.issuer.http.audited import admit, audited
from gatekey.issuer.http.client_auth import presented_client, prove_assertion
from gatekey.issuer.http.dpop import HEADER as DPOP_HEADER
from gatekey.issuer.http.dpop import checked, proof_of
from gatekey.issuer.http.form import parse_params
from gatekey.issuer.http.grant_cache import GrantCache, Remembered, request_key
from gatekey.issuer.http.requests import read_form_body
from gatekey.issuer.http.responses import json_response
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.tokens.mint import Minted
from gatekey.operator.model.vocabulary import Endpoint


def token_handler(runtime: Runtime, endpoint: Endpoint) -> Handler:
    """The aiohttp handler of ``endpoint``."""

    return audited(runtime, endpoint.path, partial(_issue, runtime, endpoint, GrantCache()))


async def _issue(
    runtime: Runtime,
    endpoint: Endpoint,
    grants: GrantCache,
    request: web.Request,
    entry: audit.AuditEntry,
) -> web.StreamResponse:
    authorization = request.headers.get("Authorization")
    key = None
    if request.method == "GET":
        snapshot = runtime.snapshots.current
        if (endpoint.management, endpoint.type) not in snapshot.url_parameters:
            raise web.HTTPMethodNotAllowed("GET", ["POST"])
        params = parse_params(request.query_string)
    else:
        body = await read_form_body(request, runtime.settings)
        # Read once the body is in: a body that came slowly, across a re-read of the
        # configuration, is decided under the configuration in force when it arrived.
        snapshot = runtime.snapshots.current
        if DPOP_HEADER not in request.headers:  # a proof is fresh on every request
            key = request_key(authorization, body)
            if snapshot is not grants.snapshot:
                grants.follow(snapshot)
            found = grants.table.get(key)
            if found is not None:
                now = runtime.clock()
                if now < found.until:
                    grant, ctx = _remembered(runtime, found, entry, snapshot, now)
                    minted = await runtime.minter.mint(grant, ctx, found.prepared)
                    return _issued(entry, found.scope, minted)
                grants.drop(key)
        params = parse_params(body)
    presented = presented_client(authorization, params)
    grant_type = params.get("grant_type")
    rules = GRANTS.get(grant_type) if grant_type is not None else None
    entry.client_id, entry.grant = presented.client_id, grant_type
    if rules is not None and rules.user_param is not None:
        entry.username = params.get(rules.user_param)
    admit(runtime, entry)
    now = runtime.clock()
    if presented.assertion is not None:  # awaited only when there is one: a call costs
        presented = await prove_assertion(
            runtime,
            presented,
            snapshot,
            now,
            management=endpoint.management,
            token_type=endpoint.type,
            path=endpoint.path,
        )
    at = instant(now)
    if request.method == "GET":
        policy = policy_for_url_parameters(snapshot, endpoint, presented.client_id, at)
        if policy is None or not policy.spec.allow_url_parameters:
            raise web.HTTPMethodNotAllowed("GET", ["POST"])
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if rules is None or rules.decide is None:
        raise UnsupportedGrantType(f"grant type {grant_type} is not supported")
    client = authenticate(snapshot, endpoint, presented, grant_type, at, params.get("resource"))
    entry.secret = client.secret
    proof = _proof(request, client)
    jkt = None if proof is None else await _proven_key(runtime, request, proof, now)
    # Made once, with the proven key: ``_replace`` would cost a second construction.
    ctx = GrantContext(snapshot, runtime.store, params, now, runtime.verify_password, jkt)
    grant = await rules.decide(client, ctx)
    if grant.jkt is None and ctx.dpop_jkt and client.policy.token.binding != "None":
        grant = grant._replace(jkt=ctx.dpop_jkt)
    entry.principal = grant.subject
    prepared = runtime.minter.prepare(grant)
    minted = await runtime.minter.mint(grant, ctx, prepared)
    if key is not None:
        grants.remember(key, grant, prepared, rules, now, snapshot)
    return _issued(entry, " ".join(grant.scope), minted)


def _remembered(
    runtime: Runtime, found: Remembered, entry: audit.AuditEntry, snapshot: Snapshot, now: float
) -> tuple[Grant, GrantContext]:
    """The grant of a request whose decision was remembered, and its context: the client
    and the grant are what the whole check decided; the throttle's blocks still apply."""
    grant = found.grant
    client = grant.client
    entry.client_id, entry.grant = client.client_id, grant.grant_type
    admit(runtime, entry)
    entry.secret, entry.principal = client.secret, grant.subject
    return grant, GrantContext(snapshot, runtime.store, {}, now, runtime.verify_password)


def _issued(entry: audit.AuditEntry, scope: str, minted: Minted) -> web.Response:
    """The token response (RFC 6749 §5.1), and what the audit line says of it."""
    entry.scope = scope
    entry.result = "issued"
    entry.jti = minted.jti
    return json_response(minted.body)


def _proof(request: web.Request, client: Client) -> str | None:
    """The request's DPoP proof (RFC 9449 §4.3), None without one, which a ``DPoPRequired``
    policy refuses."""
    try:
        proof = proof_of(request)
    except InvalidProof as exc:
        raise InvalidDPoPProof(str(exc)) from None
    if proof is None and client.policy.token.binding == "DPoPRequired":
        raise InvalidDPoPProof("this client's tokens need a DPoP proof (RFC 9449)")
    return proof


async def _proven_key(runtime: Runtime, request: web.Request, proof: str, now: float) -> str:
    """The key ``proof`` proves (RFC 9449 §5), checked whatever the policy says (a bound
    refresh token stays bound)."""
    # The URL the client may have written: the issuer's own, or what it connected to.
    urls = (
        runtime.settings.issuer_url.rstrip("/") + request.path,
        f"{request.scheme}://{request.host}{request.path}",
    )
    try:
        return (await checked(runtime.store, proof, method=request.method, urls=urls, now=now)).jkt
    except InvalidProof as exc:
        raise InvalidDPoPProof(str(exc)) from None
