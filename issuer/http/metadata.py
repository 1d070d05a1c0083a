"""Authorization server metadata, RFC 8414, at ``<base>/.well-known/oauth-authorization-server``.

``issuer`` is always the configured issuer URL plus the base, so that it equals
the ``iss`` of the tokens (RFC 8414 §3.3). Endpoint URLs follow
``X-Forwarded-Proto``/``-Host`` only when the peer is a trusted proxy.
"""

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.client_assertion import ALGORITHMS
from gatekey.issuer.dpop import ALGORITHMS as DPOP_ALGORITHMS
from gatekey.issuer.runtime import Runtime

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*AUTH_METHODS, "private_key_jwt"]
GRANT_TYPES = ["client_credentials", "password", "refresh_token"]


def metadata_handler(runtime: Runtime, base: str) -> Handler:
    """The metadata document of ``base`` (``/auth`` or ``/credential``)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        settings = runtime.settings
        origin = settings.issuer_url.rstrip("/")
        if settings.trusts(request.remote):
            proto = request.headers.get("X-Forwarded-Proto")
            host = request.headers.get("X-Forwarded-Host")
            if proto in ("http", "https") and host:
                origin = f"{proto}://{host.split(',')[0].strip()}"
        url = origin + base
        body: dict[str, Any] = {
            "issuer": settings.issuer_url.rstrip("/") + base,
            "token_endpoint": f"{url}/jwt",
            "jwks_uri": f"{url}/.well-known/jwks.json",
            "introspection_endpoint": f"{url}/introspect",
            "revocation_endpoint": f"{url}/revoke",
            "grant_types_supported": GRANT_TYPES,
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "scopes_supported": sorted(runtime.snapshots.current.scopes),
            "gatekey_opaque_token_endpoint": f"{url}/token",
            "gatekey_jwt_regenerate_endpoint": f"{url}/jwt/regenerate",
        }
        return web.json_response(body, headers={"Cache-Control": "public, max-age=300"})

    return handle
