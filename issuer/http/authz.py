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

import math
from functools import partial

from aiohttp import web
from aiohttp.hdrs import AUTHORIZATION
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, istr

from gatekey.issuer.clock import instant
from gatekey.issuer.dpop import InvalidProof
from gatekey.issuer.http.authz_cache import Key, Pass, PassCache
from gatekey.issuer.http.dpop import checked, dpop_challenge, proof_of
from gatekey.issuer.http.responses import bearer_challenge
from gatekey.issuer.proxies import ProxyName, home_namespace, parse_proxy
from gatekey.issuer.routes import CompiledRoutes
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX
from gatekey.issuer.verification import InvalidToken, Verified
from gatekey.operator.model import Target

PROXY_HEADER = "X-Gatekey-Proxy"
_PROXY = istr(PROXY_HEADER)
USER_HEADER = "X-Authenticated-UserId"
ROLES_HEADER = "X-Authenticated-UserRoles"
CLIENT_HEADER = "X-Authenticated-ClientId"
REALM = bearer_challenge()
TWO_CREDENTIALS = bearer_challenge("invalid_request", "one Authorization field at most")
AUTHZ_PREFIX = "/authz/"
_STATUS = {status: str(status) for status in range(100, 600)}
"""The metric label of each status, made once."""


def authz_handler(runtime: Runtime) -> Handler:
    """The forward-auth check."""
    count = runtime.metrics.count
    snapshots, verifier, deny = runtime.snapshots, runtime.verifier, runtime.deny
    settings = runtime.settings
    configured = [parse_proxy(p) for p in settings.proxies]
    if None in configured:
        raise ValueError(f"--proxy: not a proxy name: {settings.proxies}")
    allowed = [p for p in configured if p is not None]
    sidecar = allowed[0] if len(allowed) == 1 else None
    passes = PassCache()
    table = passes.table
    names = original_request_headers(settings)

    async def handle(request: web.Request) -> web.StreamResponse:
        headers = request.headers
        credentials = headers.getall(AUTHORIZATION, ())
        if len(credentials) > 1:
            # RFC 6750 §3.1: a repeated token is ``invalid_request``. Answered as a 401
            # (not §3.1's 400), which every gateway passes on as a refusal, where a 400
            # from the auth endpoint is their own error: the one value checked here need
            # not be the one the API reads.
            count("/authz", "", "401")
            return web.Response(status=401, headers={"WWW-Authenticate": TWO_CREDENTIALS})
        key = (credentials[0] if credentials else None, headers.get(_PROXY))
        snapshot, now = snapshots.current, runtime.clock()
        if snapshot is not passes.snapshot:
            passes.follow(snapshot)
        found = table.get(key)
        if found is not None:
            # A remembered pass still asks the live deny list and, with per-route rules,
            # the rules about this request; whatever it cannot answer takes the whole check.
            if now >= found.until:
                passes.drop(key)
            elif not deny.denies(found.jti, now) and (
                found.routes is None or _routes_allow(found, request)
            ):
                count("/authz", "", "200")
                return web.Response(headers=found.headers)
        response = await _check(request, key, snapshot, now)
        count("/authz", "", _STATUS[response.status])
        return response

    def _routes_allow(found: Pass, request: web.Request) -> bool:
        assert found.routes is not None
        method, raw_path = _original_request(request, settings, names, sidecar=sidecar is not None)
        return found.routes.decide_request(method, raw_path, found.scope, found.claims).allowed

    async def _check(
        request: web.Request, key: Key, snapshot: Snapshot, now: float
    ) -> web.StreamResponse:
        header = (key[0] or "").strip()
        if not header:
            return web.Response(status=401, headers={"WWW-Authenticate": REALM})
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        token = rest.strip() if scheme in ("bearer", "dpop") else header
        raw = key[1]
        named = sidecar if raw is None else parse_proxy(raw)
        home = home_namespace(settings.home_namespace, snapshot.namespaces)
        proxy = _allowed(named, allowed, home)
        if proxy is None or proxy not in snapshot.proxies:
            return web.Response(status=403)
        try:
            verified = await verifier.verify(token, snapshot, now)
        except InvalidToken as exc:
            challenge = bearer_challenge("invalid_token", str(exc))
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if not _covers(verified, proxy, snapshot, now):
            challenge = bearer_challenge("insufficient_scope", f"the token is not for {proxy[1]}")
            return web.Response(status=403, headers={"WWW-Authenticate": challenge})
        bound = verified.jkt or scheme == "dpop"
        if bound:
            is_sidecar = sidecar is not None
            refused = await _dpop_refusal(
                request, verified, token, scheme, is_sidecar, runtime, now, names
            )
            if refused is not None:
                return refused
        routes = _routes_for(verified, proxy, snapshot)
        if routes is not None:
            method, raw_path = _original_request(
                request, settings, names, sidecar=sidecar is not None
            )
            decision = routes.decide_request(
                method, raw_path, verified.scope, lambda: _claims(verified, snapshot)
            )
            if not decision.allowed:
                scope = " ".join(decision.required) or None
                challenge = bearer_challenge("insufficient_scope", scope=scope)
                return web.Response(status=403, headers={"WWW-Authenticate": challenge})
        identity = _identity(verified)
        # Not remembered: a DPoP proof is fresh on every request; an opaque token's record
        # lives in the store, where a revocation (here or on another replica) lands.
        if not bound and not token.startswith(ACCESS_PREFIX) and _canonical(key, token):
            until = _holds_until(verified, snapshot, now)
            claims = partial(_claims, verified, snapshot)
            found = Pass(identity, until, verified.jti, verified.scope, routes, claims)
            passes.put(key, found, snapshot)
        return web.Response(headers=identity)

    return handle


def _canonical(key: Key, token: str) -> bool:
    """Whether the headers are spelled as clients and gateways send them: ``Bearer`` and
    one space before the token, a proxy name without blanks around it. Only such a pair
    is remembered: any other spelling of the same token (blanks, the scheme's case) gets
    the same answer through the whole check, and cannot make the table hold one entry per
    spelling."""
    proxy = key[1]
    return key[0] == "Bearer " + token and (proxy is None or proxy == proxy.strip())


def _identity(verified: Verified) -> CIMultiDict[str]:
    """The identity headers of a 200 (a ``CIMultiDict``: aiohttp copies it in C)."""
    return CIMultiDict(
        {
            USER_HEADER: verified.subject,
            ROLES_HEADER: ",".join(verified.scope),
            CLIENT_HEADER: verified.client_id,
        }
    )


def _holds_until(verified: Verified, snapshot: Snapshot, now: float) -> float:
    """The first instant after ``now`` at which the time-dependent checks (the token's
    ``exp``, its credential's ``expiresAt``, its ACL entries' ``expiresAt``) may answer
    otherwise; the snapshot being the same."""
    until = math.inf if verified.expires_at is None else float(verified.expires_at)
    cred = snapshot.credentials.get(verified.client_id)
    if verified.management != "Policy" and cred is not None:
        until = min(until, cred.changes_after(now))
    return until


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


def _routes_for(
    token: Verified, proxy: tuple[str, str], snapshot: Snapshot
) -> CompiledRoutes | None:
    """The rules of the policy the token reaches the proxy through: the one that minted
    it (Policy mode), or the ACL-mode policy of the first target in its audience that
    covers the proxy, the ApiProxy itself before its groups."""
    if token.management == "Policy":
        key = snapshot.proxy_keys.get(token.client_id)
        policy = None if key is None else key.policies.get(token.token_type)
        return None if policy is None else policy.routes
    namespace, name = proxy
    for audience in [f"ApiProxy/{name}", *sorted(snapshot.proxy_groups.get(proxy, ()))]:
        if audience in token.audience:
            kind, _, target = audience.partition("/")
            policy = snapshot.acl_policies.get((Target(namespace, kind, target), token.token_type))
            if policy is not None:
                return policy.routes
    return None


HeaderNames = tuple[tuple[istr, istr], ...]


def original_request_headers(settings: IssuerSettings) -> HeaderNames:
    """``settings.original_request_headers`` as ``istr``: a look-up with one skips
    folding the name's case on every request."""
    return tuple((istr(uri), istr(method)) for uri, method in settings.original_request_headers)


def _original_request(
    request: web.Request, settings: IssuerSettings, names: HeaderNames, *, sidecar: bool
) -> tuple[str, str | None]:
    """The method and the target (path and query, as sent) of the request the gateway
    checks; None when no believable one came.

    nginx and Traefik send them in headers (``names``: ``settings``' own, made once),
    believed only from a trusted proxy or a sidecar's own gateway; Envoy's ext_authz
    appends the path to ``/authz`` and keeps the method, which no header can change."""
    headers = request.headers
    for uri_header, method_header in names:
        uri = headers.get(uri_header)
        # The peer is looked at only when such a header came (Envoy sends none).
        if uri is not None and (sidecar or settings.trusts(request.remote)):
            return headers.get(method_header, request.method).strip().upper(), uri.strip()
    raw = request.raw_path
    if raw.startswith(AUTHZ_PREFIX):
        return request.method, raw[len(AUTHZ_PREFIX) - 1 :]
    return request.method, None


async def _dpop_refusal(
    request: web.Request,
    token: Verified,
    access_token: str,
    scheme: str,
    sidecar: bool,
    runtime: Runtime,
    now: float,
    names: HeaderNames,
) -> web.Response | None:
    """RFC 9449 §7: a bound token comes as ``Authorization: DPoP`` with a fresh proof of
    its key, made for the method and URL the gateway reports and hashing this token
    (``names``: the original-request headers, made once by the handler)."""
    if token.jkt is None:
        return _dpop_401("invalid_token", "the token is not bound to a DPoP key")
    if scheme != "dpop":
        return _dpop_401("invalid_token", "a DPoP-bound token goes in Authorization: DPoP")
    method, target = _original_request(request, runtime.settings, names, sidecar=sidecar)
    if target is None:
        return _dpop_401("invalid_dpop_proof", "the request checked is unknown")
    headers = request.headers
    trusted = sidecar or runtime.settings.trusts(request.remote)
    forwarded = trusted and "X-Forwarded-Host" in headers
    host = headers["X-Forwarded-Host"] if forwarded else request.host
    proto = headers.get("X-Forwarded-Proto", "http") if forwarded else request.scheme
    url = f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}{target}"
    try:
        proof = proof_of(request)
        if proof is None:
            return _dpop_401("invalid_dpop_proof", "a DPoP proof is required")
        checked_proof = await checked(
            runtime.store, proof, method=method, urls=(url,), now=now, access_token=access_token
        )
    except InvalidProof as exc:
        return _dpop_401("invalid_dpop_proof", str(exc))
    if checked_proof.jkt != token.jkt:
        return _dpop_401("invalid_dpop_proof", "the proof's key is not the token's")
    return None


def _dpop_401(error: str, description: str) -> web.Response:
    return web.Response(
        status=401, headers={"WWW-Authenticate": dpop_challenge(error, description)}
    )


def _claims(token: Verified, snapshot: Snapshot) -> dict[str, str]:
    """The current Credential Metadata of the token's client, by key."""
    cred = snapshot.credentials.get(token.client_id)
    return {} if cred is None else {c.key: c.value for c in cred.claims}


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
