"""Public keys a client proves itself with: ``private_key_jwt`` (RFC 7523 §2.2).

A JWK Set (RFC 7517 §5) written in the manifest, or kept in a Secret of the same
namespace that the manifest names (``render`` reads it and writes the keys into the
object the issuer serves from); never fetched from anywhere else. Only
public asymmetric signing keys (RFC 7518 §6.2 EC, §6.3 RSA; RFC 8037 OKP): a symmetric
``oct`` key or a private part (``d``, ``p``...) is a manifest error, as is a key the
JOSE library cannot load.
"""

from typing import Literal

from jwcrypto.common import JWException
from jwcrypto.jwk import JWK
from pydantic import Field, model_validator

from gatekey.operator.model.base import Spec
from gatekey.operator.model.common import Name

MAX_KEYS = 10
_KEY_MEMBERS = ("kty", "kid", "alg", "n", "e", "crv", "x", "y")
_B64URL = r"^[A-Za-z0-9_-]+$"
DEFAULT_JWKS_KEY = "jwks.json"
_ALGORITHMS = {
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "OKP": ("EdDSA", "Ed25519", "Ed448"),
}
"""RFC 7518 §3.1, RFC 8037 §3.1: the algorithms a key of each type can verify."""


class Jwk(Spec):
    """One public key (RFC 7517 §4); members outside this list are refused."""

    kty: Literal["RSA", "EC", "OKP"] = Field(description="Key type: RSA, EC or OKP.")
    kid: str | None = Field(default=None, max_length=256, description="Key id.")
    use: Literal["sig"] | None = None
    alg: str | None = Field(default=None, max_length=16)
    n: str | None = Field(default=None, max_length=2048, pattern=_B64URL)
    e: str | None = Field(default=None, max_length=16, pattern=_B64URL)
    crv: Literal["P-256", "P-384", "P-521", "Ed25519", "Ed448"] | None = None
    x: str | None = Field(default=None, max_length=128, pattern=_B64URL)
    y: str | None = Field(default=None, max_length=128, pattern=_B64URL)
    # Members that key exports carry; accepted, never used (the key is n/e or crv/x/y).
    key_ops: tuple[Literal["verify"], ...] | None = Field(
        default=None, max_length=1, alias="key_ops"
    )
    x5c: tuple[str, ...] | None = Field(default=None, max_length=4)
    x5t: str | None = Field(default=None, max_length=64)
    x5t_s256: str | None = Field(default=None, max_length=64, alias="x5t#S256")

    @model_validator(mode="after")
    def _loads(self) -> "Jwk":
        try:
            JWK(**self.as_dict()).get_op_key("verify")
        except (JWException, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a usable {self.kty} public key: {exc}") from None
        if self.alg is not None and self.alg not in _ALGORITHMS[self.kty]:
            raise ValueError(f"not a usable {self.kty} public key: alg {self.alg} does not fit")
        return self

    def as_dict(self) -> dict[str, str]:
        """The JWK's key members (what loads the key)."""
        members = self.model_dump(by_alias=True, exclude_none=True)
        return {k: v for k, v in members.items() if k in _KEY_MEMBERS}


class Jwks(Spec):
    """A JWK Set of the client's public keys (RFC 7517 §5)."""

    keys: tuple[Jwk, ...] = Field(min_length=1, max_length=MAX_KEYS)

    @model_validator(mode="after")
    def _unique_kids(self) -> "Jwks":
        kids = [k.kid for k in self.keys if k.kid is not None]
        if len(kids) != len(set(kids)):
            raise ValueError("keys must not share a kid")
        return self


class JwksSecretRef(Spec):
    """A Secret in the namespace of the manifest, and the key whose value is a JWK Set
    (JSON, RFC 7517 §5), as ``secretKeyRef`` in Kubernetes env vars."""

    name: Name = Field(description="The Secret's name (same namespace).")
    key: str = Field(
        default=DEFAULT_JWKS_KEY,
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="The key holding the JWK Set (default jwks.json).",
    )
