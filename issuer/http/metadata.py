"""Authorization server metadata, RFC 8414, at ``<base>/.well-known/oauth-authorization-server``.

``issuer`` is always the configured issuer URL plus the base, so that it equals
the ``iss`` of the tokens (RFC 8414 §3.3). Endpoint URLs follow
``X-Forwarded-Proto``/``-Host`` only when the peer is a trusted proxy.
"""

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer.client_assertion import ALGORITHMS
from gatekey.issuer.clients import AUTH_METHODS
from gatekey.issuer.dpop import ALGORITHMS as DPOP_ALGORITHMS
from gatekey.issuer.grants import GRANT_TYPES_SUPPORTED
from gatekey.issuer.runtime import Runtime
from gatekey.operator.model.vocabulary import INTROSPECT, LEAVES, REGENERATE, REVOKE


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
            "token_endpoint": f"{url}/{LEAVES['JWT']}",
            "jwks_uri": f"{url}/.well-known/jwks.json",
            "introspection_endpoint": f"{url}/{INTROSPECT}",
            "revocation_endpoint": f"{url}/{REVOKE}",
            "grant_types_supported": list(GRANT_TYPES_SUPPORTED),
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "introspection_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "scopes_supported": sorted(runtime.snapshots.current.scopes),
            "gatekey_opaque_token_endpoint": f"{url}/{LEAVES['OAuth2']}",
            "gatekey_jwt_regenerate_endpoint": f"{url}/{LEAVES['JWT']}/{REGENERATE}",
        }
        return web.json_response(body, headers={"Cache-Control": "public, max-age=300"})

    return handle
