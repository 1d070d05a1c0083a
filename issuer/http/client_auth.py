"""Which client credentials a request carries (RFC 6749 §2.3.1).

``client_secret_basic``: id and secret are form-urlencoded, then joined by ``:``
and base64-encoded; both parts are decoded here (openid-client sends
``svc%2Dclient``). ``client_secret_post``: ``client_id`` and ``client_secret``
in the body. ``private_key_jwt`` (RFC 7523 §2.2): ``client_assertion_type`` and
``client_assertion`` in the body, ``client_id`` optional (the assertion's ``sub``),
accepted wherever a client authenticates: the token endpoints, introspection (RFC 7662
§2.1), revocation (RFC 7009 §2.1) and regeneration, with the same checks.
Using two methods at once is refused.
"""

import base64
from collections.abc import Mapping
from urllib.parse import unquote_plus

from gatekey.issuer.client_assertion import ASSERTION_TYPE, LEEWAY, claimed_client, verify
from gatekey.issuer.clients import Presented, assertion_audiences, client_jwks
from gatekey.issuer.errors import InvalidClient, InvalidRequest
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.snapshot import Snapshot
from gatekey.operator.model.vocabulary import Management, TokenType


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
    runtime: Runtime,
    presented: Presented,
    snapshot: Snapshot,
    now: float,
    *,
    management: Management,
    token_type: TokenType | None,
    path: str,
) -> Presented:
    """``presented`` with its client assertion, sent to ``path``, verified and its ``jti``
    spent (kept in the store, shared by replicas, until the assertion expires: a replay is
    refused, whichever endpoint it is replayed at). ``token_type``: the token endpoint's
    type, None at the endpoints both types share."""
    if presented.assertion is None:
        return presented
    keysets = client_jwks(snapshot, management, presented.client_id, token_type)
    if not keysets:
        raise InvalidClient("this client has no public keys for private_key_jwt")
    audiences = assertion_audiences(runtime.settings.issuer_url, management, path)
    verified = verify(presented.assertion, presented.client_id, keysets, audiences, now)
    key = f"assertion:{verified.client_id}:{verified.jti}"
    # Kept past ``exp`` by the skew allowed elsewhere: a replica whose clock is behind the
    # store's still finds the jti spent while it would accept the assertion.
    if not await runtime.store.remember_once(key, verified.expires_at + LEEWAY):
        raise InvalidClient("the client assertion was already used")
    return presented._replace(key_proven=True)


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
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        raise InvalidClient("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("malformed Basic credentials", basic=True)
    if "%" in decoded or "+" in decoded:
        return unquote_plus(client_id), unquote_plus(secret)
    return client_id, secret  # nothing to decode, the usual case
