"""``/authz``: forward authentication for the proxy in front of an API.

nginx ``auth_request``, Envoy ``ext_authz`` (HTTP service; any method, any
sub-path, since Envoy appends the original path) and Traefik ``ForwardAuth``
call it with the client's ``Authorization`` header. 200 carries the identity
headers; 401 follows RFC 6750 §3 (a bare ``Bearer`` challenge when no token
came, ``error="invalid_token"`` for a bad one); 403 is a valid token that is not
meant for this proxy (with ``error="insufficient_scope"``, RFC 6750 §3.1), or an
unknown proxy (no challenge: no token could help).

The proxy is named as :mod:`gatekey.issuer.proxies` says. A token passes only for a
proxy of the namespace it was minted in: ``aud`` values (``ApiProxy/orders``) carry
no namespace, so the namespace comes from the key that signed the token or the
client it was stored for.
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.clock import instant
from gatekey.issuer.http.responses import bearer_challenge
from gatekey.issuer.proxies import ProxyName, home_namespace, parse_proxy
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

    settings = runtime.settings
    configured = [parse_proxy(p) for p in settings.proxies]
    if None in configured:
        raise ValueError(f"--proxy: not a proxy name: {settings.proxies}")
    allowed = [p for p in configured if p is not None]
    sidecar = allowed[0] if len(allowed) == 1 else None

    async def _check(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            return web.Response(status=401, headers={"WWW-Authenticate": REALM})
        scheme, _, rest = header.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header
        snapshot, now = runtime.snapshots.current, runtime.clock()
        raw = request.headers.get(PROXY_HEADER)
        named = sidecar if raw is None else parse_proxy(raw)
        home = home_namespace(settings.home_namespace, snapshot.namespaces)
        proxy = _allowed(named, allowed, home)
        if proxy is None or proxy not in snapshot.proxies:
            return web.Response(status=403)
        try:
            verified = await runtime.verifier.verify(token, snapshot, now)
        except InvalidToken as exc:
            challenge = bearer_challenge("invalid_token", str(exc))
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if not _covers(verified, proxy, snapshot, now):
            challenge = bearer_challenge("insufficient_scope", f"the token is not for {proxy[1]}")
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


def _allowed(
    named: ProxyName | None, allowed: list[ProxyName], home: str
) -> tuple[str, str] | None:
    """The ``(namespace, name)`` checked for, if it is one this issuer may check for."""
    if named is None:
        return None
    proxy = named.resolve(home)
    if allowed and proxy not in [p.resolve(home) for p in allowed]:
        return None
    return proxy


def _covers(token: Verified, proxy: tuple[str, str], snapshot: Snapshot, now: float) -> bool:
    """The token was minted in the proxy's namespace, and its audience reaches the proxy
    directly or through a group it belongs to now; for a Credential, its ACL still does."""
    namespace, name = proxy
    if token.namespace != namespace:
        return False
    reach = {f"ApiProxy/{name}", *snapshot.proxy_groups.get(proxy, ())}
    if reach.isdisjoint(token.audience):
        return False
    if token.management == "Policy":
        return True
    cred = snapshot.credentials.get(token.client_id)
    if cred is None or cred.namespace != namespace:
        return False
    acl = {f"{e.kind}/{e.name}" for e in cred.acl_at(instant(now))}
    return not reach.isdisjoint(acl)
