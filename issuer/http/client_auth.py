"""Which client credentials a request carries (RFC 6749 §2.3.1).

``client_secret_basic``: id and secret are form-urlencoded, then joined by ``:``
and base64-encoded; both parts are decoded here (openid-client sends
``svc%2Dclient``). ``client_secret_post``: ``client_id`` and ``client_secret``
in the body. Using both at once is refused.
"""

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote_plus

from gatekey.issuer.clients import Presented
from gatekey.issuer.errors import InvalidClient, InvalidRequest


def presented_client(authorization: str | None, params: Mapping[str, str]) -> Presented:
    """The client id and secret of a request, however they were sent."""
    basic = _basic(authorization)
    if basic is None:
        client_id = params.get("client_id")
        if not client_id:
            raise InvalidClient("client authentication is required")
        return Presented(client_id, params.get("client_secret"), basic=False)
    if "client_secret" in params:
        raise InvalidRequest("use one client authentication method, not both")
    if params.get("client_id", basic[0]) != basic[0]:
        raise InvalidRequest("client_id in the body differs from the Basic credentials")
    return Presented(basic[0], basic[1], basic=True)


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("malformed Basic credentials", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)
