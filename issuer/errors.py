"""OAuth 2.0 errors: one class per error code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8707 §2).

Pure: the HTTP layer turns them into ``{"error", "error_description"}`` bodies
with the status each class carries.
"""

from typing import ClassVar


class OAuthError(Exception):
    """An error the token endpoint reports to the client."""

    error: ClassVar[str]
    status: ClassVar[int] = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def body(self) -> dict[str, str]:
        """The JSON error body (RFC 6749 §5.2): only ``error`` and ``error_description``."""
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2: a parameter is missing, repeated, malformed or unsupported."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed. 401, as fosite and RFC 6749 ask."""

    error = "invalid_client"
    status = 401

    def __init__(self, description: str, *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic
        """The client used HTTP Basic: answer with ``WWW-Authenticate: Basic``."""


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2: bad resource-owner credentials or refresh token."""

    error = "invalid_grant"


class TargetsUnreached(InvalidGrant):
    """``invalid_grant`` because the client no longer reaches any target of the token it
    continues; ``/jwt/regenerate`` answers it as RFC 6750 ``insufficient_scope``."""


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2: the client may not use this grant type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2: the grant type is not one this server knows."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """RFC 6749 §5.2: the requested scope is invalid or exceeds what is held."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested ``resource`` is not one this client may get tokens for."""

    error = "invalid_target"


class ServerError(OAuthError):
    """RFC 6749 §4.1.2.1: an unexpected failure; the body says nothing internal."""

    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    """RFC 6749 §4.1.2.1: the token store is unreachable; try again later."""

    error = "temporarily_unavailable"
    status = 503


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5: the DPoP proof is missing where required, malformed, or replayed."""

    error = "invalid_dpop_proof"


class RequestTimeout(OAuthError):
    """RFC 9110 §15.5.9: the body did not arrive in time; the connection is then closed."""

    error = "invalid_request"
    status = 408


class BearerError(OAuthError):
    """RFC 6750 §3.1: an error about the Bearer token of a request, answered with a
    ``WWW-Authenticate: Bearer`` challenge carrying the same code."""


class InvalidBearerToken(BearerError):
    """RFC 6750 §3.1: the access token is expired, revoked, malformed or not this client's."""

    error = "invalid_token"
    status = 401


class InsufficientScope(BearerError):
    """RFC 6750 §3.1: the token is valid but does not reach what the request asks for."""

    error = "insufficient_scope"
    status = 403


class TooManyAttempts(OAuthError):
    """RFC 6585 §4: 429 with ``Retry-After`` after too many failed authentications.

    RFC 6749 has no code for it; ``temporarily_unavailable`` tells clients to retry later.
    """

    error = "temporarily_unavailable"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed attempts; retry later")
        self.retry_after = retry_after
