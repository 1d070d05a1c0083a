"""The OpenAPI 3.1 document of every route the issuer serves (``GET /openapi.json``).

A test checks that each route the app serves is documented here and that each
path documented here is served.
"""

from typing import Any

from gatekey.issuer.client_assertion import ASSERTION_TYPE
from gatekey.issuer.grants import GRANT_TYPES_SUPPORTED
from gatekey.operator.model.vocabulary import (
    BASES,
    INTROSPECT,
    LEAVES,
    MANAGEMENT_OF_BASE,
    REGENERATE,
    REVOKE,
    Management,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MODE_TITLES: dict[Management, str] = {
    "Policy": "Manage From This Policy",
    "ACL": "Manage From ACL",
}
"""The management modes as the seed names them."""
AUTHZ_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(name)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "RFC 6749 §5.2 error",
        403: "insufficient_scope (RFC 6750 §3.1, WWW-Authenticate: Bearer)",
        401: "invalid_client (WWW-Authenticate: Basic); at regenerate also invalid_token (Bearer)",
        408: "the body did not arrive in time (the connection is closed)",
        405: "method not allowed (Allow: POST)",
        413: "body over 64 KiB",
        429: "too many failed authentications (Retry-After)",
        500: "server_error",
        503: "temporarily_unavailable: the token store is down",
    }
    return {str(s): _json("Error", texts[s]) for s in statuses}


def _form(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {FORM: {"schema": _ref(schema)}}}


def _token_operation(base: str, leaf: str) -> dict[str, Any]:
    mode = MODE_TITLES[MANAGEMENT_OF_BASE[base]]
    kind = "JWT" if leaf == LEAVES["JWT"] else "opaque (OAuth2)"
    post = {
        "summary": f"{kind} token endpoint, {mode}",
        "operationId": f"token{base.replace('/', '_')}_{leaf}",
        "security": [{}, {"clientBasic": []}],
        "requestBody": _form("TokenRequest"),
        "responses": {
            "200": _json("TokenResponse", "tokens, shaped by the Token Management Settings"),
            **_errors(400, 401, 408, 413, 429, 500, 503),
        },
    }
    get = {
        "summary": f"{kind} token endpoint with URL parameters (Allow URL Parameters)",
        "operationId": f"token{base.replace('/', '_')}_{leaf}_get",
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": name == "grant_type",
                "schema": {"type": "string"},
            }
            for name in _TOKEN_FIELDS
        ],
        "responses": {
            "200": _json("TokenResponse", "tokens"),
            **_errors(400, 401, 405, 429, 500, 503),
        },
    }
    return {"post": post, "get": get}


_TOKEN_FIELDS = (
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "refresh_token",
    "scope",
    "resource",
)


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for base in BASES.values():
        tag = base.strip("/")
        for leaf in LEAVES.values():
            paths[f"{base}/{leaf}"] = _token_operation(base, leaf)
        paths[f"{base}/{LEAVES['JWT']}/{REGENERATE}"] = {
            "post": {
                "summary": "A new JWT for a still-valid one",
                "operationId": f"regenerate_{tag}",
                "security": [{"bearer": []}],
                "requestBody": _form("ClientCredentials"),
                "responses": {
                    "200": _json("TokenResponse", "the new JWT"),
                    **_errors(400, 401, 403, 408, 413, 429, 500, 503),
                },
            }
        }
        paths[f"{base}/{INTROSPECT}"] = {
            "post": {
                "summary": "RFC 7662 token introspection",
                "operationId": f"introspect_{tag}",
                "security": [{}, {"clientBasic": []}],
                "requestBody": _form("TokenParameter"),
                "responses": {
                    "200": _json("Introspection", "active or not"),
                    **_errors(400, 401, 408, 413, 429, 500, 503),
                },
            }
        }
        paths[f"{base}/{REVOKE}"] = {
            "post": {
                "summary": "RFC 7009 token revocation",
                "operationId": f"revoke_{tag}",
                "security": [{}, {"clientBasic": []}],
                "requestBody": _form("TokenParameter"),
                "responses": {
                    "200": {
                        "description": "revoked, or unknown",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **_errors(400, 401, 408, 413, 429, 500, 503),
                },
            }
        }
        paths[f"{base}/.well-known/jwks.json"] = {
            "get": {
                "summary": "JWKS of the signing keys (RFC 7517)",
                "operationId": f"jwks_{tag}",
                "responses": {
                    "200": {
                        "description": "public keys",
                        "content": {"application/jwk-set+json": {"schema": _ref("JWKS")}},
                    }
                },
            }
        }
        paths[f"{base}/.well-known/oauth-authorization-server"] = {
            "get": {
                "summary": "RFC 8414 authorization server metadata (appended form)",
                "operationId": f"metadata_{tag}",
                "responses": {"200": _json("Metadata", "metadata")},
            }
        }
        paths[f"/.well-known/oauth-authorization-server{base}"] = {
            "get": {
                "summary": "RFC 8414 §3.1 authorization server metadata",
                "operationId": f"metadata_rfc8414_{tag}",
                "responses": {"200": _json("Metadata", "metadata")},
            }
        }
    authz = {
        "summary": "Forward authentication for nginx, Envoy and Traefik",
        "parameters": [
            {
                "name": "X-Gatekey-Proxy",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "ApiProxy name, bare or ApiProxy/NAME",
            },
        ],
        "security": [{}, {"bearer": []}],
        "responses": {
            "200": {
                "description": "valid for this proxy; identity in headers",
                "headers": {
                    h: {"schema": {"type": "string"}}
                    for h in (
                        "X-Authenticated-UserId",
                        "X-Authenticated-UserRoles",
                        "X-Authenticated-ClientId",
                    )
                },
            },
            "401": {"description": "missing or invalid token (RFC 6750 challenge)"},
            "403": {"description": "valid token not meant for this proxy, or unknown proxy"},
        },
    }
    tail = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
    paths["/authz"] = {m: authz | {"operationId": f"authz_{m}"} for m in AUTHZ_METHODS}
    paths["/authz/{path}"] = {
        m: authz | {"operationId": f"authz_path_{m}", "parameters": [*authz["parameters"], tail]}
        for m in AUTHZ_METHODS
    }
    paths["/healthz"] = {
        "get": {
            "summary": "liveness",
            "operationId": "healthz",
            "responses": {"200": {"description": "alive"}},
        }
    }
    paths["/readyz"] = {
        "get": {
            "summary": "readiness: a configuration is loaded",
            "operationId": "readyz",
            "responses": {"200": {"description": "ready"}, "503": {"description": "loading"}},
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "responses": {"200": {"description": "text exposition", "content": {"text/plain": {}}}},
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "this document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {}}}},
        }
    }
    return paths


def _string(description: str = "") -> dict[str, str]:
    return {"type": "string", "description": description} if description else {"type": "string"}


ASSERTION_PROPERTIES: dict[str, Any] = {
    "client_assertion_type": {"type": "string", "enum": [ASSERTION_TYPE]},
    "client_assertion": _string("RFC 7523 §2.2 (private_key_jwt), instead of client_secret"),
}
"""A client assertion, accepted wherever a client authenticates."""


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": _string("RFC 6749 §5.2 code"),
            "error_description": _string(),
            "error_uri": _string(),
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {
                "type": "string",
                "enum": list(GRANT_TYPES_SUPPORTED),
            },
            "client_id": _string("the proxy key id or the Credential's client id"),
            "client_secret": _string("the secret, or '-' where the seed allows it"),
            "username": _string(),
            "password": _string(),
            "refresh_token": _string(),
            "scope": _string("space-separated scopes (Role scope values)"),
            "resource": _string("RFC 8707: narrow to one target, Kind/name"),
            **ASSERTION_PROPERTIES,
        },
    },
    "ClientCredentials": {
        "type": "object",
        "description": "client_id and client_secret, or a private_key_jwt client assertion",
        "properties": {"client_id": _string(), "client_secret": _string(), **ASSERTION_PROPERTIES},
    },
    "TokenParameter": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": _string(),
            "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
            "client_id": _string(),
            "client_secret": _string(),
            **ASSERTION_PROPERTIES,
        },
    },
    "TokenResponse": {
        "type": "object",
        "description": "Field names and presence follow the Token Management Settings; "
        "Credential Metadata entries may be added.",
        "properties": {
            "access_token": _string(),
            "token_type": _string(),
            "expires_in": {"type": "integer"},
            "refresh_token": _string(),
            "scope": _string(),
        },
    },
    "Introspection": {
        "type": "object",
        "required": ["active"],
        "properties": {
            "active": {"type": "boolean"},
            "scope": _string(),
            "client_id": _string(),
            "username": _string(),
            "token_type": _string(),
            "exp": {"type": "integer"},
            "iat": {"type": "integer"},
            "sub": _string(),
            "aud": {"type": "array", "items": _string()},
            "iss": _string(),
            "jti": _string(),
        },
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    },
    "Metadata": {
        "type": "object",
        "required": ["issuer", "token_endpoint", "jwks_uri"],
        "properties": {"issuer": _string(), "token_endpoint": _string(), "jwks_uri": _string()},
    },
}


def openapi_document(issuer_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with ``issuer_url`` as the server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gatekey issuer",
            "version": "1",
            "description": "Token endpoints for API proxies (RFC 6749, 7009, 7662, 8414, 9068).",
        },
        "servers": [{"url": issuer_url.rstrip("/")}],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "clientBasic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
