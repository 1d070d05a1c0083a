"""Compact JWS reading and verification over jwcrypto (RFC 7515 §5.2, §7.1), pure.

jwcrypto is Gatekey's one JOSE library: it loads JWKs (RFC 7517), computes
thumbprints (RFC 7638) and checks signatures with its per-algorithm verifiers
(RFC 7518 §3). The compact form is split here rather than by ``jwcrypto.jws.JWS``
so that a refusal names its cause (the header is read before any key is chosen) and
so that the ``/authz`` path on a cache miss pays one signature check, not jwcrypto's
JWS object (docs/performance.md, "JOSE libraries"). Signing stays in
:mod:`gatekey.issuer.tokens.jws`.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from jwcrypto.common import JWException
from jwcrypto.jwa import JWA
from jwcrypto.jwk import JWK


class Malformed(ValueError):
    """Not a compact JWS with a JSON-object header and payload; the message says why."""


@dataclass(frozen=True, slots=True)
class Compact:
    """A compact JWS, split and decoded, its signature not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unverified (RFC 7515 §7.1)."""
    head = token.split(".", 1)[0]
    if token.count(".") != 2:
        raise Malformed("not three segments")
    return _header(head)


def parse(token: str) -> Compact:
    """The decoded parts of a compact JWS (RFC 7515 §7.1, §5.2 steps 1-7)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Malformed("not three segments")
    head, body, signature = parts
    claims = _json_object(_b64(body), "payload")
    return Compact(_header(head), claims, f"{head}.{body}".encode(), _b64(signature))


def load_key(jwk: Mapping[str, Any]) -> JWK:
    """A JWK as jwcrypto loads it (RFC 7517 §4); ``ValueError`` if it cannot.

    The key object is built now (jwcrypto builds it lazily), so that a point off its
    curve is refused here, once, and the object is cached with the JWK."""
    try:
        key = JWK(**jwk)
        key.get_op_key("verify")
    except (JWException, ValueError, TypeError, KeyError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return key


def verifies(compact: Compact, alg: str, key: JWK) -> bool:
    """Whether ``key`` checks ``compact``'s signature under ``alg`` (RFC 7518 §3).

    The caller has chosen ``alg`` from its allow-list; a key of another type or curve
    than ``alg`` needs does not verify."""
    try:
        JWA.signing_alg(alg).verify(key, compact.signing_input, compact.signature)
    except (InvalidSignature, JWException, ValueError, TypeError, KeyError):
        return False
    return True


def _header(segment: str) -> dict[str, Any]:
    header = _json_object(_b64(segment), "header")
    if "crit" in header:
        # RFC 7515 §4.1.11: no extension is understood here, so any is refused.
        raise Malformed("critical header extensions are not supported")
    if "kid" in header and not isinstance(header["kid"], str):
        raise Malformed("kid is not a string")
    return header


def _b64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Malformed("invalid base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise Malformed(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise Malformed(f"the {what} is not a JSON object")
    return value
