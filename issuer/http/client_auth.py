"""Which client credentials a request carries (RFC 6749 §2.3.1).

``client_secret_basic``: id and secret are form-urlencoded, then joined by ``:``
and base64-encoded; both parts are decoded here (openid-client sends
``svc%2Dclient``). ``client_secret_post``: ``client_id`` and ``client_secret``
in the body. ``private_key_jwt`` (RFC 7523 §2.2): ``client_assertion_type`` and
``client_assertion`` in the body, ``client_id`` optional (the assertion's ``sub``).
Using two methods at once is refused.
"""

import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import unquote_plus

from gatekey.issuer.client_assertion import ASSERTION_TYPE, claimed_client, verify
from gatekey.issuer.clients import Presented, client_jwks
from gatekey.issuer.errors import InvalidClient, InvalidRequest
from gatekey.issuer.grants.context import Endpoint
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.ports import ReplayCache


def presented_client(authorization: str | None, params: Mapping[str, str]) -> Presented:
    """The client id and secret (or assertion) of a request, however they were sent."""
    basic = _basic(authorization)
    if "client_assertion" in params or "client_assertion_type" in params:
        return _asserted(basic is not None, params)
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


async def prove_assertion(
    presented: Presented,
    snapshot: Snapshot,
    endpoint: Endpoint,
    issuer_url: str,
    store: ReplayCache,
    now: float,
) -> Presented:
    """``presented`` with its client assertion verified and its ``jti`` spent (kept in the
    store, shared by replicas, until the assertion expires: a replay is refused)."""
    if presented.assertion is None:
        return presented
    jwks = client_jwks(snapshot, endpoint, presented.client_id)
    if jwks is None:
        raise InvalidClient("this client has no public keys for private_key_jwt")
    base = issuer_url.rstrip("/") + endpoint.base
    audiences = (base, issuer_url.rstrip("/") + endpoint.path)
    verified = verify(presented.assertion, presented.client_id, jwks, audiences, now)
    key = f"assertion:{verified.client_id}:{verified.jti}"
    if not await store.remember_once(key, verified.expires_at):
        raise InvalidClient("the client assertion was already used")
    return replace(presented, key_proven=True)


def _asserted(basic: bool, params: Mapping[str, str]) -> Presented:
    if basic or "client_secret" in params:
        raise InvalidRequest("use one client authentication method, not both")
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidRequest(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = params.get("client_assertion")
    if not assertion:
        raise InvalidRequest("client_assertion is required")
    client_id = claimed_client(assertion)
    if params.get("client_id", client_id) != client_id:
        raise InvalidClient("client_id differs from the client assertion's sub")
    return Presented(client_id, None, basic=False, assertion=assertion)


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
