"""``/authz``: forward authentication for the proxy in front of an API.

nginx ``auth_request``, Envoy ``ext_authz`` (HTTP service; any method, any
sub-path, since Envoy appends the original path) and Traefik ``ForwardAuth``
call it with the client's ``Authorization`` header. 200 carries the identity
headers; 401 follows RFC 6750 §3 (a bare ``Bearer`` challenge when no token
came, ``error="invalid_token"`` for a bad one); 403 is a valid token that is not
meant for this proxy (with ``error="insufficient_scope"``, RFC 6750 §3.1), or an
unknown proxy (no challenge: no token could help).
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.clock import instant
from gatekey.issuer.http.responses import bearer_challenge
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.verification import InvalidToken, Verified

PROXY_HEADER = "X-Gatekey-Proxy"
USER_HEADER = "X-Authenticated-UserId"
ROLES_HEADER = "X-Authenticated-UserRoles"
CLIENT_HEADER = "X-Authenticated-ClientId"
REALM = bearer_challenge()


def authz_handler(runtime: Runtime) -> Handler:
    """The forward-auth check."""
    counter = runtime.metrics.requests

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await _check(request)
        counter.labels("/authz", "", str(response.status)).inc()
        return response

    async def _check(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            return web.Response(status=401, headers={"WWW-Authenticate": REALM})
        scheme, _, rest = header.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header
        configured = runtime.settings.proxies
        fallback = configured[0] if len(configured) == 1 else ""
        proxy = (request.headers.get(PROXY_HEADER) or fallback).strip().removeprefix("ApiProxy/")
        snapshot, now = runtime.snapshots.current, runtime.clock()
        if proxy not in snapshot.proxies or (configured and proxy not in configured):
            return web.Response(status=403)
        try:
            verified = await runtime.verifier.verify(token, snapshot, now)
        except InvalidToken as exc:
            challenge = bearer_challenge("invalid_token", str(exc))
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if not _covers(verified, proxy, snapshot, now):
            challenge = bearer_challenge("insufficient_scope", f"the token is not for {proxy}")
            return web.Response(status=403, headers={"WWW-Authenticate": challenge})
        return web.Response(
            status=200,
            headers={
                USER_HEADER: verified.subject,
                ROLES_HEADER: ",".join(verified.scope),
                CLIENT_HEADER: verified.client_id,
            },
        )

    return handle


def _covers(token: Verified, proxy: str, snapshot: Snapshot, now: float) -> bool:
    """The token's audience reaches ``proxy`` directly or through a group it belongs to now;
    for a Credential, its ACL still does too."""
    reach = {f"ApiProxy/{proxy}", *snapshot.proxy_groups.get(proxy, ())}
    if reach.isdisjoint(token.audience):
        return False
    if token.management == "Policy":
        return True
    cred = snapshot.credentials.get(token.client_id)
    if cred is None:
        return False
    acl = {f"{e.kind}/{e.name}" for e in cred.acl_at(instant(now))}
    return not reach.isdisjoint(acl)
