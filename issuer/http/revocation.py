"""Token revocation, RFC 7009, at ``/auth/revoke`` and ``/credential/revoke``.

An opaque access token is revoked; a refresh token takes its whole chain with
it (the JWT access tokens minted in it included); a JWT's ``jti`` goes on the deny
list until its ``exp``. Unknown and invalid tokens get 200 (RFC 7009 §2.2); a token
of another client is refused (§2.1); a store failure is 503, never a false success.
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.clients import authenticated_caller
from gatekey.issuer.clock import instant
from gatekey.issuer.errors import InvalidRequest, UnauthorizedClient
from gatekey.issuer.grants.refresh_token import revoke_chain
from gatekey.issuer.http.audited import admit, audited
from gatekey.issuer.http.client_auth import prove_assertion
from gatekey.issuer.http.requests import read_client_form
from gatekey.issuer.http.responses import json_response
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.store.base import token_digest
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX, REFRESH_PREFIX
from gatekey.issuer.verification import InvalidToken
from gatekey.operator.model.vocabulary import BASES, REVOKE, Management


def revocation_handler(runtime: Runtime, management: Management) -> Handler:
    """The RFC 7009 endpoint of ``management`` mode."""
    path = f"{BASES[management]}/{REVOKE}"

    async def work(request: web.Request, entry: audit.AuditEntry) -> web.StreamResponse:
        params, presented = await read_client_form(request, runtime.settings)
        entry.client_id = presented.client_id
        admit(runtime, entry)
        snapshot, now = runtime.snapshots.current, runtime.clock()
        presented = await prove_assertion(
            runtime, presented, snapshot, now, management=management, token_type=None, path=path
        )
        caller, entry.secret = authenticated_caller(snapshot, management, presented, instant(now))
        token = params.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        entry.result = await _revoke(runtime, token, caller)
        return json_response({})

    async def _revoke(runtime: Runtime, token: str, caller: str) -> str:
        store = runtime.store
        if token.startswith((ACCESS_PREFIX, REFRESH_PREFIX)):
            record = await store.get(token_digest(token))
            if record is None:
                return "unknown"
            if record.client_id != caller:
                raise UnauthorizedClient("the token was issued to another client")
            if record.kind == "refresh":  # with the JWTs minted in its chain (§2.1)
                await revoke_chain(store, record.chain_id)
            else:
                await store.revoke(record.digest)
            return "revoked"
        try:
            verified = runtime.verifier.decode(token, runtime.snapshots.current)
        except InvalidToken:
            return "unknown"
        if verified.client_id != caller:
            raise UnauthorizedClient("the token was issued to another client")
        if verified.jti is not None:
            await runtime.revoke_jwt(verified.jti, verified.expires_at)
        runtime.verifier.forget(token)
        return "revoked"

    return audited(runtime, path, work)
