"""Token introspection, RFC 7662, at ``/auth/introspect`` and ``/credential/introspect``.

The caller authenticates as a client; it learns about its own tokens only: any
other token, unknown, expired, revoked or tampered, is ``{"active": false}``.
"""

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.clients import authenticated_caller
from gatekey.issuer.clock import instant
from gatekey.issuer.errors import InvalidRequest
from gatekey.issuer.http.audited import admit, audited
from gatekey.issuer.http.client_auth import prove_assertion
from gatekey.issuer.http.requests import read_client_form
from gatekey.issuer.http.responses import json_response
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import TokenRecord, token_digest
from gatekey.issuer.tokens.opaque import REFRESH_PREFIX
from gatekey.issuer.verification import InvalidToken, Verified, verified_record
from gatekey.operator.model.vocabulary import BASES, INTROSPECT, Management

INACTIVE = {"active": False}


def introspection_handler(runtime: Runtime, management: Management) -> Handler:
    """The RFC 7662 endpoint of ``management`` mode."""
    path = f"{BASES[management]}/{INTROSPECT}"

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
        if token.startswith(REFRESH_PREFIX):
            record = await runtime.store.get(token_digest(token))
            body = _refresh(record, caller, snapshot, now, runtime)
        else:
            try:
                verified = await runtime.verifier.verify(token, snapshot, now)
            except InvalidToken:
                verified = None
            body = _active(verified) if verified and verified.client_id == caller else INACTIVE
        entry.result = "active" if body.get("active") else "inactive"
        return json_response(body)

    return audited(runtime, path, work)


def _refresh(
    record: TokenRecord | None, caller: str, snapshot: Snapshot, now: float, runtime: Runtime
) -> dict[str, Any]:
    """A refresh token is active while unused, unrevoked and inside its window."""
    if record is None or record.kind != "refresh" or record.client_id != caller:
        return INACTIVE
    if record.used or not record.live(now):
        return INACTIVE
    verified = verified_record(record, runtime.minter.issuer_url, snapshot)
    if verified.namespace != snapshot.client_namespace(caller):
        return INACTIVE
    body = _active(verified)
    body["token_type"] = "refresh_token"
    return body


def _active(token: Verified) -> dict[str, Any]:
    """RFC 7662 §2.2 members; ``scope`` only when something was granted (an empty
    string would read as a scope list with one empty value)."""
    body: dict[str, Any] = {
        "active": True,
        "client_id": token.client_id,
        "token_type": "Bearer",
        "iat": token.issued_at,
        "sub": token.subject,
        "aud": list(token.audience),
        "iss": token.issuer,
    }
    if token.scope:
        body["scope"] = " ".join(token.scope)
    if token.username is not None:
        body["username"] = token.username
    if token.expires_at is not None:
        body["exp"] = token.expires_at
    if token.jti is not None:
        body["jti"] = token.jti
    return body
