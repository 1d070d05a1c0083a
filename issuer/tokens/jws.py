"""Compact JWS signing (RFC 7515 §7.1) straight over ``cryptography``, for the hot path.

The bench (docs/performance.md) measured PyJWT's encode at about 1.6 times the
bare signature; what it adds per call (header serialisation, key and
algorithm look-ups) is done once per key here. Verification is jwcrypto's
(:mod:`gatekey.issuer.jose`); the tests also check the tokens with PyJWT, a
library the issuer does not use.
"""

import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
"""hashlib's function per hash size: HMAC keys, and the ECDSA digests."""
_HMAC = {f"HS{size}": digest for size, digest in _DIGESTS.items()}

Sign = Callable[[bytes], bytes]


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2); ``binascii`` straight, without the two
    Python calls ``base64.urlsafe_b64encode`` adds."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


class CompactSigner:
    """Signs JWT claims with one key: the header is encoded once, the signature function
    chosen once (RFC 7518 §3: ES* as raw R||S, RS* PKCS#1 v1.5, PS* PSS, HS* HMAC)."""

    def __init__(self, alg: str, key: Any, header: dict[str, str]) -> None:
        self._prefix = b64url(orjson.dumps({"alg": alg, **header})) + b"."
        self._sign = _signer(alg, key)

    def sign(self, claims: dict[str, Any]) -> str:
        # orjson: the claims' JSON in a tenth of json.dumps's time (docs/performance.md).
        signing_input = self._prefix + b64url(orjson.dumps(claims))
        return (signing_input + b"." + b64url(self._sign(signing_input))).decode()


def _signer(alg: str, key: Any) -> Sign:
    if alg in _HMAC:
        digest = _HMAC[alg]
        return lambda data: hmac.new(key, data, digest).digest()
    if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    hash_type = _HASHES[alg[2:]]
    if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        # The digest by hashlib, handed over as prehashed: cryptography's own hashing
        # builds a hash object per call, which cost about a tenth of the signature.
        digest = _DIGESTS[alg[2:]]
        scheme = ec.ECDSA(Prehashed(hash_type()))

        def es(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(digest(data).digest(), scheme))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return es
    if isinstance(key, rsa.RSAPrivateKey):
        if alg.startswith("RS"):
            return lambda data: key.sign(data, padding.PKCS1v15(), hash_type())
        pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=padding.PSS.DIGEST_LENGTH)
        return lambda data: key.sign(data, pss, hash_type())
    raise ValueError(f"key does not suit {alg}")
