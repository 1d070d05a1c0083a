"""In-process cost of verifying an ES256 ``at+jwt``, as a multiple of a bare
``cryptography`` ECDSA verify measured in the same run (docs/performance.md,
"JOSE libraries").

Run: ``.venv/bin/python bench/jose_verify.py`` (pin it with ``taskset -c 1`` on a
shared machine). Compares PyJWT (the tests' verifier), jwcrypto's ``JWS`` object and
the issuer's path (:mod:`gatekey.issuer.jose`: header, parse, jwcrypto's per-algorithm
verifier). CPU time (``thread_time``), best of 7 rounds of 500. Nothing is asserted.
"""

import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS

from gatekey.issuer import jose
from gatekey.issuer.tokens.jws import CompactSigner

CLAIMS = {
    "iss": "https://issuer.example/credential/jwt",
    "sub": "billing",
    "client_id": "billing",
    "aud": ["payments"],
    "scope": "read write",
    "iat": 1,
    "exp": 2**31,
    "jti": "abc-1",
}


def best(call: Callable[[], object], rounds: int = 7, calls: int = 500) -> float:
    """Microseconds of CPU per call, the best round."""
    times = []
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(calls):
            call()
        times.append((time.thread_time() - start) / calls * 1e6)
    return min(times)


def main() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    token = CompactSigner("ES256", private, {"kid": "k", "typ": "at+jwt"}).sign(CLAIMS)
    key = JWK.from_pyca(public)
    compact = jose.parse(token)
    der = encode_dss_signature(
        int.from_bytes(compact.signature[:32], "big"), int.from_bytes(compact.signature[32:], "big")
    )

    def bare() -> None:
        public.verify(der, compact.signing_input, ec.ECDSA(hashes.SHA256()))

    def pyjwt() -> None:
        jwt.get_unverified_header(token)
        jwt.decode(
            token, public, algorithms=["ES256"], options={"verify_aud": False, "verify_exp": False}
        )

    def jwcrypto_jws() -> None:
        jws = JWS()
        jws.deserialize(token)
        jws.verify(key, alg="ES256")

    def issuer() -> None:
        jose.header(token)
        if not jose.verifies(jose.parse(token), "ES256", key):
            raise AssertionError("the token does not verify")

    ceiling = best(bare)
    for name, call in [
        ("cryptography ECDSA verify alone", bare),
        ("PyJWT get_unverified_header + decode", pyjwt),
        ("jwcrypto JWS.deserialize + verify", jwcrypto_jws),
        ("gatekey.issuer.jose header + parse + verifies", issuer),
    ]:
        cost = best(call)
        print(f"{name:48} {cost:7.0f} µs  x{cost / ceiling:.2f}")


if __name__ == "__main__":
    main()
