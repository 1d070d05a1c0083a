"""DPoP proofs (RFC 9449): check one, and the key thumbprint a token is bound to (pure).

A proof is a JWT the client signs with a key pair of its own for one request
(§4.2): header ``typ: dpop+jwt``, an asymmetric ``alg`` and the public ``jwk``;
claims ``jti``, ``htm``, ``htu``, ``iat`` and, at a resource server, ``ath``.
:func:`check_proof` applies §4.3's checks except the ``jti`` replay check, which
needs the store (the caller remembers ``(jkt, jti)`` until the proof expires).
"""

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jwcrypto.jwk import JWK

from gatekey.issuer import jose
from gatekey.operator.model.authpolicy import ASYMMETRIC_ALGORITHMS

PROOF_TYP = "dpop+jwt"
ALGORITHMS = ASYMMETRIC_ALGORITHMS
"""Asymmetric only (§4.3 item 5): never ``none``, never an HMAC keyed with the public key."""
MAX_PROOF_BYTES = 4096
"""A proof with an RSA-4096 key is under 2 KiB."""
IAT_WINDOW = 300
"""Seconds a proof stays acceptable after its ``iat`` (and the replay cache keeps it)."""
IAT_LEEWAY = 60
"""Seconds a proof's ``iat`` may lie in the future (clocks differ a little)."""
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


class InvalidProof(Exception):
    """RFC 9449 §7.1 ``invalid_dpop_proof``; the message says why."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof that checked out."""

    jkt: str
    """The RFC 7638 thumbprint of its key: what a token is bound to (``cnf.jkt``)."""
    jti: str
    expires_at: float
    """Until when a replay of it must be refused."""


def check_proof(
    proof: str, *, method: str, urls: tuple[str, ...], now: float, access_token: str | None
) -> Proof:
    """The proof, if it is well formed, signed by its own key, fresh, and made for this
    request: ``method`` and one of ``urls`` (the request URL as the client may have
    written it), and ``access_token`` (its ``ath``) at a resource server."""
    if len(proof) > MAX_PROOF_BYTES:
        raise InvalidProof("the DPoP proof is too large")
    try:
        header = jose.header(proof)
    except jose.Malformed:
        raise InvalidProof("the DPoP proof is not a JWT") from None
    if header.get("typ") != PROOF_TYP:
        raise InvalidProof("the DPoP proof's typ is not dpop+jwt")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidProof("the DPoP proof's alg is not an allowed asymmetric algorithm")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidProof("the DPoP proof's jwk is missing or not a public key")
    key, claims = _verified(proof, jwk, str(alg))
    jti, htm, htu, iat = (claims.get(k) for k in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise InvalidProof("the DPoP proof has no usable jti")
    if htm != method:
        raise InvalidProof("the DPoP proof was made for another method")
    if not isinstance(htu, str) or _request_url(htu) not in {_request_url(u) for u in urls}:
        raise InvalidProof("the DPoP proof was made for another URL")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise InvalidProof("the DPoP proof has no iat")
    if not now - IAT_WINDOW <= iat <= now + IAT_LEEWAY:
        raise InvalidProof("the DPoP proof is stale or from the future")
    if access_token is not None and claims.get("ath") != token_hash(access_token):
        raise InvalidProof("the DPoP proof's ath does not hash this access token")
    return Proof(thumbprint(key, jwk), jti, float(iat) + IAT_WINDOW + IAT_LEEWAY)


def thumbprint(key: JWK, jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, in order, without whitespace
    (jwcrypto's ``JWK.thumbprint`` of the loaded ``jwk``)."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise InvalidProof("the DPoP proof's jwk is not an EC, RSA or OKP public key")
    return str(key.thumbprint())


def token_hash(access_token: str) -> str:
    """``ath`` (§4.2): base64url SHA-256 of the access token's ASCII."""
    return _b64(hashlib.sha256(access_token.encode()).digest())


def _verified(proof: str, jwk: dict[str, Any], alg: str) -> tuple[JWK, dict[str, Any]]:
    """The proof's own key and its claims, if that key made the signature (§4.3 items
    6-7); a payload that is no JSON object is refused the same way."""
    try:
        key = jose.load_key(jwk)
        compact = jose.parse(proof)
    except ValueError:  # jose.Malformed is one
        raise InvalidProof("the DPoP proof's signature does not check out") from None
    if not jose.verifies(compact, alg, key):
        raise InvalidProof("the DPoP proof's signature does not check out")
    return key, compact.claims


def _request_url(url: str) -> tuple[str, str, str]:
    """Scheme, authority and path, as §4.3 compares them (query and fragment ignored,
    scheme and host case-insensitive, default ports dropped)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    authority = host if port in (None, default) else f"{host}:{port}"
    return scheme, authority, parts.path or "/"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
