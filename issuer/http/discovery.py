"""Key discovery: the JWKS of the signing keys (RFC 7517 §5), under both endpoint bases.

Signing keys are per namespace, and a namespace's keys verify only its own tokens:
the JWKS holds the keys of one namespace, the home one (:mod:`gatekey.issuer.proxies`)
or the one named by ``?namespace=``. A gateway that verifies JWTs itself for a proxy
of namespace ``shop`` reads ``...jwks.json?namespace=shop`` (or the ``gatekey-jwks``
ConfigMap of that namespace), so that no other namespace's key is trusted there.
"""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.proxies import home_namespace
from gatekey.issuer.runtime import Runtime

JWKS_MAX_AGE = 300
EMPTY: dict[str, list[object]] = {"keys": []}


def jwks_handler(runtime: Runtime) -> Handler:
    """Serve the public keys; clients may cache them briefly (new keys are pre-published)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        snapshot = runtime.snapshots.current
        namespace = request.query.get("namespace") or home_namespace(
            runtime.settings.home_namespace, snapshot.namespaces
        )
        return web.json_response(
            snapshot.jwks.get(namespace, EMPTY),
            content_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
        )

    return handle
