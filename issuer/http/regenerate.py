"""``/auth/jwt/regenerate`` and ``/credential/jwt/regenerate``: a new JWT for a still-valid one.

The JWT comes as ``Authorization: Bearer``; the client credentials of the same
client in the form body, the real secret (never the seed's ``-``: a stolen JWT
must not be renewable forever) or a ``private_key_jwt`` assertion (RFC 7523 §2.2).
The decision is :mod:`gatekey.issuer.grants.regenerate`'s;
the new token has a new ``jti`` and fresh ``iat``/``exp``; the old one is denied.

The Bearer token is answered as a protected resource would (RFC 6750 §3): none is a
401 with a bare ``Bearer`` challenge, an expired, revoked or malformed one 401
``invalid_token``, one whose targets the client no longer reaches 403
``insufficient_scope``. A valid token that cannot be continued (another client's, or
its user left the pool) is the grant's 400 ``invalid_grant``.
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.clients import authenticate
from gatekey.issuer.domain import GrantContext
from gatekey.issuer.errors import InsufficientScope, InvalidBearerToken, TargetsUnreached
from gatekey.issuer.grants import regenerate
from gatekey.issuer.http.audited import admit, audited
from gatekey.issuer.http.client_auth import prove_assertion
from gatekey.issuer.http.requests import read_client_form
from gatekey.issuer.http.responses import bearer_challenge, json_response
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.verification import InvalidToken
from gatekey.operator.model.vocabulary import REGENERATE, Endpoint


def regenerate_handler(runtime: Runtime, endpoint: Endpoint) -> Handler:
    """Regeneration for the JWT ``endpoint``."""

    path = f"{endpoint.path}/{REGENERATE}"

    async def work(request: web.Request, entry: audit.AuditEntry) -> web.StreamResponse:
        params, presented = await read_client_form(request, runtime.settings)
        entry.client_id, entry.grant = presented.client_id, regenerate.RULES.name
        admit(runtime, entry)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            entry.error = "invalid_request"
            return json_response(
                {
                    "error": "invalid_request",
                    "error_description": "the JWT to regenerate goes in Authorization: Bearer",
                },
                401,
                {"WWW-Authenticate": bearer_challenge()},
            )
        snapshot, now = runtime.snapshots.current, runtime.clock()
        ctx = GrantContext(snapshot, runtime.store, params, now, runtime.verify_password)
        presented = await prove_assertion(
            runtime,
            presented,
            snapshot,
            now,
            management=endpoint.management,
            token_type=endpoint.type,
            path=path,
        )
        client = authenticate(snapshot, endpoint, presented, regenerate.RULES.name, ctx.instant)
        entry.secret = client.secret
        try:
            old = await runtime.verifier.verify(token.strip(), snapshot, now)
        except InvalidToken as exc:
            raise InvalidBearerToken(f"the token cannot be regenerated: {exc}") from None
        try:
            grant = regenerate.decide(client, ctx, old)
        except TargetsUnreached as exc:
            raise InsufficientScope(exc.description) from None
        minter = runtime.minter
        prepared = minter.prepare(grant, refresh=regenerate.RULES.issues_refresh)
        minted = await minter.mint(grant, ctx, prepared)
        if old.jti is not None:
            await runtime.revoke_jwt(old.jti, old.expires_at)
        entry.principal, entry.scope, entry.jti = grant.subject, " ".join(grant.scope), minted.jti
        entry.result = "issued"
        return json_response(minted.body)

    return audited(runtime, path, work)
