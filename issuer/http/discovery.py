"""Key discovery: the JWKS of the signing keys (RFC 7517 §5), under both endpoint bases."""

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.runtime import Runtime

JWKS_MAX_AGE = 300


def jwks_handler(runtime: Runtime) -> Handler:
    """Serve the public keys; clients may cache them briefly (new keys are pre-published)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            runtime.snapshots.current.jwks,
            content_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
        )

    return handle
