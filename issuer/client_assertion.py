"""``private_key_jwt`` client authentication: the JWT a client signs (RFC 7523 §2.2, §3).

Pure: checks an assertion against the client's public keys at ``now``. What it checks:
an asymmetric algorithm from the allow-list (never ``none``, never HMAC: a public key
must not serve as an HMAC secret), a signature by a key of the client's JWK Set (the
one its ``kid`` names, else any key that fits), ``iss`` = ``sub`` = the client id,
``aud`` naming the token endpoint or the issuer, ``exp`` present and at most
:data:`MAX_LIFETIME` ahead, ``nbf``/``iat`` not in the future, a ``jti``. Replay (a
``jti`` seen before) is the store's business: the caller remembers ``jti`` until ``exp``.
Every failure is ``invalid_client`` (RFC 7521 §4.2.1).
"""

import functools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from jwcrypto.jwk import JWK

from gatekey.issuer import jose
from gatekey.issuer.errors import InvalidClient
from gatekey.operator.model.authpolicy import ASYMMETRIC_ALGORITHMS
from gatekey.operator.model.client_keys import Jwks

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ASYMMETRIC_ALGORITHMS
MAX_LIFETIME = 300
"""Seconds an assertion may live: it is for one request, and its ``jti`` is kept that long."""
MAX_BYTES = 8192
MAX_JTI = 256
LEEWAY = 30
"""Seconds of clock skew allowed to ``nbf`` and ``iat``."""
_KTY = {"R": "RSA", "P": "RSA", "E": "EC"}  # by the algorithm's first letter; EdDSA: OKP


@dataclass(frozen=True)
class Assertion:
    """A verified assertion: whose, and what to remember against replay until when."""

    client_id: str
    jti: str
    expires_at: float


def claimed_client(assertion: str) -> str:
    """The client id an assertion claims (``sub``), before anything is verified: it says
    which client's keys to check it with."""
    sub = _unverified(assertion).claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidClient("the client assertion has no sub")
    return sub


def verify(
    assertion: str,
    client_id: str,
    keysets: Sequence[Jwks],
    audiences: Collection[str],
    now: float,
) -> Assertion:
    """The verified ``assertion`` of ``client_id``, signed by a key of one of its JWK Sets
    ``keysets``, or :class:`InvalidClient`."""
    compact = _unverified(assertion)  # size and shape first
    alg = compact.header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidClient(f"client assertion algorithm {alg!r} is not allowed")
    kid = compact.header.get("kid")
    keys = [k for jwks in keysets for k in _keys(jwks)]
    candidates = [k for k in keys if _fits(k, alg) and (kid is None or k.kid == kid)]
    if not any(jose.verifies(compact, alg, key.key) for key in candidates):
        raise InvalidClient("the client assertion is not signed by a key of this client")
    claims = compact.claims
    refusal = _claims_refusal(claims, client_id, audiences)
    if refusal is not None:
        raise InvalidClient(f"client assertion refused: {refusal}")
    return _timely(claims, client_id, now)


def _claims_refusal(
    claims: dict[str, Any], client_id: str, audiences: Collection[str]
) -> str | None:
    """Why the registered claims do not fit (RFC 7523 §3 items 1-4, 7), in the words the
    wire has always carried (they were PyJWT's), or None."""
    for name in ("iss", "sub", "aud", "exp", "jti"):
        if claims.get(name) is None:
            return f'Token is missing the "{name}" claim'
    if not isinstance(claims["iss"], str):
        return "Payload Issuer (iss) must be a string"
    if claims["iss"] != client_id:
        return "Invalid issuer"
    aud = claims["aud"]
    named = [aud] if isinstance(aud, str) else aud
    if not aud:
        return 'Token is missing the "aud" claim'
    if not isinstance(named, list) or not all(isinstance(a, str) for a in named):
        return "Invalid claim format in token"
    if all(a not in named for a in audiences):
        return "Audience doesn't match"
    if not isinstance(claims["sub"], str):
        return "Subject must be a string"
    if claims["sub"] != client_id:
        return "Invalid subject"
    if not isinstance(claims["jti"], str):
        return "JWT ID must be a string"
    return None


def _timely(claims: dict[str, Any], client_id: str, now: float) -> Assertion:
    exp, jti = claims["exp"], claims["jti"]
    if not _number(exp):
        raise InvalidClient("the client assertion's exp is not a number")
    if exp <= now:
        raise InvalidClient("the client assertion has expired")
    if exp > now + MAX_LIFETIME + LEEWAY:
        raise InvalidClient(f"the client assertion lives longer than {MAX_LIFETIME} seconds")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not _number(value) or value > now + LEEWAY):
            raise InvalidClient(f"the client assertion's {name} is in the future or not a number")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise InvalidClient("the client assertion's jti is missing or too long")
    return Assertion(client_id, jti, float(exp))


def _number(value: Any) -> bool:
    """A JSON number as RFC 7519 §2 NumericDate means it: not a boolean, and finite (Python's
    JSON parser also reads ``NaN`` and ``Infinity``, and NaN compares false both ways)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unverified(assertion: str) -> jose.Compact:
    if len(assertion) > MAX_BYTES:
        raise InvalidClient(f"the client assertion is longer than {MAX_BYTES} bytes")
    try:
        return jose.parse(assertion)
    except jose.Malformed:
        raise InvalidClient("the client assertion is not a JWT") from None


@dataclass(frozen=True)
class _Key:
    kid: str | None
    alg: str | None
    """The ``alg`` the JWK names, if any: then only that algorithm may use it."""
    kty: str
    key: JWK


def _fits(key: _Key, alg: str) -> bool:
    """Whether ``key`` may check a signature made with ``alg``."""
    kty = "OKP" if alg == "EdDSA" else _KTY[alg[0]]
    return key.kty == kty and key.alg in (None, alg)


@functools.lru_cache(maxsize=1024)  # a client's keys are parsed once per snapshot value
def _keys(jwks: Jwks) -> tuple[_Key, ...]:
    return tuple(_Key(k.kid, k.alg, k.kty, jose.load_key(k.as_dict())) for k in jwks.keys)
